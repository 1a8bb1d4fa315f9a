"""PyTorch side of bench_conv.py; run in its own process (one BLAS pool each).

Prints one JSON line: {"forward_ms": ..., "forward_backward_ms": ..., ...}.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def median_ms(fn, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main() -> None:
    p = argparse.ArgumentParser()
    for name in ("n", "c", "o", "size", "kernel", "padding", "threads", "repeats", "warmup"):
        p.add_argument(f"--{name}", type=int, required=True)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(a.c, a.o, a.kernel, padding=a.padding)
    x = torch.randn(a.n, a.c, a.size, a.size, requires_grad=True)
    dout = torch.randn(
        a.n, a.o, a.size + 2 * a.padding - a.kernel + 1, a.size + 2 * a.padding - a.kernel + 1
    )

    def forward():
        with torch.no_grad():
            conv(x)

    def forward_backward():
        # the same three gradients abcref computes: dx, dW, db
        torch.autograd.grad(conv(x), [x, conv.weight, conv.bias], dout)

    print(
        json.dumps(
            {
                "forward_ms": median_ms(forward, a.repeats, a.warmup),
                "forward_backward_ms": median_ms(forward_backward, a.repeats, a.warmup),
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
