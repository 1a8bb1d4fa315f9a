"""Time the xnor/popcount convolution against abcref's float32 BLAS convolution.

Same +-1 layer for both (default N=8, 64 -> 64 channels, 28x28, 3x3,
padding 1, ordinary zero padding), checked equal before timing. Both
sides get the same number of threads (``--threads``: BLAS through
``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS``, set before NumPy loads;
the popcount kernel through its thread pool). Measurements alternate
between the two so that load from other processes hits both alike.

With ``--threads 1`` times are the calling thread's CPU time (robust to
other processes on a shared machine); otherwise wall-clock time.

Reported: median milliseconds, the ratio float / xnor (> 1 means the
packed convolution is faster), binary multiply-accumulates per second,
and bytes per weight.

    python benchmarks/bench_bitpack.py [--threads 2] [--repeats 30] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def _parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--abc", action="store_true", help="also time a compiled M=N=3 ABC layer")
    p.add_argument("--json", metavar="FILE", help="also write the measurements as JSON")
    return p.parse_args()


ARGS = _parse()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402  (after the thread settings)

from abcref.compiler import compile_layer  # noqa: E402
from abcref.fast.conv import conv2d_forward  # noqa: E402
from abcref.fast.xnor import (  # noqa: E402
    pack_conv_input,
    pack_conv_weights,
    xnor_conv2d,
    xnor_popcount_conv2d_packed,
)


def _time_alternating(fns: dict, repeats: int) -> dict:
    """Median wall-clock ms per function, measured in alternation.

    With one thread, the calling thread's CPU time (``time.thread_time``)
    is used instead: it does not count time lost to other processes on a
    shared machine, and both BLAS and the popcount kernel then run in the
    calling thread.
    """
    clock = time.thread_time if ARGS.threads == 1 else time.perf_counter
    for fn in fns.values():  # warm-up
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = clock()
            fn()
            times[name].append(clock() - start)
    return {name: 1e3 * float(np.median(t)) for name, t in times.items()}


def main() -> int:
    a = ARGS
    rng = np.random.default_rng(0)
    x = np.where(rng.random((a.batch, a.channels, a.size, a.size)) < 0.5, -1, 1)
    w = np.where(rng.random((a.channels, a.channels, 3, 3)) < 0.5, -1, 1)
    x, w = x.astype(np.float32), w.astype(np.float32)

    float_out, _ = conv2d_forward(x, w, padding=(1, 1))
    xnor_out = xnor_conv2d(x, w, padding=(1, 1), num_threads=a.threads)
    if not np.array_equal(xnor_out, float_out):
        print("MISMATCH: xnor_conv2d differs from the float convolution", file=sys.stderr)
        return 1

    # Packed operands (weights packed once at compile time; activations as the engine packs them).
    x_words = pack_conv_input(x, padding=1, pad_value=1)
    w_words = pack_conv_weights(w)
    fns = {
        "float32 conv2d_forward (BLAS)": lambda: conv2d_forward(x, w, padding=(1, 1)),
        "xnor_conv2d (packs both, zero-pad fix)": lambda: xnor_conv2d(
            x, w, padding=(1, 1), num_threads=a.threads
        ),
        "xnor_popcount_conv2d_packed (words in)": lambda: xnor_popcount_conv2d_packed(
            x_words, w_words, num_threads=a.threads
        ),
    }
    ms = _time_alternating(fns, a.repeats)

    macs = a.batch * a.channels * a.size * a.size * a.channels * 9
    base = ms["float32 conv2d_forward (BLAS)"]
    print(
        f"layer: N={a.batch}, {a.channels}->{a.channels}, {a.size}x{a.size}, 3x3, pad 1; "
        f"{macs / 1e6:.1f} M MACs; threads={a.threads}; numpy {np.__version__}; "
        f"clock: {'thread CPU time' if a.threads == 1 else 'wall'}"
    )
    print(f"{'':44s} {'ms':>8s} {'float/this':>11s} {'G MAC/s':>9s}")
    for name, t in ms.items():
        print(f"{name:44s} {t:8.2f} {base / t:11.2f}x {macs / t / 1e6:9.1f}")
    print(
        f"bytes per weight: float32 {w.itemsize}, packed {w_words.nbytes / w.size:.4f} "
        f"({w.itemsize * w.size / w_words.nbytes:.0f}x smaller)"
    )
    measured = {
        "threads": a.threads,
        "float_ms": base,
        "speedups": {name: base / t for name, t in ms.items()},
        "gmacs": {name: macs / t / 1e6 for name, t in ms.items()},
        "bytes_per_weight": w_words.nbytes / w.size,
    }

    if a.abc:
        from abcref.nn.abcconv import ABCConv2d

        layer = ABCConv2d(a.channels, a.channels, 3, M=3, N=3, padding=1).eval()
        r = rng.standard_normal(x.shape).astype(np.float32)
        compiled = compile_layer(layer)
        abc_ms = _time_alternating(
            {
                "ABCConv2d.forward (float, eval)": lambda: layer.forward(r),
                "compiled ABC layer (9 popcount convs)": lambda: compiled.forward(
                    r, num_threads=a.threads
                ),
            },
            max(3, a.repeats // 3),
        )
        base = abc_ms["ABCConv2d.forward (float, eval)"]
        print("\nABC layer M = N = 3 (same input R):")
        for name, t in abc_ms.items():
            print(f"{name:44s} {t:8.2f} {base / t:11.2f}x")
        measured["abc_speedups"] = {name: base / t for name, t in abc_ms.items()}
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            f.write(json.dumps(measured, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
