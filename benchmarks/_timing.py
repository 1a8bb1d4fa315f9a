"""Timing helper shared by the benchmark scripts (imported, not run)."""

from __future__ import annotations

import time


def interleaved_best_times(fns: dict, repeats: int) -> dict:
    """Best-of-``repeats`` wall time of each function, run round-robin.

    Interleaving puts every candidate under the same machine load, so the
    ratios stay meaningful on a shared machine even when absolute times
    drift.
    """
    for fn in fns.values():
        fn()  # warm-up (buffers, caches)
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best
