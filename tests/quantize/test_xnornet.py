"""XNOR-Net convolution and the quantized convolutions of BWN, BNN, DoReFa-Net.

Hand-computed forward values; the fast path against the looped reference over
random shapes, strides and paddings; straight-through estimators against their
written formulas; the differentiable paths (alpha, the input scale K, the conv
itself with quantization frozen) against central finite differences in float64.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abcref.gradcheck import numerical_gradient, relative_error
from abcref.ops import conv2d_backward, conv2d_forward, conv2d_naive
from abcref.quantize import (
    bwn_weights_forward,
    dorefa_activations_forward,
    dorefa_weights_forward,
    quantized_conv2d_backward,
    quantized_conv2d_forward,
    sign_activations_forward,
    sign_weights_forward,
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


# -- quantized conv (BWN, BNN, DoReFa, FP) -----------------------------------------
def test_full_precision_kind_is_the_plain_conv():
    rng = np.random.default_rng(3)
    x, W = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    out, cache = quantized_conv2d_forward(x, W, weights="fp", activations="fp", padding=1)
    np.testing.assert_allclose(out, conv2d_forward(x, W, padding=1)[0], rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    grads = quantized_conv2d_backward(dout, cache)
    num_x = numerical_gradient(
        lambda v: quantized_conv2d_forward(v, W, weights="fp", activations="fp", padding=1)[0],
        x,
        dout,
    )
    assert relative_error(grads["x"], num_x) < 1e-8


QUANTIZER_CASES = [
    ("bwn", "fp", {}, lambda W: bwn_weights_forward(W)[0], lambda x: x),
    (
        "sign",
        "sign",
        {},
        lambda W: sign_weights_forward(W)[0],
        lambda x: sign_activations_forward(x)[0],
    ),
    (
        "dorefa",
        "dorefa",
        {"bits": 4},
        lambda W: dorefa_weights_forward(W)[0],
        lambda x: dorefa_activations_forward(x, bits=4)[0],
    ),
    (
        "dorefa",
        "dorefa",
        {"bits": 2, "weight_bits": 3},
        lambda W: dorefa_weights_forward(W, bits=3)[0],
        lambda x: dorefa_activations_forward(x, bits=2)[0],
    ),
    ("fp", "dorefa", {"bits": 3}, lambda W: W, lambda x: dorefa_activations_forward(x, bits=3)[0]),
]


@pytest.mark.parametrize("weights, activations, options, q_w, q_a", QUANTIZER_CASES)
def test_quantized_conv_is_conv_of_quantized_operands(weights, activations, options, q_w, q_a):
    rng = np.random.default_rng(4)
    x, W = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    out, _ = quantized_conv2d_forward(
        x, W, weights=weights, activations=activations, stride=2, padding=1, **options
    )
    expected = conv2d_naive(q_a(x), q_w(W), stride=2, padding=1)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_bwn_conv_gradients_finite_differences():
    # FP activations: exact in x; |W| > 1 with the "exact" rule: exact in W.
    rng = np.random.default_rng(5)
    x, W = rng.standard_normal((2, 3, 5, 5)), _away_from(rng, (4, 3, 3, 3))
    kwargs = {"weights": "bwn", "activations": "fp", "padding": 1, "weight_ste": "exact"}
    out, cache = quantized_conv2d_forward(x, W, **kwargs)
    dout = rng.standard_normal(out.shape)
    grads = quantized_conv2d_backward(dout, cache)
    num_x = numerical_gradient(lambda v: quantized_conv2d_forward(v, W, **kwargs)[0], x, dout)
    num_W = numerical_gradient(lambda w: quantized_conv2d_forward(x, w, **kwargs)[0], W, dout)
    assert relative_error(grads["x"], num_x) < 1e-8
    assert relative_error(grads["W"], num_W) < 1e-8


@pytest.mark.parametrize(
    "weights, activations, options, in_mask",
    [
        ("sign", "sign", {}, lambda x: np.abs(x) <= 1),
        ("sign", "sign", {"weight_ste": "clipped"}, lambda x: np.abs(x) <= 1),
        ("dorefa", "dorefa", {"bits": 4}, lambda x: (x >= 0) & (x <= 1)),
        ("bwn", "dorefa", {"bits": 2, "weight_ste": "identity"}, lambda x: (x >= 0) & (x <= 1)),
    ],
)
def test_quantized_conv_ste_written_formula(weights, activations, options, in_mask):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 5, 5))
    x.flat[:4] = [1.0, -1.0, 0.0, 0.5]  # boundaries of both masks
    W = 1.5 * rng.standard_normal((4, 3, 3, 3))
    kwargs = {"weights": weights, "activations": activations, "padding": 1, **options}
    out, cache = quantized_conv2d_forward(x, W, **kwargs)
    dout = rng.standard_normal(out.shape)
    grads = quantized_conv2d_backward(dout, cache)
    x_q = {"sign": lambda v: sign_activations_forward(v)[0]}.get(
        activations, lambda v: dorefa_activations_forward(v, bits=options["bits"])[0]
    )(x)
    W_q = {
        "sign": sign_weights_forward(W)[0],
        "dorefa": dorefa_weights_forward(W)[0],
        "bwn": bwn_weights_forward(W)[0],
    }[weights]
    dx_q, dW_q, _ = conv2d_backward(dout, conv2d_forward(x_q, W_q, padding=1)[1])
    np.testing.assert_allclose(grads["x"], dx_q * in_mask(x), rtol=1e-12, atol=1e-14)
    w_mask = np.abs(W) <= 1 if options.get("weight_ste") == "clipped" else 1.0
    np.testing.assert_allclose(grads["W"], dW_q * w_mask, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_dtype_preserved(dtype):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 5, 5)).astype(dtype)
    W = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    out, cache = xnornet_conv2d_forward(x, W, padding=1)
    grads = xnornet_conv2d_backward(np.ones_like(out), cache)
    assert out.dtype == grads["x"].dtype == grads["W"].dtype == dtype
    for weights, activations in [("bwn", "fp"), ("sign", "sign"), ("dorefa", "dorefa")]:
        out, cache = quantized_conv2d_forward(
            x, W, weights=weights, activations=activations, padding=1
        )
        grads = quantized_conv2d_backward(np.ones_like(out), cache)
        assert out.dtype == grads["x"].dtype == grads["W"].dtype == dtype


def test_conv_bad_inputs():
    x, W = np.zeros((1, 3, 5, 5)), np.ones((2, 3, 3, 3))
    q = quantized_conv2d_forward
    with pytest.raises(ValueError, match="W has 2 input channels"):
        xnornet_conv2d_forward(x, np.ones((2, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"W must be 4-dimensional, got shape \(2, 3\)"):
        q(x, np.ones((2, 3)), weights="bwn", activations="fp")
    with pytest.raises(TypeError, match="arrays must share one dtype"):
        xnornet_conv2d_forward(x.astype(np.float32), W)
    with pytest.raises(ValueError, match="x must be finite"):
        xnornet_conv2d_forward(np.full((1, 3, 5, 5), np.nan), W)
    with pytest.raises(ValueError, match="kernel"):
        xnornet_conv2d_forward(np.zeros((1, 3, 2, 2)), W)
    with pytest.raises(ValueError, match="weights must be one of"):
        q(x, W, weights="xnor", activations="fp")
    with pytest.raises(ValueError, match="activations must be one of"):
        q(x, W, weights="fp", activations="relu")
    with pytest.raises(ValueError, match="bits applies to activations='dorefa' only"):
        q(x, W, weights="sign", activations="sign", bits=3)
    with pytest.raises(ValueError, match="weight_bits applies to weights='dorefa' only"):
        q(x, W, weights="bwn", activations="dorefa", weight_bits=2)
    with pytest.raises(ValueError, match="weight_ste applies to weights='bwn' or 'sign' only"):
        q(x, W, weights="dorefa", activations="dorefa", weight_ste="paper")
    with pytest.raises(ValueError, match="weight_ste must be one of"):
        q(x, W, weights="sign", activations="sign", weight_ste="exact")
    with pytest.raises(ValueError, match="bits must be >= 1, got 0"):
        q(x, W, weights="fp", activations="dorefa", bits=0)
    with pytest.raises(TypeError, match="weight_bits must be an integer"):
        q(x, W, weights="dorefa", activations="dorefa", weight_bits=1.0)
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
    _, cache = quantized_conv2d_forward(x2, W, weights="bwn", activations="sign")
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 2, 3, 3\)"):
        quantized_conv2d_backward(np.ones((1, 2, 3, 3)), cache)
