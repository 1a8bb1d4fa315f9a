"""Tests of abcref.fast.activations: the fused eq. (11) loops against the reference sum.

The forward is bitwise the reference (same terms, same order); the backward
sums in a different order, so it agrees to float64 rounding: every gradient
within 1e-10 relative to its largest magnitude.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from abcref import binarize
from abcref.fast import activations as fast_activations

BOUND = 1e-10


def assert_close(got, want, name):
    scale = max(float(np.max(np.abs(want), initial=0.0)), 1.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=BOUND * scale, err_msg=name)


def test_fast_activation_sum_forward_is_bitwise_the_reference():
    # 1[R >= t] * 2 beta - beta is exactly beta * A_n, summed in the same order.
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        R = rng.normal(size=(3, 4, 5, 5)).astype(dtype)
        v = rng.uniform(-0.5, 1.5, size=4).astype(dtype)
        beta = rng.uniform(-0.5, 1.0, size=4).astype(dtype)
        fast_out, _ = fast_activations.approximate_activations_forward(R, v, beta)
        ref_out, _ = binarize.approximate_activations_forward(R, v, beta)
        np.testing.assert_array_equal(fast_out, ref_out)


@settings(max_examples=30, deadline=None)
@given(N=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_fast_activation_sum_backward_equals_the_reference(N, seed):
    rng = np.random.default_rng(seed)
    R = rng.normal(size=(2, 3, 4, 4))
    v = rng.uniform(-0.5, 1.5, size=N)
    beta = rng.uniform(-0.5, 1.0, size=N)
    dout = rng.normal(size=R.shape)
    _, fast_cache = fast_activations.approximate_activations_forward(R, v, beta)
    _, ref_cache = binarize.approximate_activations_forward(R, v, beta)
    got = fast_activations.approximate_activations_backward(dout, fast_cache)
    want = binarize.approximate_activations_backward(dout, ref_cache)
    for name, g, w in zip(("dR", "dv", "dbeta"), got, want, strict=True):
        assert_close(g, w, name)
