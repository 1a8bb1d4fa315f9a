"""Tests of abcref.oracle.variants: at its defaults it computes what abcref computes.

That makes the variants module a second, independent implementation
(plain einsum convolutions, its own STE algebra) and guarantees that a
hint only fires for a real convention difference.
"""

import numpy as np
import pytest

from abcref.ops import conv2d_backward, conv2d_forward
from abcref.oracle import cases as oracle_cases
from abcref.oracle import variants
from abcref.oracle.export import compute_case
from abcref.oracle.functions import FUNCTIONS
from abcref.oracle.tolerance import within_tolerance


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
