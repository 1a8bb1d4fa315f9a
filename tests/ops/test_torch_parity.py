"""float64 forward and backward parity of abcref.ops with PyTorch.

One cross-check for every op of abcref/ops (conv, batch norm, the pools,
linear, cross-entropy, ReLU and clip). Skipped when torch is not installed.
Each op runs on the same random input in both; gradients come from
PyTorch's autograd with the same random upstream gradient.
"""

import numpy as np
import pytest

from abcref import ops

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = {"rtol": 1e-10, "atol": 1e-12}


def _t(a):
    return torch.tensor(a, requires_grad=True)


def _backprop(out, dout, *tensors):
    out.backward(torch.tensor(dout))
    return [t.grad.numpy() for t in tensors]


@pytest.mark.parametrize(
    ("stride", "padding", "bias"),
    [(1, 0, False), (1, 1, True), (2, 1, True), ((2, 1), (0, 2), False)],
)
def test_conv2d(stride, padding, bias):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4) if bias else None
    out, cache = ops.conv2d_forward(x, w, b, stride=stride, padding=padding)
    tx, tw = _t(x), _t(w)
    tb = _t(b) if bias else None
    ref = F.conv2d(tx, tw, tb, stride=stride, padding=padding)
    np.testing.assert_allclose(out, ref.detach().numpy(), **TOL)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = ops.conv2d_backward(dout, cache)
    grads = _backprop(ref, dout, tx, tw, *([tb] if bias else []))
    np.testing.assert_allclose(dx, grads[0], **TOL)
    np.testing.assert_allclose(dw, grads[1], **TOL)
    if bias:
        np.testing.assert_allclose(db, grads[2], **TOL)
    else:
        assert db is None


@pytest.mark.parametrize("pad_value", [1.0, -1.0])
def test_conv2d_pad_value_equals_torch_on_a_constant_padded_input(pad_value):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))
    out, _ = ops.conv2d_forward(x, w, stride=2, padding=1, pad_value=pad_value)
    ref = F.conv2d(
        F.pad(torch.tensor(x), (1, 1, 1, 1), value=pad_value), torch.tensor(w), stride=2
    )
    np.testing.assert_allclose(out, ref.numpy(), **TOL)


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm2d(training):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3, 5, 5)) * 2 + 1
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    rm, rv = rng.standard_normal(3), rng.random(3) + 0.5
    out, cache = ops.batchnorm2d_forward(
        x, gamma, beta, running_mean=rm, running_var=rv, training=training, momentum=0.1, eps=1e-5
    )
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    tx, tg, tb = _t(x), _t(gamma), _t(beta)
    ref = F.batch_norm(tx, trm, trv, tg, tb, training=training, momentum=0.1, eps=1e-5)
    np.testing.assert_allclose(out, ref.detach().numpy(), **TOL)
    np.testing.assert_allclose(cache["running_mean"], trm.numpy(), **TOL)
    np.testing.assert_allclose(cache["running_var"], trv.numpy(), **TOL)
    dout = rng.standard_normal(out.shape)
    dx, dgamma, dbeta = ops.batchnorm2d_backward(dout, cache)
    gx, gg, gb = _backprop(ref, dout, tx, tg, tb)
    np.testing.assert_allclose(dx, gx, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(dgamma, gg, **TOL)
    np.testing.assert_allclose(dbeta, gb, **TOL)


@pytest.mark.parametrize(("kernel", "stride"), [(2, None), (3, 2), ((2, 3), (1, 2))])
def test_max_and_avg_pool(kernel, stride):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 7, 8))
    for fwd, bwd, tfn in (
        (ops.maxpool2d_forward, ops.maxpool2d_backward, F.max_pool2d),
        (ops.avgpool2d_forward, ops.avgpool2d_backward, F.avg_pool2d),
    ):
        out, cache = fwd(x, kernel=kernel, stride=stride)
        tx = _t(x)
        ref = tfn(tx, kernel, stride=stride)
        np.testing.assert_allclose(out, ref.detach().numpy(), **TOL)
        dout = rng.standard_normal(out.shape)
        np.testing.assert_allclose(bwd(dout, cache), _backprop(ref, dout, tx)[0], **TOL)


def test_global_avgpool():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 4, 5))
    out, cache = ops.global_avgpool_forward(x)
    tx = _t(x)
    ref = tx.mean(dim=(2, 3))
    np.testing.assert_allclose(out, ref.detach().numpy(), **TOL)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(
        ops.global_avgpool_backward(dout, cache), _backprop(ref, dout, tx)[0], **TOL
    )


def test_softmax_cross_entropy():
    rng = np.random.default_rng(5)
    logits, labels = rng.standard_normal((6, 10)) * 3, rng.integers(0, 10, size=6)
    loss, cache = ops.softmax_cross_entropy_forward(logits, labels)
    tl = _t(logits)
    ref = F.cross_entropy(tl, torch.tensor(labels))
    np.testing.assert_allclose(loss, ref.item(), **TOL)
    ref.backward(torch.tensor(0.7, dtype=torch.float64))
    np.testing.assert_allclose(
        ops.softmax_cross_entropy_backward(0.7, cache), tl.grad.numpy(), **TOL
    )


@pytest.mark.parametrize("bias", [True, False])
def test_linear(bias):
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((5, 7)), rng.standard_normal((3, 7))
    b = rng.standard_normal(3) if bias else None
    out, cache = ops.linear_forward(x, w, b)
    tx, tw = _t(x), _t(w)
    tb = _t(b) if bias else None
    ref = F.linear(tx, tw, tb)
    np.testing.assert_allclose(out, ref.detach().numpy(), **TOL)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = ops.linear_backward(dout, cache)
    grads = _backprop(ref, dout, tx, tw, *([tb] if bias else []))
    np.testing.assert_allclose(dx, grads[0], **TOL)
    np.testing.assert_allclose(dw, grads[1], **TOL)
    if bias:
        np.testing.assert_allclose(db, grads[2], **TOL)


def test_relu_and_clip():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4)) * 2
    dout = rng.standard_normal(x.shape)
    out, cache = ops.relu_forward(x)
    tx = _t(x)
    ref = F.relu(tx)
    np.testing.assert_allclose(out, ref.detach().numpy(), **TOL)
    np.testing.assert_allclose(ops.relu_backward(dout, cache), _backprop(ref, dout, tx)[0], **TOL)
    out, cache = ops.clip_forward(x, low=-1.0, high=1.0)
    tx = _t(x)
    ref = torch.clamp(tx, -1.0, 1.0)
    np.testing.assert_allclose(out, ref.detach().numpy(), **TOL)
    np.testing.assert_allclose(ops.clip_backward(dout, cache), _backprop(ref, dout, tx)[0], **TOL)
