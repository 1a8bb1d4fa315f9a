"""abcref.quantize against PyTorch autograd (skipped when torch is absent).

The baselines written directly in PyTorch, with custom straight-through
functions for sign and round and everything else left to autograd, must
give the same outputs and gradients as abcref's hand-written backward
(XNOR-Net with the "exact" weight rule and the gradient through K, BNN,
DoReFa with 1-bit and 3-bit weights).
"""

import numpy as np
import pytest

from abcref.quantize import (
    quantized_conv2d_backward,
    quantized_conv2d_forward,
    xnornet_conv2d_backward,
    xnornet_conv2d_forward,
)

torch = pytest.importorskip("torch")
F = torch.nn.functional


class SignSTE(torch.autograd.Function):
    """sign with sign(0) = +1; gradient g * 1[|x| <= 1]."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x.abs() <= 1).to(g.dtype)


class SignIdentity(torch.autograd.Function):
    """sign with sign(0) = +1; gradient passed straight through."""

    @staticmethod
    def forward(ctx, x):
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        return g


class RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)  # half to even, like np.round

    @staticmethod
    def backward(ctx, g):
        return g


def quantize_k(y, k):
    n = 2**k - 1
    return RoundSTE.apply(y * n) / n


def _data(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 6, 6))
    W = rng.standard_normal((4, 3, 3, 3))
    dout = rng.standard_normal((2, 4, 3, 3))
    return x, W, dout


def _torch_grads(fn, x, W, dout):
    xt = torch.tensor(x, requires_grad=True)
    Wt = torch.tensor(W, requires_grad=True)
    out = fn(xt, Wt)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), xt.grad.numpy(), Wt.grad.numpy()


def test_xnornet_matches_torch_autograd():
    x, W, dout = _data(0)
    conv = {"stride": 2, "padding": 1}

    def xnor(xt, Wt):
        alpha = Wt.abs().mean(dim=(1, 2, 3), keepdim=True)
        W_q = alpha * SignSTE.apply(Wt)
        A = xt.abs().mean(dim=1, keepdim=True)
        K = F.conv2d(A, torch.full((1, 1, 3, 3), 1 / 9, dtype=xt.dtype), **conv)
        return F.conv2d(SignSTE.apply(xt), W_q, **conv) * K

    ref_out, ref_dx, ref_dW = _torch_grads(xnor, x, W, dout)
    out, cache = xnornet_conv2d_forward(x, W, weight_ste="exact", **conv)
    grads = xnornet_conv2d_backward(dout, cache)
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads["x"], ref_dx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads["W"], ref_dW, rtol=1e-10, atol=1e-12)


def test_bnn_matches_torch_autograd():
    x, W, dout = _data(1)

    def bnn(xt, Wt):
        return F.conv2d(SignSTE.apply(xt), SignIdentity.apply(Wt), stride=2, padding=1)

    ref_out, ref_dx, ref_dW = _torch_grads(bnn, x, W, dout)
    out, cache = quantized_conv2d_forward(
        x, W, weights="sign", activations="sign", stride=2, padding=1
    )
    grads = quantized_conv2d_backward(dout, cache)
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads["x"], ref_dx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads["W"], ref_dW, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("weight_bits", [1, 3])
def test_dorefa_matches_torch_autograd(weight_bits):
    x, W, dout = _data(2)
    x = x * 0.6 + 0.5  # most inputs inside [0, 1], some clipped

    def weights(Wt):
        if weight_bits == 1:  # tensorpack: sign(W / E) * E, sign's gradient the identity
            E = Wt.abs().mean().detach()
            return SignIdentity.apply(Wt / E) * E
        t = torch.tanh(Wt)
        return 2 * quantize_k(t / (2 * t.abs().max()) + 0.5, weight_bits) - 1

    def dorefa(xt, Wt):
        x_q = quantize_k(torch.clamp(xt, 0, 1), 4)
        return F.conv2d(x_q, weights(Wt), stride=2, padding=1)

    ref_out, ref_dx, ref_dW = _torch_grads(dorefa, x, W, dout)
    out, cache = quantized_conv2d_forward(
        x, W, weights="dorefa", activations="dorefa", weight_bits=weight_bits, stride=2, padding=1
    )
    grads = quantized_conv2d_backward(dout, cache)
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads["x"], ref_dx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads["W"], ref_dW, rtol=1e-10, atol=1e-12)
