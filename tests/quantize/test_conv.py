"""Tests of abcref.quantize.conv: the quantized convolutions of BWN, BNN, DoReFa-Net and FP.

Each is the plain convolution of its quantized operands; straight-through
estimators against their written formulas; the differentiable paths (BWN's
alpha, the conv itself with quantization frozen) against central finite
differences in float64.
"""

import numpy as np
import pytest

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
)


def _away_from(rng, shape, low=1.2, high=3.0):
    """Random values with |v| in [low, high]: no sign flips, empty STE masks."""
    return rng.uniform(low, high, size=shape) * rng.choice([-1.0, 1.0], size=shape)


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
    for weights, activations in [("bwn", "fp"), ("sign", "sign"), ("dorefa", "dorefa")]:
        out, cache = quantized_conv2d_forward(
            x, W, weights=weights, activations=activations, padding=1
        )
        grads = quantized_conv2d_backward(np.ones_like(out), cache)
        assert out.dtype == grads["x"].dtype == grads["W"].dtype == dtype


def test_conv_bad_inputs():
    x, W = np.zeros((1, 3, 5, 5)), np.ones((2, 3, 3, 3))
    q = quantized_conv2d_forward
    with pytest.raises(ValueError, match=r"W must be 4-dimensional, got shape \(2, 3\)"):
        q(x, np.ones((2, 3)), weights="bwn", activations="fp")
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
    x2 = np.ones((2, 3, 5, 5))
    _, cache = quantized_conv2d_forward(x2, W, weights="bwn", activations="sign")
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 2, 3, 3\)"):
        quantized_conv2d_backward(np.ones((1, 2, 3, 3)), cache)
