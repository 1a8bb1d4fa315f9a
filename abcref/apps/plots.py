"""Figures of a sweep: the (M, N) heatmap and the training curves, as PNG files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from abcref._io import save_png
from abcref.apps.results import SweepResult, n_label

__all__ = ["plot_curves", "plot_heatmap"]


def plot_heatmap(result: SweepResult, path, *, metric: str = "test_top1", dpi: int = 100) -> Path:
    """Draw ``result.mn_grid(metric)`` as an annotated heatmap PNG.

    Cells show mean ± std over seeds in percent (for accuracies), rows M,
    columns N; the full-precision mean is in the title. Uses
    :func:`abcref.viz.plot_accuracy_heatmap`.
    """
    from abcref.viz import plot_accuracy_heatmap

    grid = result.mn_grid(metric)
    scale = 100.0 if "top" in metric else 1.0
    spread = np.where(np.isfinite(grid.std), grid.std, 0.0) * scale
    fp = None if grid.full_precision is None else scale * grid.full_precision[0]
    seeds = len(result.settings.get("seeds", []))
    name = metric.replace("_", " ").replace("top1", "top-1").replace("top5", "top-5")
    title = f"{name}{' (%)' if scale == 100 else ''}, mean ± std over {seeds} seed(s)"
    Ns = [n_label(n) for n in grid.Ns]
    fig = plot_accuracy_heatmap(
        grid.mean * scale, grid.Ms, Ns, spread=spread, full_precision=fp, title=title, dpi=dpi
    )
    return save_png(fig, path)


def plot_curves(
    result: SweepResult,
    path,
    *,
    labels: Sequence[str] | None = None,
    seed: int | None = None,
    dpi: int = 100,
) -> Path:
    """Training loss and test top-1 per epoch, one line per label (one seed).

    ``labels`` default to all; ``seed`` defaults to the sweep's first.
    Uses :func:`abcref.viz.plot_training_curves`.
    """
    from abcref.viz import plot_training_curves

    labels = result.labels if labels is None else list(labels)
    seed = result.settings["seeds"][0] if seed is None else seed
    histories = {}
    for label in labels:
        if (label, seed) not in result.histories:
            raise KeyError(f"no run ({label!r}, seed {seed}) in this sweep")
        histories[label] = result.histories[label, seed]
    fig = plot_training_curves(histories, dpi=dpi)
    return save_png(fig, path)
