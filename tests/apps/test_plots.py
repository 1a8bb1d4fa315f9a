"""Tests of abcref.apps.plots: the heatmap and training curves of a sweep, as PNG files."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from abcref.apps.plots import curves_figure, heatmap_figure, plot_curves, plot_heatmap
from abcref.apps.sweep import FULL_PRECISION, grid_configs, run_sweep
from abcref.data import load_digits
from tests._figure_checks import assert_explains_itself

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


def test_the_heatmap_states_seeds_and_labels_its_colour_bar(result):
    fig = heatmap_figure(result)
    assert_explains_itself(fig)
    heatmap, colour_bar = fig.axes
    assert heatmap.get_title().startswith(
        "test top-1 (%), mean ± std over 2 seeds; full precision"
    )
    assert colour_bar.get_ylabel() == "mean test top-1 (%)"


def test_the_curves_average_the_seeds_and_say_so(result):
    labels = [FULL_PRECISION, "M=2, N=2"]
    fig = curves_figure(result, labels=labels)
    assert_explains_itself(fig)
    assert fig.get_suptitle().startswith("mean over 2 seeds per line")
    loss_ax, acc_ax = fig.axes
    for ax in fig.axes:  # a legend on every panel
        assert [t.get_text() for t in ax.get_legend().get_texts()] == labels
    runs = [result.histories["M=2, N=2", seed] for seed in (0, 1)]
    mean = np.mean([[100 * r["test_top1"] for r in run] for run in runs], axis=0)
    np.testing.assert_allclose(acc_ax.get_lines()[1].get_ydata(), mean)
    one = curves_figure(result, labels=labels, seed=1)
    assert one.get_suptitle() == "one run per line (seed 1)"
    np.testing.assert_allclose(
        one.axes[0].get_lines()[0].get_ydata(),
        [r["train_loss"] for r in result.histories[FULL_PRECISION, 1]],
    )
