"""Figures of a sweep: the (M, N) heatmap and the training curves, as PNG files.

``heatmap_figure`` and ``curves_figure`` return the matplotlib figures;
``plot_heatmap`` and ``plot_curves`` save them. Everything is drawn from a
:class:`~abcref.apps.results.SweepResult`, so the figures of a saved sweep
(``sweep.json``) are drawn again, without training, from
``SweepResult.from_json`` (:func:`abcref.apps.reproduce.render_reproduce_figures`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from abcref._io import save_png
from abcref.apps.results import SweepResult, n_label

__all__ = ["curves_figure", "heatmap_figure", "plot_curves", "plot_heatmap"]


def _metric_name(metric: str) -> str:
    return metric.replace("_", " ").replace("top1", "top-1").replace("top5", "top-5")


def _seeds_text(count: int) -> str:
    return f"{count} seed{'' if count == 1 else 's'}"


def heatmap_figure(result: SweepResult, *, metric: str = "test_top1", dpi: int = 100):
    """``result.mn_grid(metric)`` as an annotated heatmap Figure.

    Cells show mean ± std over seeds in percent (for accuracies), rows M,
    columns N; the title states the seed count and the full-precision
    mean, the colour bar the metric. Uses
    :func:`abcref.viz.plot_accuracy_heatmap`.
    """
    from abcref.viz import plot_accuracy_heatmap

    grid = result.mn_grid(metric)
    scale = 100.0 if "top" in metric else 1.0
    spread = np.where(np.isfinite(grid.std), grid.std, 0.0) * scale
    fp = None if grid.full_precision is None else scale * grid.full_precision[0]
    seeds = len(result.settings.get("seeds", []))
    unit = " (%)" if scale == 100 else ""
    name = _metric_name(metric)
    title = f"{name}{unit}, mean ± std over {_seeds_text(seeds)}"
    Ns = [n_label(n) for n in grid.Ns]
    return plot_accuracy_heatmap(
        grid.mean * scale,
        grid.Ms,
        Ns,
        spread=spread,
        full_precision=fp,
        title=title,
        dpi=dpi,
        colorbar_label=f"mean {name}{unit}",
    )


def plot_heatmap(result: SweepResult, path, *, metric: str = "test_top1", dpi: int = 100) -> Path:
    """Save :func:`heatmap_figure` as a PNG at ``path``."""
    return save_png(heatmap_figure(result, metric=metric, dpi=dpi), path)


def curves_figure(
    result: SweepResult,
    *,
    labels: Sequence[str] | None = None,
    seed: int | None = None,
    dpi: int = 100,
):
    """Training loss and test top-1 per epoch, one line per label.

    ``labels`` default to all. Each line is the mean over the sweep's
    seeds with the lowest-to-highest range shaded, or the one run of
    ``seed`` if given; the title says which. Uses
    :func:`abcref.viz.plot_training_curves`.
    """
    from abcref.viz import plot_training_curves

    labels = result.labels if labels is None else list(labels)
    seeds = list(result.settings["seeds"]) if seed is None else [seed]
    histories = {}
    for label in labels:
        runs = []
        for s in seeds:
            if (label, s) not in result.histories:
                raise KeyError(f"no run ({label!r}, seed {s}) in this sweep")
            runs.append(result.histories[label, s])
        histories[label] = runs
    if seed is not None:
        title = f"one run per line (seed {seed})"
    elif len(seeds) == 1:
        title = f"one run per line (seed {seeds[0]}, the only seed)"
    else:
        title = f"mean over {_seeds_text(len(seeds))} per line; shaded: lowest to highest seed"
    return plot_training_curves(histories, dpi=dpi, title=title)


def plot_curves(
    result: SweepResult,
    path,
    *,
    labels: Sequence[str] | None = None,
    seed: int | None = None,
    dpi: int = 100,
) -> Path:
    """Save :func:`curves_figure` as a PNG at ``path``."""
    return save_png(curves_figure(result, labels=labels, seed=seed, dpi=dpi), path)
