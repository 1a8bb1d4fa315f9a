"""Time abcref's conv2d against PyTorch's CPU Conv2d, side by side.

Default layer: N=32, 64 -> 64 channels, 28x28, 3x3 kernel, padding 1,
float32, with bias. abcref's trainer uses the fast tier
(``abcref.fast.conv``); the reference ``abcref.ops.conv2d`` is timed too,
to show what reading the math costs. PyTorch (if importable) runs in a
separate process so that its thread pool and NumPy's BLAS pool do not
compete.

    python benchmarks/bench_conv.py [--repeats 20] [--threads 2] [--json FILE]

``--json FILE`` also writes the measurements as JSON (``run_all.py``).
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

import numpy as np

from abcref import ops
from abcref.fast.conv import conv2d_backward, conv2d_forward


def median_ms(fn, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def bench_abcref(a) -> dict:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((a.n, a.c, a.size, a.size), dtype=np.float32)
    w = rng.standard_normal((a.o, a.c, a.kernel, a.kernel), dtype=np.float32)
    b = rng.standard_normal(a.o, dtype=np.float32)
    padding = (a.padding, a.padding)
    out, _ = conv2d_forward(x, w, b, padding=padding)
    dout = rng.standard_normal(out.shape, dtype=np.float32)

    def forward():
        # a forward whose cache is dropped: what inference costs
        conv2d_forward(x, w, b, padding=padding)

    def forward_backward():
        _, cache = conv2d_forward(x, w, b, padding=padding)
        conv2d_backward(dout, cache)

    def reference_forward_backward():
        _, cache = ops.conv2d_forward(x, w, b, padding=a.padding)
        ops.conv2d_backward(dout, cache)

    return {
        "forward_ms": median_ms(forward, a.repeats, a.warmup),
        "forward_backward_ms": median_ms(forward_backward, a.repeats, a.warmup),
        "reference_forward_backward_ms": median_ms(
            reference_forward_backward, a.repeats, a.warmup
        ),
    }


def bench_torch(a) -> dict | None:
    if importlib.util.find_spec("torch") is None:
        return None
    script = Path(__file__).with_name("_torch_conv.py")
    args = [sys.executable, str(script)]
    for name in ("n", "c", "o", "size", "kernel", "padding", "threads", "repeats", "warmup"):
        args += [f"--{name}", str(getattr(a, name))]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--c", type=int, default=64)
    p.add_argument("--o", type=int, default=64)
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--kernel", type=int, default=3)
    p.add_argument("--padding", type=int, default=1)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads")
    p.add_argument("--repeats", type=int, default=15, help="timed calls per round")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument(
        "--rounds", type=int, default=3, help="alternate abcref and torch this many times"
    )
    p.add_argument("--json", metavar="FILE", help="also write the measurements as JSON")
    a = p.parse_args()

    blas_env = {
        k: os.environ.get(k, "<unset>")
        for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS")
    }
    print(
        f"conv2d N={a.n} {a.c}->{a.o} {a.size}x{a.size} k={a.kernel} p={a.padding} float32, "
        f"bias; median of {a.repeats} calls after {a.warmup} warm-up, {a.rounds} rounds"
    )
    print(f"numpy {np.__version__}; env {blas_env}")
    keys = (("forward_ms", "forward"), ("forward_backward_ms", "forward+backward"))
    # Alternating rounds expose both to the same background load; the
    # reported ratio is the median of the per-round ratios.
    ours, theirs = [], []
    for _ in range(a.rounds):
        ours.append(bench_abcref(a))
        result = bench_torch(a)
        if result is not None:
            theirs.append(result)
    print(f"{'':18}{'abcref ms':>12}{'torch ms':>12}{'ratio':>8}")
    measured = {"torch": None, "torch_threads": None}
    for key, label in keys:
        mine = float(np.median([r[key] for r in ours]))
        measured[f"abcref_{key}"] = mine
        if not theirs:
            print(f"{label:18}{mine:12.1f}{'n/a':>12}{'n/a':>8}")
            continue
        other = float(np.median([r[key] for r in theirs]))
        ratio = float(np.median([m[key] / t[key] for m, t in zip(ours, theirs, strict=True)]))
        measured[f"torch_{key}"], measured[f"{key[:-3]}_ratio"] = other, ratio
        print(f"{label:18}{mine:12.1f}{other:12.1f}{ratio:8.2f}")
    fast = float(np.median([r["forward_backward_ms"] for r in ours]))
    reference = float(np.median([r["reference_forward_backward_ms"] for r in ours]))
    measured["reference_over_fast"] = reference / fast
    print(
        f"reference abcref.ops.conv2d forward+backward: {reference:.1f} ms "
        f"({reference / fast:.2f}x the fast tier)"
    )
    if not theirs:
        print("torch not importable: install it to compare (pip install torch)")
    else:
        measured["torch"], measured["torch_threads"] = theirs[0]["torch"], theirs[0]["threads"]
        print(f"torch {theirs[0]['torch']} with {theirs[0]['threads']} threads (separate process)")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if a.json:
        Path(a.json).write_text(json.dumps(measured, indent=1) + "\n")


if __name__ == "__main__":
    main()
