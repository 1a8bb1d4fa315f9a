"""Time abcref's conv2d against PyTorch's CPU Conv2d, side by side.

Default layer: N=32, 64 -> 64 channels, 28x28, 3x3 kernel, padding 1,
float32, with bias. abcref's trainer uses the fast tier
(``abcref.fast.conv``); the reference ``abcref.ops.conv2d`` is timed
too, to show what reading the math costs. PyTorch (if importable) runs
in a separate process so that its thread pool and NumPy's BLAS pool do
not compete; both get ``--threads`` threads (BLAS through
``OPENBLAS_NUM_THREADS``, set before NumPy loads;
``torch.set_num_threads``). Short rounds (``--repeats`` calls each)
alternate between the two processes, so that load from other processes
hits both alike; each ratio is the median of the per-round ratios. With
``--threads 1`` both sides time the calling thread's CPU time, which other
processes on a shared machine do not inflate; otherwise wall-clock time.

    python benchmarks/bench_conv.py [--rounds 9] [--repeats 5] [--threads 2] [--json FILE]

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


def _parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--c", type=int, default=64)
    p.add_argument("--o", type=int, default=64)
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--kernel", type=int, default=3)
    p.add_argument("--padding", type=int, default=1)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads each")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per round")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument(
        "--rounds", type=int, default=9, help="alternate abcref and torch this many times"
    )
    p.add_argument("--json", metavar="FILE", help="also write the measurements as JSON")
    return p.parse_args()


ARGS = _parse()
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)

import numpy as np  # noqa: E402  (after the thread settings)

from abcref import ops  # noqa: E402
from abcref.fast.conv import conv2d_backward, conv2d_forward  # noqa: E402


def median_ms(fn, repeats: int, warmup: int, clock=time.perf_counter) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return 1e3 * float(np.median(times))


def bench_abcref(a, reference: bool = False) -> dict:
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

    clock = time.thread_time if a.threads == 1 else time.perf_counter
    if reference:
        reference_ms = median_ms(reference_forward_backward, 5, 1, clock)
        return {"reference_forward_backward_ms": reference_ms}
    return {
        "forward_ms": median_ms(forward, a.repeats, a.warmup, clock),
        "forward_backward_ms": median_ms(forward_backward, a.repeats, a.warmup, clock),
    }


class TorchWorker:
    """The PyTorch process: one round of timed calls per request."""

    def __init__(self, a) -> None:
        args = [sys.executable, str(Path(__file__).with_name("_torch_conv.py"))]
        for name in ("n", "c", "o", "size", "kernel", "padding", "threads", "warmup"):
            args += [f"--{name}", str(getattr(a, name))]
        pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True}
        self.proc = subprocess.Popen(args, **pipes)
        self.info = json.loads(self.proc.stdout.readline())

    def round(self, repeats: int) -> dict:
        self.proc.stdin.write(f"{repeats}\n")
        self.proc.stdin.flush()
        return {**json.loads(self.proc.stdout.readline()), **self.info}

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def main() -> None:
    a = ARGS
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
    worker = TorchWorker(a) if importlib.util.find_spec("torch") is not None else None
    for _ in range(a.rounds):
        ours.append(bench_abcref(a))
        if worker is not None:
            theirs.append(worker.round(a.repeats))
    if worker is not None:
        worker.close()
    print(f"{'':18}{'abcref ms':>12}{'torch ms':>12}{'ratio':>8}")
    measured = {"torch": None, "torch_threads": None, "abcref_threads": a.threads}
    measured["clock"] = "thread CPU time" if a.threads == 1 else "wall time"
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
    reference = bench_abcref(a, reference=True)["reference_forward_backward_ms"]
    measured["reference_over_fast"] = reference / fast
    print(
        f"reference abcref.ops.conv2d forward+backward: {reference:.1f} ms "
        f"({reference / fast:.2f}x the fast tier)"
    )
    if not theirs:
        print("torch not importable: install it to compare (pip install torch)")
    else:
        measured["torch"], measured["torch_threads"] = theirs[0]["torch"], theirs[0]["threads"]
        print(
            f"torch {theirs[0]['torch']} with {theirs[0]['threads']} threads (separate process); "
            f"abcref with OPENBLAS_NUM_THREADS={a.threads}"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if a.json:
        Path(a.json).write_text(json.dumps(measured, indent=1) + "\n")


if __name__ == "__main__":
    main()
