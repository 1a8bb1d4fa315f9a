"""PyTorch side of bench_conv.py; run in its own process (one BLAS pool each).

Prints ``{"torch": ..., "threads": ...}`` as one JSON line when ready, then
reads one line per round from stdin (the number of timed calls) and
answers each with ``{"forward_ms": ..., "forward_backward_ms": ...}``
(medians), so that bench_conv.py can alternate short rounds with its own.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch


def median_ms(fn, repeats: int, warmup: int, clock=time.perf_counter) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return 1e3 * float(np.median(times))


def main() -> None:
    p = argparse.ArgumentParser()
    for name in ("n", "c", "o", "size", "kernel", "padding", "threads", "warmup"):
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

    # One thread: the calling thread's CPU time, which other processes do not inflate.
    clock = time.thread_time if a.threads == 1 else time.perf_counter
    median_ms(forward_backward, a.warmup, a.warmup)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        repeats = int(line)
        round_ms = {
            "forward_ms": median_ms(forward, repeats, 1, clock),
            "forward_backward_ms": median_ms(forward_backward, repeats, 1, clock),
        }
        print(json.dumps(round_ms), flush=True)


if __name__ == "__main__":
    main()
