"""An independent PyTorch implementation of ABC-Net, checked against abcref's oracle.

Written from the paper (Lin, Zhao & Pan, NIPS 2017, section 3) and
docs/conventions.md, not from abcref's code: autograd does the
convolution gradients, and two ``torch.autograd.Function`` classes hold
the straight-through estimators of eq. (7) (weights) and eq. (10)
(activations, with the corrected mask ``1[0 <= R + v <= 1]``).

It also shows what an implementer does with the oracle, using nothing of
abcref but the files: read ``manifest.json`` (JSON) and each case's
inputs (``np.load(..., allow_pickle=False)``), compute, and write the
outputs under the same array names into ``OUT/<case>.npz``::

    abcref oracle export suite/
    python examples/torch_abc.py suite/ torch_out/
    abcref oracle check suite/ --against torch_out/

Needs ``torch`` (CPU build is enough: ``pip install torch``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (PyTorch's usual name)

# -- weights: eqs. (2)-(5) and the STE of eq. (7) -------------------------------------------


def weight_bases(W, M, shifts=None, ddof=0, per_channel=False):
    """B_i = sign(W - mean + u_i std) with sign(0) = -1; shape (M, *W.shape)."""
    u = torch.linspace(-1, 1, M, dtype=W.dtype) if M > 1 else torch.zeros(1, dtype=W.dtype)
    if shifts is not None:
        u = torch.tensor(shifts, dtype=W.dtype)
    rows = W.reshape(W.shape[0], -1) if per_channel else W.reshape(1, -1)
    mean = rows.mean(dim=1, keepdim=True)
    std = rows.std(dim=1, correction=ddof, keepdim=True)
    z = (rows - mean)[None] + u[:, None, None] * std[None]
    one = torch.ones((), dtype=W.dtype)
    return torch.where(z > 0, one, -one).reshape(M, *W.shape)


def fit_alphas(W, B, ridge, per_channel=False):
    """Ridge least squares [B; sqrt(ridge) I] alpha = [w; 0], in float64."""
    M = B.shape[0]
    groups = W.shape[0] if per_channel else 1
    w = W.reshape(groups, -1).double()
    basis = B.reshape(M, groups, -1).double()
    alphas = []
    for g in range(groups):
        design = torch.cat([basis[:, g].T, (ridge**0.5) * torch.eye(M, dtype=torch.float64)])
        target = torch.cat([w[g], torch.zeros(M, dtype=torch.float64)])
        alphas.append(torch.linalg.lstsq(design, target[:, None], driver="gelsd").solution[:, 0])
    alphas = torch.stack(alphas).to(W.dtype)
    return alphas if per_channel else alphas[0]


def combine(B, alphas):
    """W_tilde = sum_m alpha_m B_m (alphas (M,) or (C_out, M))."""
    if alphas.dim() == 1:
        return torch.einsum("m,m...->...", alphas, B)
    return torch.einsum("om,mo...->o...", alphas, B)


class ApproxWeights(torch.autograd.Function):
    """Forward: W_tilde = sum alpha_m B_m. Backward (eq. 7): dW = scale * G."""

    @staticmethod
    def forward(ctx, W, M, shifts, ddof, ridge, per_channel, weight_ste):
        B = weight_bases(W, M, shifts, ddof, per_channel)
        alphas = fit_alphas(W, B, ridge, per_channel)
        if weight_ste == "paper":  # sum_m alpha_m dc/dB_m with dc/dB_m = alpha_m G
            scale = (alphas**2).sum(-1)
        elif weight_ste == "sum":  # dc/dB_m read without alpha_m
            scale = alphas.sum(-1)
        else:  # plain STE through W_tilde ~ W
            scale = torch.ones_like(alphas.sum(-1))
        ctx.save_for_backward(scale.reshape(-1, 1, 1, 1) if per_channel else scale)
        return combine(B, alphas)

    @staticmethod
    def backward(ctx, grad):
        (scale,) = ctx.saved_tensors
        return scale * grad, None, None, None, None, None, None


# -- activations: eqs. (8)-(10) --------------------------------------------------------------


class BinaryActivation(torch.autograd.Function):
    """A = H_v(R): +1 iff R >= 0.5 - v. STE: mask 1[0 <= R + v <= 1] for R and v."""

    @staticmethod
    def forward(ctx, R, v):
        one = torch.ones((), dtype=R.dtype)
        ctx.save_for_backward(R, v)
        return torch.where(R >= 0.5 - v, one, -one)

    @staticmethod
    def backward(ctx, grad):
        R, v = ctx.saved_tensors
        mask = ((R >= -v) & (R <= 1 - v)).to(grad.dtype)
        return grad * mask, (grad * mask).sum().reshape(v.shape)


def abc_conv2d(
    x, W, v, beta, *, M, stride, padding, shifts, ddof, ridge, per_channel, weight_ste, pad_value
):
    """Eq. (12): sum_n beta_n Conv(W_tilde, A_n); A_n padded with pad_value."""
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    W_tilde = ApproxWeights.apply(W, M, shifts, ddof, ridge, per_channel, weight_ste)
    if v is None:
        acts, betas = [x], [None]
    else:
        acts = [BinaryActivation.apply(x, v[n : n + 1]) for n in range(v.shape[0])]
        betas = [beta[n] for n in range(beta.shape[0])]
    out = 0
    for A, b in zip(acts, betas, strict=True):
        y = F.conv2d(F.pad(A, (pw, pw, ph, ph), value=pad_value), W_tilde, stride=stride)
        out = out + (y if b is None else b * y)
    return out


# -- the oracle functions -----------------------------------------------------------------------


def t(a, grad=False):
    return torch.tensor(a, requires_grad=grad)


def run_case(fn, inp, kw):
    """Outputs of one case, as numpy arrays named as in the suite."""
    if fn == "abcref.binarize.approximate_weights":
        W = t(inp["W"])
        B = weight_bases(W, kw["M"], kw["shifts"], kw["ddof"], kw["per_channel"])
        return {"B": B, "alphas": fit_alphas(W, B, kw["ridge"], kw["per_channel"])}
    if fn == "abcref.binarize.binarize_activations":
        R, v = t(inp["R"]), t(inp["v"])
        return {"A": torch.stack([BinaryActivation.apply(R, v[n : n + 1]) for n in range(len(v))])}
    if fn in ("abcref.binarize.abc_conv2d_forward", "abcref.binarize.abc_conv2d_backward"):
        backward = fn.endswith("backward")
        x, W = t(inp["x"], backward), t(inp["W"], backward)
        v = t(inp["v"], backward) if "v" in inp else None
        beta = t(inp["beta"], backward) if "beta" in inp else None
        out = abc_conv2d(x, W, v, beta, **kw)
        result = {"out": out}
        if backward:
            out.backward(t(inp["dout"]))
            result.update(dx=x.grad, dW=W.grad)
            if v is not None:
                result.update(dv=v.grad, dbeta=beta.grad)
        return result
    if fn == "abcref.bitpack.xnor_conv2d":
        a, b = t(inp["a"]).double(), t(inp["b"]).double()
        p = kw["padding"]
        ph, pw = (p, p) if isinstance(p, int) else p
        y = F.conv2d(F.pad(a, (pw, pw, ph, ph), value=kw["pad_value"]), b, stride=kw["stride"])
        return {"out": torch.round(y).to(torch.int64)}
    if fn == "abcref.bitpack.thresholds.fold_batchnorm_exact":
        return fold_batchnorm(t(inp["R"]), t(inp["a"]), t(inp["b"]), t(inp["v"]))
    return None


def fold_batchnorm(R, a, b, v):
    """Section 5.3 (2) with the comparison flipped for a < 0 and constant for a = 0."""
    thr = 0.5 - v[:, None]  # (N, 1)
    safe_a = torch.where(a == 0, torch.ones_like(a), a)
    thresholds = torch.where(a[None] == 0, torch.zeros_like(thr * a), (thr - b[None]) / safe_a)
    direction = torch.sign(a).to(torch.int8)
    constant = (b[None] >= thr) & (a[None] == 0)
    bn = a[None, None, :, None, None] * R[None] + b[None, None, :, None, None]
    A = torch.where(bn >= thr[:, :, None, None, None], 1, -1).to(torch.int8)
    return {"direction": direction, "thresholds": thresholds, "constant": constant, "A": A}


def run_suite(suite_dir, out_dir) -> list[str]:
    """Run every case of the suite this implementation knows; return their names."""
    suite_dir, out_dir = Path(suite_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((suite_dir / "manifest.json").read_text())
    done = []
    for case in manifest["cases"]:
        with np.load(suite_dir / case["file"], allow_pickle=False) as data:
            inputs = {k: data[k] for k in case["inputs"]}
        outputs = run_case(case["function"], inputs, case["kwargs"])
        if outputs is None:
            continue
        arrays = {k: v.detach().numpy() for k, v in outputs.items() if k in case["outputs"]}
        np.savez(out_dir / case["file"], **arrays)
        done.append(case["name"])
    return done


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", help="directory written by `abcref oracle export`")
    parser.add_argument("out", help="directory for this implementation's outputs")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    done = run_suite(args.suite, args.out)
    print(f"wrote {len(done)} case(s) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
