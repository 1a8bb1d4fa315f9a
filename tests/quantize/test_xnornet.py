"""Tests of abcref.quantize.xnornet: the XNOR-Net convolution and its input scale K.

Hand-computed forward values; the fast path against the looped reference over
random shapes, strides and paddings; the straight-through estimator against its
written formula; the differentiable paths (alpha, the input scale K, the conv
itself with quantization frozen) against central finite differences in float64.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abcref.gradcheck import numerical_gradient, relative_error
from abcref.ops import conv2d_backward, conv2d_forward
from abcref.quantize import (
    bwn_weights_forward,
    xnornet_conv2d_backward,
    xnornet_conv2d_forward,
    xnornet_conv2d_naive,
    xnornet_input_scale_backward,
    xnornet_input_scale_forward,
    xnornet_input_scale_naive,
)

X_HAND = np.array([[[[1.0, -2.0, 0.5], [-1.0, 3.0, -0.5], [2.0, 0.0, -4.0]]]])
W_HAND = np.array([[[[0.5, -1.0], [-0.25, 0.25]]]])


def _away_from(rng, shape, low=1.2, high=3.0):
    """Random values with |v| in [low, high]: no sign flips, empty STE masks."""
    return rng.uniform(low, high, size=shape) * rng.choice([-1.0, 1.0], size=shape)


# -- XNOR-Net forward ------------------------------------------------------------------
def test_xnornet_forward_hand_computed():
    # |x| windows: K = [[7/4, 6/4], [6/4, 7.5/4]]; alpha = (.5+1+.25+.25)/4 = .5
    # sign(x) (0 -> +1) correlated with sign(W) = [[1,-1],[-1,1]]: [[4, -4], [-2, 0]]
    K, _ = xnornet_input_scale_forward(X_HAND, 2)
    np.testing.assert_allclose(K, [[[[1.75, 1.5], [1.5, 1.875]]]], rtol=1e-15)
    out, _ = xnornet_conv2d_forward(X_HAND, W_HAND)
    np.testing.assert_allclose(out, [[[[3.5, -3.0], [-1.5, 0.0]]]], rtol=1e-15)
    out, _ = xnornet_conv2d_forward(X_HAND, W_HAND, scale_input=False)
    np.testing.assert_allclose(out, [[[[2.0, -2.0], [-1.0, 0.0]]]], rtol=1e-15)
    # sign(0) = -1 flips x[2, 1]: window (1, 0) -> -1 -1 -1 -1 = -4, (1, 1) -> 1 +1 +1 -1 = 2
    out, _ = xnornet_conv2d_forward(X_HAND, W_HAND, scale_input=False, zero_sign=-1)
    np.testing.assert_allclose(out, [[[[2.0, -2.0], [-2.0, 1.0]]]], rtol=1e-15)


def test_xnornet_input_scale_counts_padding_as_zero():
    x = np.full((1, 2, 2, 2), 2.0)
    K, _ = xnornet_input_scale_forward(x, 3, padding=1)
    # every 3x3 window sees the 4 real pixels (|x| = 2) and 5 padded zeros
    np.testing.assert_allclose(K, np.full((1, 1, 2, 2), 8.0 / 9.0), rtol=1e-15)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 2),
    c=st.integers(1, 3),
    o=st.integers(1, 3),
    hw=st.integers(3, 7),
    k=st.integers(1, 3),
    stride=st.integers(1, 2),
    padding=st.integers(0, 2),
    scale_input=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_xnornet_fast_matches_naive(n, c, o, hw, k, stride, padding, scale_input, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, hw, hw))
    x[rng.random(x.shape) < 0.1] = 0.0  # exact zeros exercise sign(0)
    W = rng.standard_normal((o, c, k, k))
    for zero_sign in (1, -1):
        kwargs = {"stride": stride, "padding": padding, "zero_sign": zero_sign}
        fast, _ = xnornet_conv2d_forward(x, W, scale_input=scale_input, **kwargs)
        naive = xnornet_conv2d_naive(x, W, scale_input=scale_input, **kwargs)
        np.testing.assert_allclose(fast, naive, rtol=1e-12, atol=1e-12)
    K, _ = xnornet_input_scale_forward(x, k, stride=stride, padding=padding)
    np.testing.assert_allclose(
        K, xnornet_input_scale_naive(x, k, stride=stride, padding=padding), rtol=1e-12
    )


# -- XNOR-Net backward ---------------------------------------------------------------------
def test_xnornet_backward_ste_hand_computed():
    # Without K: d sign(x) = full correlation of dout = 1 with W~ = .5 [[1,-1],[-1,1]]
    # = [[.5, 0, -.5], [0, 0, 0], [-.5, 0, .5]], masked by |x| <= 1 (x[0,0] = 1 inside).
    dout = np.ones((1, 1, 2, 2))
    _, cache = xnornet_conv2d_forward(X_HAND, W_HAND, scale_input=False, weight_ste="identity")
    grads = xnornet_conv2d_backward(dout, cache)
    np.testing.assert_allclose(grads["x"], [[[[0.5, 0, -0.5], [0, 0, 0], [0, 0, 0]]]], atol=1e-15)
    # dW~[i, j] = sum of sign(x) over the window shifted by (i, j): [[0, 0], [2, 0]]
    np.testing.assert_allclose(grads["W"], [[[[0, 0], [2, 0]]]], atol=1e-15)
    _, cache = xnornet_conv2d_forward(X_HAND, W_HAND, scale_input=False, weight_ste="paper")
    # (1/n + alpha 1[|W| <= 1]) g = (.25 + .5) g, |W| = 1 counts as inside
    np.testing.assert_allclose(
        xnornet_conv2d_backward(dout, cache)["W"], [[[[0, 0], [1.5, 0]]]], atol=1e-15
    )


def test_xnornet_input_scale_gradient_finite_differences():
    rng = np.random.default_rng(0)
    x = _away_from(rng, (2, 3, 5, 5), 0.1, 2.0)
    dK = rng.standard_normal((2, 1, 3, 3))
    _, cache = xnornet_input_scale_forward(x, 3, stride=2, padding=1)
    num = numerical_gradient(
        lambda v: xnornet_input_scale_forward(v, 3, stride=2, padding=1)[0], x, dK
    )
    assert relative_error(xnornet_input_scale_backward(dK, cache), num) < 1e-8


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (1, 2)])
def test_xnornet_gradient_through_K_and_alpha_finite_differences(stride, padding):
    # |x| > 1 and |W| > 1: the sign STEs contribute nothing and no sign flips
    # under perturbation, so the backward is the true derivative of the
    # conv with its quantization frozen (the K path for x, alpha for W).
    rng = np.random.default_rng(1)
    x = _away_from(rng, (2, 3, 5, 5))
    W = _away_from(rng, (4, 3, 3, 3))
    kwargs = {"stride": stride, "padding": padding, "weight_ste": "exact"}
    out, cache = xnornet_conv2d_forward(x, W, **kwargs)
    dout = rng.standard_normal(out.shape)
    grads = xnornet_conv2d_backward(dout, cache)
    num_x = numerical_gradient(lambda v: xnornet_conv2d_forward(v, W, **kwargs)[0], x, dout)
    num_W = numerical_gradient(lambda w: xnornet_conv2d_forward(x, w, **kwargs)[0], W, dout)
    assert relative_error(grads["x"], num_x) < 1e-7
    assert relative_error(grads["W"], num_W) < 1e-7
    # K as a constant: with every |x| > 1 nothing reaches x
    _, cache = xnornet_conv2d_forward(x, W, scale_grad=False, **kwargs)
    np.testing.assert_array_equal(xnornet_conv2d_backward(dout, cache)["x"], 0.0)


def test_xnornet_backward_is_ste_plus_K_path():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 6, 6))
    W = rng.standard_normal((4, 3, 3, 3))
    kwargs = {"stride": 1, "padding": 1}
    out, cache = xnornet_conv2d_forward(x, W, **kwargs)
    dout = rng.standard_normal(out.shape)
    dx = xnornet_conv2d_backward(dout, cache)["x"]
    # written formula, piece by piece with the ops it is made of
    W_q, _ = bwn_weights_forward(W)
    x_b = np.where(x >= 0, 1.0, -1.0)
    binary, conv_cache = conv2d_forward(x_b, W_q, **kwargs)
    K, k_cache = xnornet_input_scale_forward(x, 3, **kwargs)
    ste = conv2d_backward(dout * K, conv_cache)[0] * (np.abs(x) <= 1)
    k_path = xnornet_input_scale_backward((dout * binary).sum(axis=1, keepdims=True), k_cache)
    np.testing.assert_allclose(dx, ste + k_path, rtol=1e-12, atol=1e-14)
    _, cache = xnornet_conv2d_forward(x, W, scale_grad=False, **kwargs)
    np.testing.assert_allclose(
        xnornet_conv2d_backward(dout, cache)["x"], ste, rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_dtype_preserved(dtype):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 5, 5)).astype(dtype)
    W = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    out, cache = xnornet_conv2d_forward(x, W, padding=1)
    grads = xnornet_conv2d_backward(np.ones_like(out), cache)
    assert out.dtype == grads["x"].dtype == grads["W"].dtype == dtype


def test_conv_bad_inputs():
    x, W = np.zeros((1, 3, 5, 5)), np.ones((2, 3, 3, 3))
    with pytest.raises(ValueError, match="W has 2 input channels"):
        xnornet_conv2d_forward(x, np.ones((2, 2, 3, 3)))
    with pytest.raises(TypeError, match="arrays must share one dtype"):
        xnornet_conv2d_forward(x.astype(np.float32), W)
    with pytest.raises(ValueError, match="x must be finite"):
        xnornet_conv2d_forward(np.full((1, 3, 5, 5), np.nan), W)
    with pytest.raises(ValueError, match="kernel"):
        xnornet_conv2d_forward(np.zeros((1, 3, 2, 2)), W)
    with pytest.raises(TypeError, match="scale_grad must be a bool"):
        xnornet_conv2d_forward(x, W, scale_grad="yes")
    with pytest.raises(ValueError, match="stride must be >= 1"):
        xnornet_conv2d_forward(x, W, stride=0)
    x2 = np.ones((2, 3, 5, 5))
    out, cache = xnornet_conv2d_forward(x2, W)
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 2, 3, 3\)"):
        xnornet_conv2d_backward(np.ones((1, 2, 3, 3)), cache)  # would broadcast against K
    with pytest.raises(TypeError, match="dout must have dtype float64"):
        xnornet_conv2d_backward(out.astype(np.float32), cache)
    _, cache = xnornet_input_scale_forward(x2, 3)
    with pytest.raises(ValueError, match=r"dK must have shape \(2, 1, 3, 3\)"):
        xnornet_input_scale_backward(np.ones((2, 2, 3, 3)), cache)
