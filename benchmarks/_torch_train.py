"""PyTorch side of bench_train.py: the same networks, trained in their own process.

Builds ``small_cnn`` as abcref builds it (conv 1->w0, BN, inner convs,
max-pools after the listed convs before their BN, global average pool,
linear), in full precision (ReLU before each inner conv) and with ABC
inner convs computed as abcref's trainer computes them: ONE convolution
of ``W_tilde = sum_m alpha_m B_m`` with ``R_tilde = sum_n beta_n A_n``
(eqs. 6 and 12 by bilinearity), the straight-through estimators of eq.
(7) (``dW = sum_m alpha_m^2 G``, alphas constant, written with
``detach``) and eq. (10) (``dR = sum_n beta_n 1[0 <= R + v_n <= 1]
dR_tilde``, one custom autograd function with the loops of abcref's
fast tier), and alpha by the ridge least squares of eq. (3). Same data,
batch size, Adam learning rate, per-epoch shuffle.

It is a timing twin, not a numerical one: initial weights differ.
After warming up it prints ``ready`` and then reads one line per
measurement from stdin (``FP`` or ``ABC``, the epoch's shuffle seed, the
first and the stop minibatch), trains those minibatches of that network
and prints ``{"model": ..., "seconds": ...}`` as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch
from _timing import synthetic_images
from torch import nn
from torch.nn import functional as F

RIDGE = 1e-6


class _ABCActivationsFn(torch.autograd.Function):
    """Forward and STE backward of eq. (10)-(11), as abcref's fast tier computes them."""

    @staticmethod
    def forward(ctx, r, v, beta):
        ctx.save_for_backward(r, v, beta)
        out = torch.zeros_like(r)
        for t_n, beta_n in zip(0.5 - v, beta, strict=True):
            out += (r >= t_n).to(r.dtype) * (2 * beta_n) - beta_n  # beta_n * A_n
        return out

    @staticmethod
    def backward(ctx, grad):
        r, v, beta = ctx.saved_tensors
        total = grad.sum()
        slope = torch.zeros_like(r)
        dv, dbeta = torch.empty_like(v), torch.empty_like(beta)
        for n in range(len(v)):
            dbeta[n] = 2 * (grad * (r >= 0.5 - v[n])).sum() - total
            window = ((r >= -v[n]) & (r <= 1 - v[n])).to(r.dtype)  # the mask of eq. (10)
            dv[n] = beta[n] * (grad * window).sum()
            slope += beta[n] * window
        return grad * slope, dv, dbeta


class ABCActivations(nn.Module):
    """``R_tilde = sum_n beta_n A_n``, ``A_n = +1 if R >= 0.5 - v_n else -1``; STE of eq. (10)."""

    def __init__(self, v: np.ndarray, beta: np.ndarray) -> None:
        super().__init__()
        self.v = nn.Parameter(torch.tensor(v, dtype=torch.float32))
        self.beta = nn.Parameter(torch.tensor(beta, dtype=torch.float32))

    def forward(self, r):
        return _ABCActivationsFn.apply(r, self.v, self.beta)


class ABCConv(nn.Module):
    """Conv(W_tilde, R_tilde) with M weight bases and N activation bases."""

    def __init__(self, c_in: int, c_out: int, M: int, N: int, v, beta) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(c_out, c_in, 3, 3))
        nn.init.uniform_(self.weight, -1 / (9 * c_in) ** 0.5, 1 / (9 * c_in) ** 0.5)
        self.shifts = torch.linspace(-1.0, 1.0, M) if M > 1 else torch.zeros(1)
        self.act = ABCActivations(v, beta)

    def approximate_weights(self):
        w = self.weight
        with torch.no_grad():
            mean, std = w.mean(), w.std(unbiased=False)
            shifted = [w - mean + u * std for u in self.shifts]
            bases = torch.stack([torch.where(s > 0, 1.0, -1.0) for s in shifted])  # sign(0) = -1
            flat = bases.reshape(len(self.shifts), -1)
            gram = flat @ flat.T + RIDGE * torch.eye(len(self.shifts))
            alphas = torch.linalg.solve(gram.double(), (flat @ w.reshape(-1)).double()).float()
            w_tilde = torch.tensordot(alphas, bases, dims=1)
            scale = (alphas**2).sum()
        return w_tilde + scale * (w - w.detach())  # value W_tilde, gradient sum alpha^2 G

    def forward(self, r):
        return F.conv2d(self.act(r), self.approximate_weights(), padding=1)


def small_cnn(widths, pool_after, kind: str, M: int, N: int, v, beta) -> nn.Sequential:
    layers = [nn.Conv2d(1, widths[0], 3, padding=1, bias=False)]
    if 0 in pool_after:
        layers.append(nn.MaxPool2d(2))
    layers.append(nn.BatchNorm2d(widths[0]))
    for i in range(1, len(widths)):
        if kind == "FP":
            layers += [nn.ReLU(), nn.Conv2d(widths[i - 1], widths[i], 3, padding=1, bias=False)]
        else:
            layers.append(ABCConv(widths[i - 1], widths[i], M, N, v, beta))
        if i in pool_after:
            layers.append(nn.MaxPool2d(2))
        layers.append(nn.BatchNorm2d(widths[i]))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(widths[-1], 10)]
    return nn.Sequential(*layers)


def train_seconds(model, opt, x, y, batch_size: int, seed: int, first=0, stop=None) -> float:
    """Wall time of minibatches ``first:stop`` of the epoch shuffled with ``seed``."""
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(len(y)))
    model.train()
    tic = time.perf_counter()
    for start in range(
        first * batch_size, len(y) if stop is None else stop * batch_size, batch_size
    ):
        idx = perm[start : start + batch_size]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
    return time.perf_counter() - tic


def main() -> None:
    p = argparse.ArgumentParser()
    for name in ("threads", "images", "size", "batch_size", "M", "N", "seed"):
        p.add_argument(f"--{name.replace('_', '-')}", type=int, required=True)
    p.add_argument("--widths", type=int, nargs="+", required=True)
    p.add_argument("--pool-after", type=int, nargs="*", default=[])
    p.add_argument("--v", type=float, nargs="+", required=True)
    p.add_argument("--beta", type=float, nargs="+", required=True)
    p.add_argument("--lr", type=float, required=True)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    x_np, y_np = synthetic_images(a.images, a.size, a.seed)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    models = {}
    for kind in ("FP", "ABC"):
        model = small_cnn(a.widths, a.pool_after, kind, a.M, a.N, a.v, a.beta)
        models[kind] = (model, torch.optim.Adam(model.parameters(), lr=a.lr))
    for model, opt in models.values():  # warm-up
        train_seconds(model, opt, x[:128], y[:128], a.batch_size, 0)
    print("ready", flush=True)
    for line in sys.stdin:
        kind, seed, first, stop = line.split()
        model, opt = models[kind]
        seconds = train_seconds(model, opt, x, y, a.batch_size, int(seed), int(first), int(stop))
        print(json.dumps({"model": kind, "seconds": seconds}), flush=True)


if __name__ == "__main__":
    main()
