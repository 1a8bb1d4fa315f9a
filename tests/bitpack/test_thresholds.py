"""Tests of abcref.bitpack.thresholds: comparators and the section 5.3 folds."""

import numpy as np
import pytest

from abcref.bitpack.thresholds import fold_batchnorm, fold_batchnorm_exact, plain_comparator
from tests._bitpack_helpers import values_around


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sign", ["positive", "negative", "zero", "mixed"])
def test_fold_batchnorm_matches_reference_predicate_exactly(dtype, sign):
    rng = np.random.default_rng({"positive": 0, "negative": 1, "zero": 2, "mixed": 3}[sign])
    channels, n_act = 40, 3
    a = rng.uniform(0.05, 3.0, channels) * rng.choice([1e-3, 1.0, 1e3], channels)
    a = {
        "positive": a,
        "negative": -a,
        "zero": 0 * a,
        "mixed": a * rng.choice([-1, 0, 1], channels),
    }[sign].astype(dtype)
    b = rng.normal(size=channels).astype(dtype)
    v = rng.normal(size=n_act).astype(dtype)
    comparator = fold_batchnorm_exact(a, b, v)
    np.testing.assert_array_equal(comparator.direction, np.sign(a).astype(np.int8))
    t = 0.5 - v
    probe = np.concatenate(
        [
            values_around(comparator.thresholds.reshape(-1, channels), dtype),
            rng.normal(scale=5.0, size=(50, channels)).astype(dtype),
            ((t[:, None] - b[None]) / np.where(a == 0, 1, a)[None]).astype(dtype),  # paper's R*
        ]
    )
    x = probe[:, :, None, None]  # (batch, C, 1, 1)
    bits = comparator.bits(x)
    reference = np.stack(
        [a[None, :, None, None] * x + b[None, :, None, None] >= t[n] for n in range(n_act)]
    )
    np.testing.assert_array_equal(bits, reference)
    if sign == "zero":  # constant output: +1 iff b >= 0.5 - v
        np.testing.assert_array_equal(bits[:, 0, :, 0, 0], b[None, :] >= t[:, None])


def test_fold_flips_comparison_for_negative_scale():
    a, b, v = np.array([-2.0]), np.array([0.0]), np.array([0.5])  # H = +1 iff -2R >= 0
    comparator = fold_batchnorm_exact(a, b, v)
    x = np.array([-1.0, 0.0, 1e-300, 1.0]).reshape(4, 1, 1, 1)
    np.testing.assert_array_equal(comparator.bits(x)[0, :, 0, 0, 0], [True, True, False, False])


def test_exact_threshold_differs_from_rounded_quotient_somewhere():
    # Why the bisection: the paper's quotient, rounded, misclassifies some ties.
    rng = np.random.default_rng(5)
    a = rng.uniform(0.1, 10, 2000).astype(np.float32)
    b = rng.normal(size=2000).astype(np.float32)
    v = np.array([0.1], dtype=np.float32)
    t = np.float32(0.5) - v
    quotient = fold_batchnorm(a, b, v).thresholds[0]
    exact = fold_batchnorm_exact(a, b, v).thresholds[0]
    assert np.any(quotient != exact)
    at_quotient = a * quotient + b >= t  # the float model's answer at R = quotient
    np.testing.assert_array_equal(quotient >= exact, at_quotient)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fold_batchnorm_is_the_papers_formula_with_the_sign_of_a(dtype):
    a = np.array([2.0, -0.5, 0.0, 0.0], dtype=dtype)
    b = np.array([0.3, 0.2, 0.7, 0.1], dtype=dtype)
    v = np.array([0.1, 0.4], dtype=dtype)
    folded = fold_batchnorm(a, b, v)
    t = dtype(0.5) - v
    np.testing.assert_array_equal(folded.direction, [1, -1, 0, 0])
    np.testing.assert_array_equal(folded.thresholds[:, :2], (t[:, None] - b[:2]) / a[:2])
    # a = 0: BN(R) = b, so H_v is +1 iff b >= 0.5 - v: b = 0.7 for both shifts,
    # b = 0.1 only for v = 0.4 (t = 0.1: a tie, which goes to +1)
    np.testing.assert_array_equal(folded.constant, [[0, 0, 1, 0], [0, 0, 1, 1]])
    R = np.array([-3.0, -1.0, 0.0, 0.5, 1.0, 3.0], dtype=dtype).reshape(6, 1, 1, 1)
    x = np.broadcast_to(R, (6, 4, 1, 1))
    expected = np.stack([a[None, :, None, None] * x + b[None, :, None, None] >= tn for tn in t])
    np.testing.assert_array_equal(folded.bits(x), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_paper_fold_and_exact_fold_agree_except_within_ulps_of_the_threshold(dtype):
    rng = np.random.default_rng(11)
    channels = 300
    a = (rng.uniform(0.05, 3.0, channels) * rng.choice([-1, 0, 1], channels)).astype(dtype)
    b = rng.normal(size=channels).astype(dtype)
    v = rng.normal(size=3).astype(dtype)
    paper, exact = fold_batchnorm(a, b, v), fold_batchnorm_exact(a, b, v)
    np.testing.assert_array_equal(paper.direction, exact.direction)
    np.testing.assert_array_equal(paper.constant, exact.constant)
    # fl(a R + b) moves in steps of ulp(b) near the boundary, so R* is only
    # determined to about (ulp(t) + ulp(b)) / |a|, plus the quotient's own ulp.
    t = (dtype(0.5) - v)[:, None]
    width = (np.spacing(np.abs(t)) + np.spacing(np.abs(b))) / np.abs(np.where(a == 0, 1, a))
    width = 4 * (width + np.spacing(np.abs(exact.thresholds)))
    moving = np.broadcast_to(a != 0, exact.thresholds.shape)
    gap = np.abs(paper.thresholds - exact.thresholds)
    assert (gap[moving] <= width[moving]).all()
    # Away from that width both comparators give the float model's answer.
    R = rng.normal(scale=3.0, size=(200, channels)).astype(dtype)
    x = R[:, :, None, None]
    near = np.abs(R[None] - exact.thresholds[:, None]) <= 2 * width[:, None]  # (N, batch, C)
    agree = (paper.bits(x) == exact.bits(x))[..., 0, 0]
    assert agree[~near].all()
    assert (~near).mean() > 0.99  # the comparison covers almost every value


# -- a channel count that would broadcast is an error --------------------------
def test_comparator_rejects_a_channel_count_that_would_broadcast():
    comparator = plain_comparator(np.array([0.5]), 3)
    with pytest.raises(ValueError, match="x has 1 channels, the comparator 3"):
        comparator.bits(np.zeros((2, 1, 4, 4)))  # gave (1, 2, 3, 4, 4) bits
    with pytest.raises(ValueError, match="x must be 4-dimensional"):
        comparator.bits(np.zeros((2, 3, 4)))


def test_fold_batchnorm_exact_bad_arguments():
    with pytest.raises(TypeError, match="a must have dtype float32 or float64"):
        fold_batchnorm_exact(np.ones(2, dtype=int), np.ones(2), np.ones(1))
    with pytest.raises(TypeError, match="arrays must share one dtype"):
        fold_batchnorm_exact(np.ones(2), np.ones(2, np.float32), np.ones(1))
