"""Training throughput of the default ABC model vs full precision.

Trains the default ``small_cnn`` (FP conv 1->32, BN, ABC 32->64, BN,
ABC 64->64 + max-pool, BN, ABC 64->64, BN, GAP, FP linear) on the
embedded digits with Adam, batch 64, for one epoch per measurement, in
full precision and with ABC layers at several (M, N). Measurements
alternate between configurations and the best of ``--repeats`` is kept,
so background load affects every configuration alike.

Prints seconds per epoch, images per second and the ratio to full
precision; the goal for M = N = 3 is an ABC step within (N + 1)x of the
full-precision step.

    python benchmarks/bench_train.py [--repeats 3] [--configs 3,3 1,1 5,5] [--json FILE]

On a machine with other work running, multi-threaded OpenBLAS can spin
waiting for busy cores; if the times are far off, compare with
``OPENBLAS_NUM_THREADS=1`` (printed with the results).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from abcref.data import load_digits
from abcref.nn import abc_conv, small_cnn
from abcref.train import Adam, train_step


def epoch_seconds(model, x, y, batch_size: int, seed: int) -> float:
    """Wall time of one training epoch (shuffled minibatches, Adam)."""
    opt = Adam(model, lr=3e-3)
    perm = np.random.default_rng(seed).permutation(len(y))
    model.train()
    tic = time.perf_counter()
    for start in range(0, len(y), batch_size):
        idx = perm[start : start + batch_size]
        train_step(model, opt, x[idx], y[idx])
    return time.perf_counter() - tic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="epochs per config (best kept)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--configs",
        nargs="+",
        default=["3,3", "1,1", "3,1", "1,3", "5,5"],
        help="M,N pairs to time besides full precision (first one is the headline)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the measurements as JSON")
    args = parser.parse_args()
    data = load_digits()
    x, y = data.x_train, data.y_train
    pairs = [tuple(int(v) for v in c.split(",")) for c in args.configs]
    models = {"FP": small_cnn(conv="fp")}
    models.update({f"M={m},N={n}": small_cnn(conv=abc_conv(M=m, N=n)) for m, n in pairs})
    for model in models.values():  # warm-up: allocate workspaces, fault in pages
        epoch_seconds(model, x[:128], y[:128], args.batch_size, 0)
    best = {name: float("inf") for name in models}
    for r in range(args.repeats):
        for name, model in models.items():
            best[name] = min(best[name], epoch_seconds(model, x, y, args.batch_size, r))

    n_img = len(y)
    fp = best["FP"]
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    print(
        f"embedded digits: {n_img} training images, batch {args.batch_size}, "
        f"best of {args.repeats} epochs, OPENBLAS_NUM_THREADS={threads}"
    )
    print(f"{'model':<12} {'s/epoch':>8} {'images/s':>9} {'x FP':>6}")
    for name, sec in best.items():
        print(f"{name:<12} {sec:8.3f} {n_img / sec:9.0f} {sec / fp:6.2f}")
    m, n = pairs[0]
    ratio = best[f"M={m},N={n}"] / fp
    verdict = "within" if ratio <= n + 1 else "NOT within"
    print(f"ABC (M={m}, N={n}) step / FP step = {ratio:.2f} ({verdict} the goal (N+1) = {n + 1})")
    if args.json:
        measured = {
            "headline": f"M={m},N={n}",
            "seconds_per_epoch": best,
            "ratios": {name: sec / fp for name, sec in best.items()},
            "blas_threads": threads,
        }
        Path(args.json).write_text(json.dumps(measured, indent=1) + "\n")


if __name__ == "__main__":
    main()
