"""Tests of abcref.apps.plots: the heatmap and training curves of a sweep, as PNG files."""

from __future__ import annotations

import pytest

from abcref.apps.plots import plot_curves, plot_heatmap
from abcref.apps.sweep import FULL_PRECISION, grid_configs, run_sweep
from abcref.data import load_digits

TINY = {"arch": "small_cnn", "widths": [4, 8]}


@pytest.fixture(scope="module")
def result():
    """A real sweep: full precision and (M, N) in {1, 2}^2, seeds 0 and 1, on 96 digits."""
    configs = grid_configs([1, 2], [1, 2], base=TINY)
    return run_sweep(configs, data=load_digits(limit=96), seeds=(0, 1), epochs=1, batch_size=32)


def test_heatmap_and_curves_png(result, tmp_path):
    path = plot_heatmap(result, tmp_path / "heatmap.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    curves = plot_curves(result, tmp_path / "curves.png", labels=[FULL_PRECISION, "M=2, N=2"])
    assert curves.stat().st_size > 1000
    with pytest.raises(KeyError, match="no run"):
        plot_curves(result, tmp_path / "c.png", seed=7)
