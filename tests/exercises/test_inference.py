"""Checkers of tutorial 6: any right answer accepted, typical wrong ones rejected with a hint."""

import inspect
import runpy
from pathlib import Path

import numpy as np
import pytest

from abcref.exercises import inference

SOLUTIONS = runpy.run_path(
    str(Path(__file__).parents[2] / "tutorials" / "solutions" / "06_inference_with_bits.py")
)


# -- fold_threshold --------------------------------------------------------------------


def fold(*, flip=True, constant=True, tie_strict=False, nan_for_zero=False, numerator="t - b"):
    def answer(a, b, t):
        safe = np.where(a == 0, 1.0, a)
        q = (t - b) / safe if numerator == "t - b" else (b - t) / safe
        if tie_strict:  # R > q written as R >= nextafter(q, +inf), and R < q likewise
            q = np.where(a > 0, np.nextafter(q, np.inf), np.nextafter(q, -np.inf))
        const = (
            np.where(b >= t, -np.inf, np.inf) if constant else np.where(b >= t, np.inf, -np.inf)
        )
        threshold = np.where(a == 0, np.nan if nan_for_zero else const, q)
        direction = np.where(a < 0, -1, 1) if flip else np.ones_like(a)
        return threshold, direction

    return answer


def fold_direction_per_zero(a, b, t):
    """Another correct form: for a = 0 use direction -1 and R <= +inf / R <= -inf."""
    with np.errstate(divide="ignore", invalid="ignore"):
        q = (t - b) / a
    direction = np.where(a > 0, 1.0, -1.0)
    threshold = np.where(a == 0, np.where(b >= t, np.inf, -np.inf), q)
    return list(threshold), list(direction)


@pytest.mark.parametrize(
    "answer",
    [SOLUTIONS["fold_threshold"], fold(), fold_direction_per_zero],
    ids=["solution", "variant", "zero-as-minus"],
)
def test_fold_threshold_accepts_any_correct_answer(answer):
    assert inference.check_fold_threshold(answer)


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (fold(flip=False), "flips the inequality"),
        (fold(constant=False), "channels with a = 0"),
        (fold(tie_strict=True), "exactly on the boundary"),
        (fold(nan_for_zero=True), "with a = 0, BN(R) = b"),
        (fold(numerator="b - t"), "solve aR + b >= t for R"),
        (lambda a, b, t: (np.zeros_like(a), np.zeros_like(a)), "direction should be +1"),
        (lambda a, b, t: (b - t) / a, "return two arrays"),
        (lambda a, b, t: (np.zeros(3), np.ones(3)), "should have shape"),
    ],
    ids=["no-flip", "constant", "ties", "nan", "numerator", "direction-0", "one-array", "shape"],
)
def test_fold_threshold_rejects_typical_mistakes(answer, hint):
    with np.errstate(divide="ignore", invalid="ignore"):
        verdict = inference.check_fold_threshold(answer)
    assert not verdict
    assert hint in verdict.message


# -- combine_convolutions ---------------------------------------------------------------


def loops(dots, alphas, betas):
    out = 0.0
    for m, alpha in enumerate(alphas):
        for n, beta in enumerate(betas):
            out = out + alpha * beta * dots[m, n]
    return out


@pytest.mark.parametrize(
    "answer",
    [
        SOLUTIONS["combine_convolutions"],
        loops,
        lambda d, a, b: np.tensordot(np.outer(a, b), d, axes=([0, 1], [0, 1])),
    ],
    ids=["solution", "loops", "tensordot"],
)
def test_combine_accepts_any_correct_answer(answer):
    assert inference.check_combine_convolutions(answer)


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (lambda d, a, b: np.einsum("mnbohw,m->bohw", d, a), "by beta_n"),
        (lambda d, a, b: np.einsum("mnbohw,n->bohw", d, b), "by alpha_m"),
        (lambda d, a, b: d.sum(axis=(0, 1)), "ignores alpha and beta"),
        (lambda d, a, b: np.einsum("mmbohw,m,m->bohw", d, a, b), "all M x N pairs"),
        (lambda d, a, b: d.mean(axis=(0, 1)) * a.sum() * b.sum() / 2, "differs from eq. 12"),
        (lambda d, a, b: d[0, 0], "differs from eq. 12"),
    ],
    ids=["no-beta", "no-alpha", "no-scale", "diagonal", "other", "one-term"],
)
def test_combine_rejects_typical_mistakes(answer, hint):
    verdict = inference.check_combine_convolutions(answer)
    assert not verdict
    assert hint in verdict.message


# -- both ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "check", [inference.check_fold_threshold, inference.check_combine_convolutions]
)
def test_the_template_is_not_attempted_yet(check):
    verdict = check(lambda *args: None)
    assert not verdict
    assert verdict.message.startswith("not attempted yet")


def test_no_message_shows_the_solution():
    with np.errstate(divide="ignore", invalid="ignore"):
        verdicts = [
            inference.check_fold_threshold(fold(flip=False)),
            inference.check_fold_threshold(fold(constant=False)),
            inference.check_fold_threshold(fold(numerator="b - t")),
            inference.check_combine_convolutions(lambda d, a, b: d.sum(axis=(0, 1))),
            inference.check_fold_threshold(fold()),
            inference.check_combine_convolutions(loops),
        ]
    code = [
        line.strip()
        for name in ("fold_threshold", "combine_convolutions")
        for line in inspect.getsource(SOLUTIONS[name]).splitlines()[2:]
        if len(line.strip()) > 12  # a statement, not a lone bracket
    ]
    for verdict in verdicts:
        for line in code:
            assert line not in verdict.message
        assert "(t - b) / a" not in verdict.message
        assert "einsum" not in verdict.message
