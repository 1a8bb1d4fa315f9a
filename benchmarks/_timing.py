"""Helpers shared by the benchmark scripts (imported, not run)."""

from __future__ import annotations

import time

import numpy as np


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


def synthetic_images(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stand-in data for timing: ``x`` (n, 1, size, size) float32, ``y`` (n,) in 0..9.

    Both sides of a comparison draw the same arrays from the same seed.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 1, size, size), dtype=np.float32)
    return x, rng.integers(0, 10, n)
