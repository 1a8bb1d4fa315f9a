"""Tests of abcref.nn.abcconv: the ABCConv2d layer equals its op, initialises and checks."""

import numpy as np
import pytest

from abcref import ops
from abcref.binarize import (
    approximate_weights,
    default_activation_params,
)
from abcref.fast.abcconv import abc_conv2d_backward, abc_conv2d_forward
from abcref.gradcheck import check_gradient, numerical_gradient
from abcref.nn.abcconv import ABCConv2d


@pytest.mark.parametrize("train_shifts", [False, True])
@pytest.mark.parametrize("per_channel", [False, True])
def test_layer_gradients_equal_op_gradients_and_accumulate(train_shifts, per_channel):
    rng = np.random.default_rng(0)
    layer = ABCConv2d(
        3,
        4,
        3,
        M=3,
        N=2,
        padding=1,
        stride=2,
        per_channel=per_channel,
        train_shifts=train_shifts,
        pad_value=-1.0,
        rng=rng,
        dtype=np.float64,
    )
    x = rng.normal(size=(2, 3, 7, 7))
    out = layer.forward(x)
    dout = rng.normal(size=out.shape)
    dx = layer.backward(dout)
    kw = dict(
        M=3,
        stride=(2, 2),
        padding=(1, 1),
        per_channel=per_channel,
        pad_value=-1.0,
        shifts=layer.shifts,
        train_shifts=train_shifts,
    )
    p = layer.params
    ref_out, cache = abc_conv2d_forward(x, p["weight"], p["v"], p["beta"], **kw)
    ref = abc_conv2d_backward(dout, cache)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(dx, ref["R"])
    op_names = {"weight": "W", "v": "v", "beta": "beta"} | ({"u": "u"} if train_shifts else {})
    assert set(layer.params) == set(op_names)
    for name, op_name in op_names.items():
        np.testing.assert_array_equal(layer.grads[name], ref[op_name])
    layer.forward(x)
    layer.backward(dout)
    for name, op_name in op_names.items():
        np.testing.assert_allclose(layer.grads[name], 2 * ref[op_name])
    with pytest.raises(RuntimeError, match="ABCConv2d.backward called before forward"):
        layer.backward(dout)  # the cache is consumed: one backward per forward


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_keeps_dtype(dtype):
    layer = ABCConv2d(2, 3, (3, 1), M=2, N=3, padding=(1, 0), dtype=dtype)
    x = np.random.default_rng(1).normal(size=(2, 2, 5, 5)).astype(dtype)
    out = layer.forward(x)
    dx = layer.backward(np.ones_like(out))
    assert out.dtype == dtype and dx.dtype == dtype and out.shape == (2, 3, 5, 5)
    assert all(p.dtype == dtype for p in layer.params.values())
    assert all(g.dtype == dtype for g in layer.grads.values())


@pytest.mark.parametrize("weight_ste", ["paper", "sum", "identity"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_weight_only_layer_values_and_gradients(weight_ste, per_channel):
    """N=None: eq. (6) by hand, dx by finite differences, dW by the written STE of eq. (7)."""
    rng = np.random.default_rng(2)
    layer = ABCConv2d(
        2,
        3,
        3,
        M=2,
        N=None,
        stride=2,
        padding=1,
        per_channel=per_channel,
        weight_ste=weight_ste,
        rng=rng,
        dtype=np.float64,
    )
    assert set(layer.params) == {"weight"}  # no v, beta: the input stays full precision
    x = rng.normal(size=(2, 2, 5, 5))
    out = layer.forward(x)
    dout = rng.normal(size=out.shape)
    dx = layer.backward(dout)
    B, alphas = layer.weight_bases()
    per_base = (
        alphas.T[:, :, None, None, None] if per_channel else alphas[:, None, None, None, None]
    )
    # Eq. (6): O = sum_m alpha_m Conv(B_m, A), each binary conv by the reference conv.
    expected = sum(
        ops.conv2d_forward(x, B_m, stride=2, padding=1)[0] * a_m.reshape(1, -1, 1, 1)
        for a_m, B_m in zip(per_base, B, strict=True)
    )
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    # dx: the bases do not depend on x, so the layer is linear in x.
    check_gradient(lambda _: layer.forward(x), x, dout, dx, name="dx", tol=1e-8)
    # dW (eq. 7): G = dc/dW_tilde by central differences, times the reading's factor.
    W_tilde = (per_base * B).sum(axis=0)
    G = numerical_gradient(
        lambda w: ops.conv2d_forward(x, w, stride=2, padding=1)[0], W_tilde, dout
    )
    factor = {"paper": (per_base**2).sum(axis=0), "sum": per_base.sum(axis=0), "identity": 1.0}
    np.testing.assert_allclose(layer.grads["weight"], factor[weight_ste] * G, rtol=1e-7, atol=1e-9)


def test_initialisation_and_compilation_interface():
    rng = np.random.default_rng(3)
    layer = ABCConv2d(8, 6, 3, M=3, N=3, rng=rng, per_channel=True, dtype=np.float64)
    bound = 1 / np.sqrt(8 * 9)  # PyTorch's default Conv2d init
    assert np.abs(layer.params["weight"]).max() <= bound
    assert np.abs(layer.params["weight"]).max() > 0.9 * bound
    v, beta = default_activation_params(3, np.float64)
    np.testing.assert_array_equal(layer.params["v"], v)
    np.testing.assert_array_equal(layer.params["beta"], beta)
    assert len(np.unique(layer.params["v"])) == 3  # symmetry broken
    B, alphas = layer.weight_bases()
    B_ref, a_ref = approximate_weights(layer.params["weight"], 3, per_channel=True)
    np.testing.assert_array_equal(B, B_ref)
    np.testing.assert_array_equal(alphas, a_ref)
    assert B.shape == (3, 6, 8, 3, 3) and alphas.shape == (6, 3)
    for name in ("M", "N", "stride", "padding", "pad_value", "per_channel", "shifts"):
        assert hasattr(layer, name)
    assert (layer.ddof, layer.ridge, layer.stride, layer.padding) == (0, 1e-6, (1, 1), (0, 0))
    text = repr(layer)
    assert text.startswith("ABCConv2d(8, 6, kernel_size=(3, 3), M=3, N=3")
    assert "per_channel=True" in text and "weight_ste='paper'" in text


def test_trained_shift_parameter_drives_the_bases():
    layer = ABCConv2d(2, 2, 3, M=2, N=1, train_shifts=True, dtype=np.float64)
    np.testing.assert_array_equal(layer.params["u"], [-1.0, 1.0])
    layer.params["u"][...] = [0.0, 0.0]  # optimizers update in place
    B, _ = layer.weight_bases()
    np.testing.assert_array_equal(B[0], B[1])


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="M must be >= 1"):
        ABCConv2d(2, 2, 3, M=0, N=1)
    with pytest.raises(ValueError, match="N must be >= 1"):
        ABCConv2d(2, 2, 3, M=1, N=0)
    with pytest.raises(ValueError, match="weight_ste must be one of"):
        ABCConv2d(2, 2, 3, M=1, N=1, weight_ste="alpha")
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        ABCConv2d(2, 2, 3, M=1, N=1, dtype=np.int32)
    with pytest.raises(ValueError, match=r"shifts must have shape \(2,\)"):
        ABCConv2d(2, 2, 3, M=2, N=1, shifts=[0.0])
    with pytest.raises(ValueError, match="ridge must be >= 0"):
        ABCConv2d(2, 2, 3, M=2, N=1, ridge=-0.1)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        ABCConv2d(2, 2, 3, M=1, N=1, rng=0)
    layer = ABCConv2d(2, 2, 3, M=1, N=1)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.zeros((1, 2, 1, 1), np.float32))
    with pytest.raises(ValueError, match=r"weight has 2 input channels .* but x has 3 channels"):
        layer.forward(np.zeros((1, 3, 5, 5), np.float32))


# -- flags that are not bools: TypeError, not a silently truthy string ---------
def test_non_bool_flags_are_type_errors():
    with pytest.raises(TypeError, match="train_shifts must be a bool, got 'false'"):
        ABCConv2d(3, 2, 3, M=2, N=1, train_shifts="false")
    with pytest.raises(TypeError, match="per_channel must be a bool, got 1"):
        ABCConv2d(3, 2, 3, M=2, N=1, per_channel=1)


def test_pad_value_of_binary_activations_is_a_bit_or_zero():
    # A padded binary activation is 0 (zero padding) or a sign; 0.5 would train but
    # could never be compiled to bits. Full-precision input may be padded with anything.
    with pytest.raises(ValueError, match="pad_value must be 0, \\+1 or -1 with binary"):
        ABCConv2d(2, 2, 3, M=1, N=2, pad_value=0.5)
    assert ABCConv2d(2, 2, 3, M=1, N=None, pad_value=0.5).pad_value == 0.5
