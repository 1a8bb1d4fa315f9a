"""ABC convolution forward+backward vs a plain float convolution.

Shape: batch 32, 64 -> 64 channels, 28x28, 3x3 kernel, padding 1,
float32; ABC-Net with M = N = 3 (whole-layer and channel-wise weights).
Prints the best-of-k wall time of each, measured side by side, and the
ratio to the plain ``abcref.ops.conv2d`` forward+backward.

    python benchmarks/bench_abcconv.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from abcref.binarize import abc_conv2d_backward, abc_conv2d_forward, default_activation_params
from abcref.ops import conv2d_backward, conv2d_forward


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up (buffers, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    dtype = np.float32
    x = rng.normal(size=(32, 64, 28, 28)).astype(dtype)
    W = (rng.normal(size=(64, 64, 3, 3)) * 0.05).astype(dtype)
    dout = rng.normal(size=(32, 64, 28, 28)).astype(dtype)
    v, beta = default_activation_params(3, dtype)

    def plain():
        _, cache = conv2d_forward(x, W, padding=1)
        conv2d_backward(dout, cache)

    def abc(per_channel):
        def run():
            _, cache = abc_conv2d_forward(x, W, v, beta, M=3, padding=1, per_channel=per_channel)
            abc_conv2d_backward(dout, cache)

        return run

    t_plain = best_time(plain, args.repeats)
    print(f"shape x {x.shape}, W {W.shape}, padding 1, {np.dtype(dtype).name}, M = N = 3")
    print(f"plain conv2d     forward+backward: {t_plain * 1e3:8.1f} ms   (1.00x)")
    for per_channel in (False, True):
        t = best_time(abc(per_channel), args.repeats)
        name = "channel-wise" if per_channel else "whole-layer "
        print(f"ABC {name}  forward+backward: {t * 1e3:8.1f} ms   ({t / t_plain:.2f}x)")


if __name__ == "__main__":
    main()
