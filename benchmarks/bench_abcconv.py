"""ABC convolution forward+backward vs a plain float convolution.

Shape: batch 32, 64 -> 64 channels, 28x28, 3x3 kernel, padding 1,
float32; ABC-Net with M = N = 3 (whole-layer and channel-wise weights).
Prints the best-of-k wall time of each, measured round-robin, and the
ratio to the plain fast conv forward+backward (``abcref.fast.conv``):
the trainer's ABC conv (``abcref.fast.abcconv``, one float convolution)
and the reference (``abcref.binarize``, the M x N sum of eq. 12).

    python benchmarks/bench_abcconv.py [--repeats 7] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from _timing import interleaved_best_times  # benchmarks/ is on sys.path when run

from abcref import binarize
from abcref.binarize import default_activation_params
from abcref.fast.abcconv import abc_conv2d_backward, abc_conv2d_forward
from abcref.fast.conv import conv2d_backward, conv2d_forward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", metavar="FILE", help="also write the ratios as JSON")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    dtype = np.float32
    x = rng.normal(size=(32, 64, 28, 28)).astype(dtype)
    W = (rng.normal(size=(64, 64, 3, 3)) * 0.05).astype(dtype)
    dout = rng.normal(size=(32, 64, 28, 28)).astype(dtype)
    v, beta = default_activation_params(3, dtype)

    def plain():
        _, cache = conv2d_forward(x, W, padding=(1, 1))
        conv2d_backward(dout, cache)

    def abc(per_channel):
        def run():
            kw = {"M": 3, "padding": (1, 1), "per_channel": per_channel}
            _, cache = abc_conv2d_forward(x, W, v, beta, **kw)
            abc_conv2d_backward(dout, cache)

        return run

    def reference():
        _, cache = binarize.abc_conv2d_forward(x, W, v, beta, M=3, padding=1)
        binarize.abc_conv2d_backward(dout, cache)

    times = interleaved_best_times(
        {
            "plain conv2d        ": plain,
            "ABC whole-layer     ": abc(False),
            "ABC channel-wise    ": abc(True),
            "reference M x N sum ": reference,
        },
        args.repeats,
    )
    t_plain = times["plain conv2d        "]
    print(f"shape x {x.shape}, W {W.shape}, padding 1, {np.dtype(dtype).name}, M = N = 3")
    for name, t in times.items():
        print(f"{name}  forward+backward: {t * 1e3:8.1f} ms   ({t / t_plain:.2f}x)")
    if args.json:
        ratios = {name.strip(): t / t_plain for name, t in times.items()}
        measured = {"plain_ms": 1e3 * t_plain, "ratios": ratios}
        Path(args.json).write_text(json.dumps(measured, indent=1) + "\n")


if __name__ == "__main__":
    main()
