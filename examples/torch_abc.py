"""An independent PyTorch implementation of ABC-Net, checked against abcref's oracle.

Written from the paper (Lin, Zhao & Pan, NIPS 2017, section 3) and
docs/conventions.md, not from abcref's code: autograd does the
convolution gradients, and two ``torch.autograd.Function`` classes hold
the straight-through estimators of eq. (7) (weights) and eq. (10)
(activations, with the corrected mask ``1[0 <= R + v <= 1]``).

It shows what an implementer does with the oracle, using nothing of
abcref but the files.

Op by op: read ``manifest.json`` (JSON) and each case's inputs
(``np.load(..., allow_pickle=False)``), compute, and write the outputs
under the same array names into ``OUT/<case>.npz``::

    abcref oracle export suite/
    python examples/torch_abc.py suite/ torch_out/
    abcref oracle check suite/ --against torch_out/

Whole models: build a small ABC CNN or a small pre-activation ABC ResNet
in PyTorch from an abcref model config, run one training step on one
batch, and export the run (parameters with PyTorch's state_dict names,
the batch, logits, every layer's output, every parameter's gradient)::

    python examples/torch_abc.py model small_cnn torch_run/
    abcref oracle check-model torch_run/

``--plant bn-after-pool`` (or ``printed-mask``, ``channel-wise``) plants a
classic mistake in the PyTorch model, to see how the check reports it.

Needs ``torch`` (CPU build is enough: ``pip install torch``).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections import OrderedDict
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


class PrintedMaskActivation(BinaryActivation):
    """A classic mistake, for the model check's demo: eq. (10)'s mask as printed, R - v."""

    @staticmethod
    def backward(ctx, grad):
        R, v = ctx.saved_tensors
        mask = ((R - v >= 0) & (R - v <= 1)).to(grad.dtype)
        return grad * mask, (grad * mask).sum().reshape(v.shape)


def abc_conv2d(
    x,
    W,
    v,
    beta,
    *,
    M,
    stride,
    padding,
    shifts,
    ddof,
    ridge,
    per_channel,
    weight_ste,
    pad_value,
    binarize=BinaryActivation,
):
    """Eq. (12): sum_n beta_n Conv(W_tilde, A_n); A_n padded with pad_value."""
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    W_tilde = ApproxWeights.apply(W, M, shifts, ddof, ridge, per_channel, weight_ste)
    if v is None:
        acts, betas = [x], [None]
    else:
        acts = [binarize.apply(x, v[n : n + 1]) for n in range(v.shape[0])]
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


# -- whole models: the layers ---------------------------------------------------------------------


class ABCConv2d(torch.nn.Module):
    """Eq. (12) as a layer: latent weights, and v, beta when N activations are binary."""

    def __init__(self, c_in, c_out, k, *, stride=1, padding=0, M, N, **options):
        super().__init__()
        bound = 1 / math.sqrt(c_in * k * k)  # PyTorch's default conv initialisation
        self.weight = torch.nn.Parameter(torch.empty(c_out, c_in, k, k).uniform_(-bound, bound))
        if N is None:
            self.v = self.beta = None
        else:  # thresholds 0.5 - v_n at the Gaussian quantiles n / (N + 1): BN precedes them
            quantiles = [statistics.NormalDist().inv_cdf(n / (N + 1)) for n in range(1, N + 1)]
            self.v = torch.nn.Parameter(0.5 - torch.tensor(quantiles))
            self.beta = torch.nn.Parameter(torch.full((N,), 1.0 / N))
        self.options = {
            "M": M,
            "stride": stride,
            "padding": padding,
            "shifts": None,
            "ddof": options.get("ddof", 0),
            "ridge": options.get("ridge", 1e-6),
            "per_channel": options.get("per_channel", False),
            "weight_ste": options.get("weight_ste", "paper"),
            "pad_value": options.get("pad_value", 0.0),
            "binarize": options.get("binarize", BinaryActivation),
        }

    def forward(self, x):
        return abc_conv2d(x, self.weight, self.v, self.beta, **self.options)


class GlobalAvgPool(torch.nn.Module):
    """(B, C, H, W) -> (B, C)."""

    def forward(self, x):
        return x.mean(dim=(2, 3))


def conv_factory(conv: dict, plant=None):
    """Inner convs of the config's kind (ABC, binary or full-precision activations)."""
    if conv.get("kind") != "abc":
        raise ValueError(f"this example builds ABC models only, got conv {conv}")
    options = {k: v for k, v in conv.items() if k != "kind"}
    options.setdefault("M", 3)
    options.setdefault("N", 3)
    if plant == "printed-mask":
        options["binarize"] = PrintedMaskActivation
    if plant == "channel-wise":  # per-channel alphas where the config asks whole-layer
        options["per_channel"] = not options.get("per_channel", False)

    def make(c_in, c_out, k, stride=1, padding=0):
        layer = ABCConv2d(c_in, c_out, k, stride=stride, padding=padding, **options)
        if options["N"] is None:  # full-precision activations: ReLU in front, as abcref's
            return layer, torch.nn.ReLU()
        return layer, None

    return make


def small_cnn(config: dict, plant=None):
    """abcref's small_cnn: conv -> [max-pool] -> BN per stage (section 3.3), GAP, FC."""
    widths = config["widths"]
    pools = config.get("pool_after") or [len(widths) - 2]
    make = conv_factory(config["conv"], plant)
    layers, c_in = OrderedDict(), config.get("in_channels", 1)
    for i, c_out in enumerate(widths):
        k = i + 1
        if i == 0:  # the first layer stays full precision
            layers["conv1"] = torch.nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        else:
            conv, act = make(c_in, c_out, 3, padding=1)
            if act is not None:
                layers[f"act{k}"] = act
            layers[f"conv{k}"] = conv
        pool, bn = torch.nn.MaxPool2d(2), torch.nn.BatchNorm2d(c_out)
        if i in pools and plant == "bn-after-pool":  # the mistake: BN before the pool
            layers[f"bn{k}"], layers[f"pool{k}"] = bn, pool
        else:
            if i in pools:
                layers[f"pool{k}"] = pool
            layers[f"bn{k}"] = bn
        c_in = c_out
    layers["gap"] = GlobalAvgPool()
    layers["fc"] = torch.nn.Linear(c_in, config.get("num_classes", 10))
    return torch.nn.Sequential(layers)


class BasicBlock(torch.nn.Module):
    """Pre-activation block: bn1 -> conv1 -> bn2 -> conv2, plus the shortcut; no ReLU after.

    Every binarization reads a BN output (XNOR-Net's BN -> binarize -> binary conv); the
    projection shortcut (1x1 conv -> BN, full precision) reads the block input.
    """

    def __init__(self, c_in, c_out, stride, make):
        super().__init__()
        self.bn1 = torch.nn.BatchNorm2d(c_in)
        self.conv1, act1 = make(c_in, c_out, 3, stride=stride, padding=1)
        self.bn2 = torch.nn.BatchNorm2d(c_out)
        self.conv2, act2 = make(c_out, c_out, 3, padding=1)
        self.act1, self.act2 = act1, act2
        if stride != 1 or c_in != c_out:
            self.shortcut = torch.nn.Sequential(
                OrderedDict(
                    conv=torch.nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                    bn=torch.nn.BatchNorm2d(c_out),
                )
            )
        else:
            self.shortcut = None

    def forward(self, x):
        main = self.bn1(x)
        main = self.conv1(main if self.act1 is None else self.act1(main))
        main = self.bn2(main)
        main = self.conv2(main if self.act2 is None else self.act2(main))
        return main + (x if self.shortcut is None else self.shortcut(x))


def cifar_resnet(config: dict, plant=None):
    """ResNet-(6n+2): FP conv1, three stages of pre-activation blocks, bn_final, GAP, FC."""
    depth, width = config.get("depth", 20), config.get("width", 16)
    n = (depth - 2) // 6
    make = conv_factory(config["conv"], plant)
    layers = OrderedDict(
        conv1=torch.nn.Conv2d(config.get("in_channels", 3), width, 3, padding=1, bias=False)
    )
    c_in = width
    for stage in range(3):
        c_out, blocks = width * 2**stage, []
        for j in range(n):
            blocks.append(BasicBlock(c_in, c_out, 2 if stage > 0 and j == 0 else 1, make))
            c_in = c_out
        layers[f"layer{stage + 1}"] = torch.nn.Sequential(*blocks)
    layers["bn_final"] = torch.nn.BatchNorm2d(c_in)
    layers["gap"] = GlobalAvgPool()
    layers["fc"] = torch.nn.Linear(c_in, config.get("num_classes", 10))
    return torch.nn.Sequential(layers)


# -- whole models: one training step, exported as a run ------------------------------------------

#: Small configs of abcref.nn.build_model (the run's model.json holds the one used).
CONFIGS = {
    "small_cnn": {
        "arch": "small_cnn",
        "in_channels": 1,
        "num_classes": 10,
        "widths": [8, 16, 16, 16],
        "conv": {"kind": "abc", "M": 3, "N": 3},
        "dtype": "float64",
    },
    "cifar_resnet": {
        "arch": "cifar_resnet",
        "in_channels": 3,
        "num_classes": 10,
        "depth": 8,
        "width": 4,
        "conv": {"kind": "abc", "M": 2, "N": 2},
        "dtype": "float64",
    },
}
BUILDERS = {"small_cnn": small_cnn, "cifar_resnet": cifar_resnet}
PLANTS = ("bn-after-pool", "printed-mask", "channel-wise")


def build(config: dict, plant=None, seed=0):
    """The PyTorch model of an abcref config, with random BN statistics (non-trivial BN)."""
    torch.manual_seed(seed)
    net = BUILDERS[config["arch"]](config, plant).to(getattr(torch, config["dtype"]))
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.2)
                module.running_mean.normal_(0.0, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    return net


def export_run(net, config, x, y, out_dir, mode="train"):
    """One forward in ``mode`` and one backward of the mean cross-entropy, as a run directory."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}  # before BN moves
    outputs = {}

    def record(name):
        return lambda module, inputs, out: outputs.__setitem__(name, out.detach().numpy().copy())

    hooks = [m.register_forward_hook(record(name)) for name, m in net.named_modules() if name]
    net.train(mode == "train")
    logits = net(torch.from_numpy(x))
    loss = F.cross_entropy(logits, torch.from_numpy(y))
    net.zero_grad()
    loss.backward()
    for hook in hooks:
        hook.remove()
    header = {"format": "abcref-model-run", "format_version": 1, "config": config, "mode": mode}
    (out_dir / "model.json").write_text(json.dumps(header, indent=2) + "\n")
    np.savez(out_dir / "parameters.npz", **state)
    np.savez(out_dir / "batch.npz", x=x, y=y)
    np.savez(
        out_dir / "outputs.npz",
        logits=logits.detach().numpy(),
        loss=loss.detach().numpy(),
        **outputs,
    )
    grads = {name: p.grad.numpy() for name, p in net.named_parameters()}
    np.savez(out_dir / "gradients.npz", **grads)
    return out_dir


def run_model(arch, out_dir, *, plant=None, mode="train", seed=0, batch=8):
    """Build ``arch`` from its config, run one step on a random batch, export the run."""
    config = CONFIGS[arch]
    net = build(config, plant, seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, config["in_channels"], 8, 8)).astype(config["dtype"])
    y = rng.integers(0, config["num_classes"], size=batch)
    return export_run(net, config, x, y, out_dir, mode)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    torch.set_num_threads(1)
    if argv[:1] == ["model"]:
        parser = argparse.ArgumentParser(description="export one training step of a model")
        parser.add_argument("arch", choices=sorted(CONFIGS))
        parser.add_argument("out", help="directory for the run (abcref oracle check-model OUT)")
        parser.add_argument("--plant", choices=PLANTS, help="plant a classic mistake")
        parser.add_argument("--mode", choices=("train", "eval"), default="train")
        parser.add_argument("--seed", type=int, default=0)
        args = parser.parse_args(argv[1:])
        run_model(args.arch, args.out, plant=args.plant, mode=args.mode, seed=args.seed)
        print(f"wrote a {args.mode}-mode run of {args.arch} to {args.out}")
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", help="directory written by `abcref oracle export`")
    parser.add_argument("out", help="directory for this implementation's outputs")
    args = parser.parse_args(argv)
    done = run_suite(args.suite, args.out)
    print(f"wrote {len(done)} case(s) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
