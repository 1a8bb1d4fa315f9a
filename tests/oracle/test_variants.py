"""abcref.oracle.variants with every switch at its default computes what abcref computes.

That makes the variants module a second, independent implementation
(plain einsum convolutions, its own STE algebra) and guarantees that a
hint only fires for a real convention difference.
"""

import numpy as np
import pytest

from abcref.binarize import DEFAULT_RIDGE
from abcref.ops import conv2d_backward, conv2d_forward
from abcref.oracle import cases as oracle_cases
from abcref.oracle import variants
from abcref.oracle.export import compute_case
from abcref.oracle.functions import FUNCTIONS
from abcref.oracle.tolerance import within_tolerance


def test_default_ridge_matches_binarize():
    assert oracle_cases.DEFAULT_RIDGE == DEFAULT_RIDGE


@pytest.mark.parametrize("case", oracle_cases.all_cases(), ids=lambda c: c.name)
def test_variant_defaults_reproduce_every_case(case):
    entry, arrays = compute_case(case)
    inputs = {k: arrays[k] for k in entry["inputs"]}
    alt = FUNCTIONS[case.function].variant(inputs, dict(case.kwargs), {})
    for key, spec in entry["outputs"].items():
        assert alt[key].shape == arrays[key].shape, key
        ok = within_tolerance(arrays[key], np.asarray(alt[key]), spec["atol"], spec["rtol"])
        assert ok.all(), (case.name, key)


@pytest.mark.parametrize(
    ("stride", "padding", "pad_value"),
    [(1, 0, 0.0), (2, 1, 0.0), ((2, 1), (1, 2), 1.0), (1, 2, -1.0)],
)
def test_variant_conv_matches_ops(stride, padding, pad_value):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 5))
    w = rng.standard_normal((4, 3, 3, 2))
    out, cache = conv2d_forward(x, w, stride=stride, padding=padding, pad_value=pad_value)
    np.testing.assert_allclose(
        variants.conv2d(x, w, stride=stride, padding=padding, pad_value=pad_value),
        out,
        rtol=1e-12,
        atol=1e-12,
    )
    dout = rng.standard_normal(out.shape)
    dx, dw, _ = conv2d_backward(dout, cache)
    vdx, vdw = variants.conv2d_grads(
        dout, x, w, stride=stride, padding=padding, pad_value=pad_value
    )
    np.testing.assert_allclose(vdx, dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(vdw, dw, rtol=1e-12, atol=1e-12)


def test_case_inputs_make_conventions_visible():
    rng = np.random.default_rng(3)
    W = oracle_cases.ddof_sensitive_weights(rng, (4, 2, 3, 3), 3)
    assert (variants.weight_bases(W, 3, ddof=0) != variants.weight_bases(W, 3, ddof=1)).any()
    W = oracle_cases.symmetric_dyadic_weights(rng, (4, 2, 3, 3), per_channel=True)
    assert (W.reshape(4, -1).mean(axis=1) == 0).all()
    assert (variants.weight_bases(W, 3, per_channel=True, sign_of_zero=0) == 0).any()
    t = oracle_cases.threshold_values([0.25], np.float32)
    assert t[1] == np.float32(0.25) and t[0] < t[1] < t[2]
    assert np.nextafter(t[0], np.float32(1)) == t[1]
