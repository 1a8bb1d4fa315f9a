"""Training epoch of small_cnn in abcref and in PyTorch, side by side.

The network: ``small_cnn`` with convs 32-64-64-64 on 28x28 single-channel
input, 2x2 max-pools after convs 0 and 1 (default ``--widths`` and
``--pool-after``), BN after every conv, global average pool, linear; full
precision, and ABC inner convs with M = N = 3 (``--configs`` adds more
M,N pairs, timed in abcref only). Seeded synthetic data (default 8,000
images: timing does not need real digits), Adam at the trainer's default
learning rate, batch 64, one epoch per measurement.

PyTorch (if importable) builds the same networks in its own process
(``_torch_train.py``; ABC as abcref's trainer computes it: one
convolution of ``W_tilde`` and ``sum_n beta_n A_n``, with the
straight-through estimators written with ``detach``). Both sides get
``--threads`` threads (BLAS through ``OPENBLAS_NUM_THREADS``, set before
NumPy loads; ``torch.set_num_threads``). Each epoch runs in ``--chunks``
chunks of minibatches, alternating abcref FP, PyTorch FP, abcref ABC,
PyTorch ABC chunk by chunk, so that load from other processes hits all
alike; an epoch's time is the sum of its chunks, and each ratio is the
median over ``--rounds`` epochs of the per-epoch ratios.

    python benchmarks/bench_train.py [--rounds 2] [--threads 2] [--json FILE]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def _parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=2, help="epochs per network (median kept)")
    p.add_argument("--chunks", type=int, default=10, help="alternations per epoch")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--images", type=int, default=8000)
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--widths", type=int, nargs="+", default=[32, 64, 64, 64])
    p.add_argument("--pool-after", type=int, nargs="*", default=[0, 1])
    p.add_argument(
        "--configs",
        nargs="+",
        default=["3,3"],
        help="M,N pairs; the first is compared with PyTorch, the others timed in abcref",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="FILE", help="also write the measurements as JSON")
    return p.parse_args()


ARGS = _parse()
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)

import numpy as np  # noqa: E402  (after the thread settings)
from _timing import synthetic_images  # noqa: E402  (benchmarks/ is on sys.path when run)

from abcref.binarize.activations import default_activation_params  # noqa: E402
from abcref.nn import abc_conv, small_cnn  # noqa: E402
from abcref.train import DEFAULT_LRS, Adam, train_step  # noqa: E402

LR = DEFAULT_LRS["adam"]


def train_seconds(model, opt, x, y, batch_size: int, seed: int, first=0, stop=None) -> float:
    """Wall time of minibatches ``first:stop`` of the epoch shuffled with ``seed``."""
    perm = np.random.default_rng(seed).permutation(len(y))
    model.train()
    tic = time.perf_counter()
    for start in range(
        first * batch_size, len(y) if stop is None else stop * batch_size, batch_size
    ):
        idx = perm[start : start + batch_size]
        train_step(model, opt, x[idx], y[idx])
    return time.perf_counter() - tic


class TorchWorker:
    """The PyTorch process: one epoch per request, the timing measured there."""

    def __init__(self, a, M: int, N: int) -> None:
        v, beta = default_activation_params(N)
        args = [sys.executable, str(Path(__file__).with_name("_torch_train.py"))]
        for name in ("threads", "images", "size", "batch_size", "seed"):
            args += [f"--{name.replace('_', '-')}", str(getattr(a, name))]
        args += ["--M", str(M), "--N", str(N), "--lr", str(LR)]
        args += ["--widths", *map(str, a.widths), "--pool-after", *map(str, a.pool_after)]
        args += ["--v", *map(str, v), "--beta", *map(str, beta)]
        pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True}
        self.proc = subprocess.Popen(args, **pipes)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the PyTorch process did not start")

    def train(self, kind: str, seed: int, first: int, stop: int) -> float:
        self.proc.stdin.write(f"{kind} {seed} {first} {stop}\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())["seconds"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def main() -> None:
    a = ARGS
    x, y = synthetic_images(a.images, a.size, a.seed)
    pairs = [tuple(int(v) for v in c.split(",")) for c in a.configs]
    common = {"widths": a.widths, "pool_after": a.pool_after}
    models = {"FP": small_cnn(conv="fp", **common)}
    models.update({f"M={m},N={n}": small_cnn(conv=abc_conv(M=m, N=n), **common) for m, n in pairs})
    headline = f"M={pairs[0][0]},N={pairs[0][1]}"
    opts = {name: Adam(model, lr=LR) for name, model in models.items()}
    for name, model in models.items():  # warm-up: workspaces, pages
        train_seconds(model, opts[name], x[:128], y[:128], a.batch_size, 0)
    worker = None
    if importlib.util.find_spec("torch") is not None:
        worker = TorchWorker(a, *pairs[0])
    ours = {name: [0.0] * a.rounds for name in models}
    theirs = {"FP": [0.0] * a.rounds, headline: [0.0] * a.rounds}
    kinds = {"FP": "FP", headline: "ABC"}
    n_batches = -(-len(y) // a.batch_size)
    edges = np.linspace(0, n_batches, a.chunks + 1).astype(int)
    for r in range(a.rounds):
        # Each epoch in chunks of minibatches, the two sides alternating chunk by chunk.
        for first, stop in zip(edges[:-1], edges[1:], strict=True):
            for name, model in models.items():
                ours[name][r] += train_seconds(
                    model, opts[name], x, y, a.batch_size, r + 1, first, stop
                )
                if worker is not None and name in kinds:
                    theirs[name][r] += worker.train(kinds[name], r + 1, first, stop)
    if worker is not None:
        worker.close()
        import torch

        torch_version = torch.__version__
    else:
        torch_version = None

    print(
        f"small_cnn {'-'.join(map(str, a.widths))} on {a.images} synthetic {a.size}x{a.size} "
        f"images, pools after convs {a.pool_after}, Adam lr {LR}, batch {a.batch_size}; "
        f"{a.threads} threads each; median of {a.rounds} epochs in {a.chunks} alternating chunks"
    )
    print(f"{'model':<12} {'abcref s':>9} {'torch s':>8} {'abcref/torch':>13} {'x FP':>6}")
    median = {name: float(np.median(t)) for name, t in ours.items()}
    measured = {
        "threads": a.threads,
        "images": a.images,
        "headline": headline,
        "torch": torch_version,
        "seconds_per_epoch": median,
        "ratios": {name: float(np.median(np.divide(t, ours["FP"]))) for name, t in ours.items()},
        "torch_seconds_per_epoch": {},
        "over_torch": {},
    }
    for name in models:
        mine, fp_ratio = median[name], measured["ratios"][name]
        if name in theirs and theirs[name]:
            other = float(np.median(theirs[name]))
            ratio = float(np.median(np.divide(ours[name], theirs[name])))
            measured["torch_seconds_per_epoch"][name] = other
            measured["over_torch"][name] = ratio
            print(f"{name:<12} {mine:9.2f} {other:8.2f} {ratio:13.2f} {fp_ratio:6.2f}")
        else:
            print(f"{name:<12} {mine:9.2f} {'n/a':>8} {'n/a':>13} {fp_ratio:6.2f}")
    if torch_version is None:
        print("torch not importable: install it to compare (pip install torch)")
    else:
        fp_torch = np.divide(theirs[headline], theirs["FP"])
        measured["torch_abc_over_fp"] = float(np.median(fp_torch))
        print(f"torch {torch_version}: ABC / FP = {measured['torch_abc_over_fp']:.2f}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if a.json:
        Path(a.json).write_text(json.dumps(measured, indent=1) + "\n")


if __name__ == "__main__":
    main()
