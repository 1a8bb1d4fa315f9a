"""Baseline convolutions (Table 3) forward+backward vs a plain float convolution.

Shape: batch 32, 64 -> 64 channels, 28x28, 3x3 kernel, padding 1,
float32 (the shape of ``bench_abcconv.py``). Prints the best-of-k wall
time of each kind, measured round-robin so that all run under the same
machine load, and its ratio to the plain ``abcref.fast.conv``
forward+backward: the cost of the quantizers themselves.

    python benchmarks/bench_baselines.py [--repeats 7] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from _timing import interleaved_best_times  # benchmarks/ is on sys.path when run

from abcref.fast.conv import conv2d_backward, conv2d_forward
from abcref.quantize import (
    quantized_conv2d_backward,
    quantized_conv2d_forward,
    xnornet_conv2d_backward,
    xnornet_conv2d_forward,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", metavar="FILE", help="also write the ratios as JSON")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 64, 28, 28)).astype(np.float32)
    W = (rng.normal(size=(64, 64, 3, 3)) * 0.05).astype(np.float32)
    dout = rng.normal(size=(32, 64, 28, 28)).astype(np.float32)

    def plain():
        _, cache = conv2d_forward(x, W, padding=(1, 1))
        conv2d_backward(dout, cache)

    def quantized(**kinds):
        def run():
            _, cache = quantized_conv2d_forward(x, W, padding=1, **kinds)
            quantized_conv2d_backward(dout, cache)

        return run

    def xnor(**options):
        def run():
            _, cache = xnornet_conv2d_forward(x, W, padding=1, **options)
            xnornet_conv2d_backward(dout, cache)

        return run

    fns = {
        "plain conv2d": plain,
        "bwn": quantized(weights="bwn", activations="fp"),
        "xnor (K, grad through K)": xnor(),
        "xnor (no K)": xnor(scale_input=False),
        "bnn": quantized(weights="sign", activations="sign"),
        "dorefa W1 A4": quantized(weights="dorefa", activations="dorefa", bits=4),
        "kbit K=4, fp weights": quantized(weights="fp", activations="dorefa", bits=4),
    }
    best = interleaved_best_times(fns, args.repeats)
    base = best["plain conv2d"]
    print(f"forward+backward, best of {args.repeats}, x {x.shape} float32, W {W.shape}")
    for name, seconds in best.items():
        print(f"{name:28s} {1e3 * seconds:8.1f} ms   x{seconds / base:5.2f} of plain conv2d")
    if args.json:
        measured = {"plain_ms": 1e3 * base, "ratios": {k: t / base for k, t in best.items()}}
        Path(args.json).write_text(json.dumps(measured, indent=1) + "\n")


if __name__ == "__main__":
    main()
