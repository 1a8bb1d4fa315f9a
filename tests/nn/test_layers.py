"""Tests of abcref.nn.layers: each layer equals its op, initialises as documented, checks input."""

import numpy as np
import pytest

from abcref import ops
from abcref.fast import conv as fast_conv
from abcref.gradcheck import check_gradient
from abcref.nn import (
    AvgPool2d,
    BatchNorm2d,
    Clip,
    Conv2d,
    Flatten,
    GlobalAvgPool2d,
    Hardtanh,
    Linear,
    MaxPool2d,
    ReLU,
)

RNG = np.random.default_rng(1234)


def randn(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def test_conv2d_matches_op_and_accumulates():
    layer = Conv2d(3, 4, 3, stride=2, padding=1, rng=np.random.default_rng(0), dtype=np.float64)
    x, dout = randn(2, 3, 5, 5), randn(2, 4, 3, 3)
    out = layer.forward(x)
    ref, cache = fast_conv.conv2d_forward(
        x, layer.params["weight"], layer.params["bias"], stride=(2, 2), padding=(1, 1)
    )
    np.testing.assert_array_equal(out, ref)
    dx = layer.backward(dout)
    rdx, rdw, rdb = fast_conv.conv2d_backward(dout, cache)
    np.testing.assert_array_equal(dx, rdx)
    np.testing.assert_array_equal(layer.grads["weight"], rdw)
    np.testing.assert_array_equal(layer.grads["bias"], rdb)
    layer.forward(x)
    layer.backward(dout)  # gradients accumulate
    np.testing.assert_allclose(layer.grads["weight"], 2 * rdw, rtol=1e-14)
    with pytest.raises(RuntimeError, match="Conv2d.backward called before forward"):
        layer.backward(dout)  # the cache is consumed: one backward per forward
    assert "bias" not in Conv2d(3, 4, 3, bias=False).params


def test_init_rules():
    he = Conv2d(16, 32, 3, rng=np.random.default_rng(0), dtype=np.float64)
    assert he.params["weight"].std() == pytest.approx(np.sqrt(2 / (16 * 9)), rel=0.05)
    assert not he.params["bias"].any()
    pt = Linear(100, 50, init="pytorch", rng=np.random.default_rng(0))
    assert np.abs(pt.params["weight"]).max() <= 0.1 and np.abs(pt.params["bias"]).max() <= 0.1
    assert pt.params["weight"].dtype == np.float32
    a = Conv2d(2, 2, 3, rng=np.random.default_rng(5)).params["weight"]
    b = Conv2d(2, 2, 3, rng=np.random.default_rng(5)).params["weight"]
    np.testing.assert_array_equal(a, b)


def test_linear_matches_op():
    layer = Linear(5, 3, rng=np.random.default_rng(0), dtype=np.float64)
    x, dout = randn(4, 5), randn(4, 3)
    out = layer.forward(x)
    ref, cache = ops.linear_forward(x, layer.params["weight"], layer.params["bias"])
    np.testing.assert_array_equal(out, ref)
    dx = layer.backward(dout)
    rdx, rdw, rdb = ops.linear_backward(dout, cache)
    np.testing.assert_array_equal(dx, rdx)
    np.testing.assert_array_equal(layer.grads["weight"], rdw)
    np.testing.assert_array_equal(layer.grads["bias"], rdb)


def test_batchnorm_train_updates_buffers_eval_uses_them():
    bn = BatchNorm2d(3, momentum=0.2, dtype=np.float64)
    bn.params["weight"][...] = [1.0, 2.0, 0.5]
    x, dout = randn(4, 3, 2, 2) * 3 + 1, randn(4, 3, 2, 2)
    out = bn.forward(x)
    ref, cache = ops.batchnorm2d_forward(
        x,
        bn.params["weight"],
        bn.params["bias"],
        running_mean=np.zeros(3),
        running_var=np.ones(3),
        training=True,
        momentum=0.2,
    )
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(bn.buffers["running_mean"], cache["running_mean"])
    np.testing.assert_array_equal(bn.buffers["running_var"], cache["running_var"])
    dx = bn.backward(dout)
    rdx, rdg, rdb = ops.batchnorm2d_backward(dout, cache)
    np.testing.assert_array_equal(dx, rdx)
    np.testing.assert_array_equal(bn.grads["weight"], rdg)
    bn.eval()
    running = bn.buffers["running_mean"].copy()
    out = bn.forward(x)
    expected = (x - running[None, :, None, None]) / np.sqrt(
        bn.buffers["running_var"][None, :, None, None] + 1e-5
    ) * bn.params["weight"][None, :, None, None] + bn.params["bias"][None, :, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    np.testing.assert_array_equal(bn.buffers["running_mean"], running)


@pytest.mark.parametrize(
    "layer, forward, backward",
    [
        (ReLU(), ops.relu_forward, ops.relu_backward),
        (Clip(0.0, 1.0), lambda x: ops.clip_forward(x, low=0.0, high=1.0), ops.clip_backward),
        (Hardtanh(), lambda x: ops.clip_forward(x, low=-1.0, high=1.0), ops.clip_backward),
        (MaxPool2d(2), lambda x: ops.maxpool2d_forward(x, kernel=(2, 2)), ops.maxpool2d_backward),
        (
            AvgPool2d(2, stride=1),
            lambda x: ops.avgpool2d_forward(x, kernel=(2, 2), stride=(1, 1)),
            ops.avgpool2d_backward,
        ),
        (GlobalAvgPool2d(), ops.global_avgpool_forward, ops.global_avgpool_backward),
    ],
)
def test_stateless_layers_match_ops(layer, forward, backward):
    x = randn(2, 3, 4, 4)
    out = layer.forward(x)
    ref, cache = forward(x)
    np.testing.assert_array_equal(out, ref)
    dout = randn(*out.shape)
    np.testing.assert_array_equal(layer.backward(dout), backward(dout, cache))


def test_flatten():
    f = Flatten()
    x = randn(2, 3, 2, 2)
    assert f.forward(x).shape == (2, 12)
    np.testing.assert_array_equal(
        f.backward(np.arange(24.0).reshape(2, 12)).ravel(), np.arange(24)
    )


def test_layer_bad_inputs():
    with pytest.raises(ValueError, match="in_channels must be >= 1"):
        Conv2d(0, 2, 3)
    with pytest.raises(ValueError, match="kernel_size must be an int or a pair"):
        Conv2d(1, 2, (3, 3, 3))
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        Linear(2, 2, dtype=np.int32)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        Conv2d(1, 2, 3, rng=0)
    with pytest.raises(ValueError, match="init must be one of"):
        Linear(2, 2, init="xavier")
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\]"):
        BatchNorm2d(2, momentum=1.5)
    with pytest.raises(ValueError, match="low must be < high"):
        Clip(1.0, 0.0)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        Conv2d(1, 2, 3).backward(np.zeros((1, 2, 1, 1), np.float32))


def test_padded_maxpool_matches_definition_and_gradient():
    pool = MaxPool2d(3, stride=2, padding=1)
    x = RNG.standard_normal((2, 3, 7, 6))
    out = pool.forward(x)
    assert out.shape == (2, 3, 4, 3)
    for i in range(4):
        for j in range(3):
            window = x[:, :, max(2 * i - 1, 0) : 2 * i + 2, max(2 * j - 1, 0) : 2 * j + 2]
            np.testing.assert_array_equal(out[:, :, i, j], window.max(axis=(2, 3)))
    dout = RNG.standard_normal(out.shape)
    dx = pool.backward(dout)
    check_gradient(lambda _: pool.forward(x), x, dout, dx, name="dx", tol=1e-6)
