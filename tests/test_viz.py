"""Tests of abcref.viz: the plotting functions draw what they are given, and explain it.

Every drawing function's figure passes the rule of ``tests/_figure_checks.py``
(dpi, font sizes, axis labels, labelled colour bars, legends); the tests
below also check the key each figure needs (the definition of err, the
+1/-1 key and t, the colour bar label, a legend per panel).
"""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from abcref import viz
from abcref.binarize import approximate_weights, binarize_activations, combine_bases  # noqa: E402
from abcref.nn import abc_conv, build_model  # noqa: E402
from abcref.train import History  # noqa: E402
from tests._figure_checks import MIN_FONT, assert_explains_itself, problems  # noqa: E402


def _images(ax):
    return ax.get_images()


def _colorbars(fig):
    return [ax._colorbar for ax in fig.axes if hasattr(ax, "_colorbar")]


def test_the_figure_rule_catches_what_it_names():
    """The rule fails a figure for each thing it requires, and passes a good one."""
    fig = Figure(dpi=80)
    ax = fig.subplots()
    ax.plot([1, 2], [3, 4], label="a")
    ax.plot([1, 2], [4, 3], label="b")
    ax.set_title("small", fontsize=6)
    image = fig.add_axes((0.7, 0.7, 0.2, 0.2))
    image.imshow(np.eye(3))
    fig.colorbar(image.get_images()[0], ax=image)
    found = "\n".join(problems(fig))
    for needed in (
        "dpi 80",
        "'small' at 6",
        "no x label",
        "no y label",
        "no legend",
        "colour bar without a label",
        "no labelled colour bar",
    ):
        assert needed in found, needed
    fig.set_dpi(100)
    ax.set_title("big enough", fontsize=MIN_FONT)
    ax.set(xlabel="x", ylabel="y")
    ax.legend()
    fig.axes[-1]._colorbar.set_label("value")
    image.set_xticks([])
    image.set_yticks([])
    assert_explains_itself(fig)


def test_reconstruction_error_matches_definition_and_gaussian_limit():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(8, 4, 3, 3))
    B, alphas = approximate_weights(W, 3)
    expected = np.sum((W - combine_bases(B, alphas)) ** 2) / np.sum(W**2)
    assert viz.reconstruction_error(W, 3) == pytest.approx(expected, rel=1e-12)
    big = rng.normal(size=(64, 64, 3, 3))
    assert viz.reconstruction_error(big, 1) == pytest.approx(viz.GAUSSIAN_M1_ERROR, abs=5e-3)
    with pytest.raises(ValueError, match="all zeros"):
        viz.reconstruction_error(np.zeros((2, 2, 1, 1)) + 0.0 * W[:2, :2, :1, :1], 1)


def test_plot_weight_approximation_layout_and_content():
    W = np.random.default_rng(1).normal(size=(5, 2, 3, 3))
    fig = viz.plot_weight_approximation(W, Ms=(1, 3), num_filters=4, in_channel=1)
    assert isinstance(fig, Figure)
    assert_explains_itself(fig)
    axes = fig.axes
    assert len(axes) == 3 * (4 + 1) + 1  # the grid, then the colour bar
    # every filter shares the colour bar's scale, which says what it shows
    (colorbar,) = _colorbars(fig)
    assert "weight value" in colorbar.ax.get_xlabel()
    assert all(_images(ax)[0].get_clim() == colorbar.mappable.get_clim() for ax in axes[:-1]
               if _images(ax))  # fmt: skip
    # err is printed per row and defined in the title, as what reconstruction_error computes
    assert axes[5].get_ylabel() == f"M = 1\nerr = {viz.reconstruction_error(W, 1):.3f}"
    title = fig.get_suptitle()
    assert "err $= \\|W - \\tilde W\\|^2 / \\|W\\|^2$" in title
    # the histograms have a y axis: counts
    assert all(axes[r * 5 + 4].get_ylabel() == "count" for r in range(3))
    image_axes = [ax for ax in axes if _images(ax)]
    assert len(image_axes) == 3 * 4
    # row 0 shows the real filters, row 2 the M = 3 approximation
    np.testing.assert_array_equal(_images(axes[0])[0].get_array(), W[0, 1])
    B, alphas = approximate_weights(W, 3)
    np.testing.assert_allclose(
        _images(axes[2 * 5 + 3])[0].get_array(), combine_bases(B, alphas)[3, 1]
    )
    # the histogram of the M = 1 row has exactly two occupied bins (two levels)
    heights = [p.get_height() for p in axes[1 * 5 + 4].patches]
    assert sum(h > 0 for h in heights) == 2
    assert sum(heights) == W.size
    with pytest.raises(ValueError, match="in_channel"):
        viz.plot_weight_approximation(W, in_channel=2)


def test_plot_error_vs_m_lines():
    curves = {"a": ([1, 2, 3], [0.36, 0.26, 0.12]), "b": ([1, 2], [0.5, 0.4])}
    fig = viz.plot_error_vs_m(curves)
    assert_explains_itself(fig)
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert len(lines) == 3  # two curves and the 1 - 2/pi reference
    np.testing.assert_array_equal(lines[0].get_ydata(), [0.36, 0.26, 0.12])
    np.testing.assert_array_equal(lines[1].get_xdata(), [1, 2])
    assert lines[2].get_ydata()[0] == pytest.approx(1 - 2 / np.pi)
    assert len(viz.plot_error_vs_m(curves, reference=None).axes[0].get_lines()) == 2


def test_plot_accuracy_heatmap_values_and_labels():
    acc = np.array([[95.0, 97.5], [96.0, np.nan]])
    spread = np.array([[0.5, 0.2], [0.1, np.nan]])
    fig = viz.plot_accuracy_heatmap(acc, [1, 3], [1, 3], spread=spread, full_precision=99.2)
    assert_explains_itself(fig)
    (colorbar,) = _colorbars(fig)
    assert colorbar.ax.get_ylabel() == "test top-1 (%)"
    other = viz.plot_accuracy_heatmap(acc, [1, 3], [1, 3], colorbar_label="mean top-5 (%)")
    assert _colorbars(other)[0].ax.get_ylabel() == "mean top-5 (%)"
    ax = fig.axes[0]
    np.testing.assert_array_equal(_images(ax)[0].get_array().filled(np.nan), acc)
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["95.0\n±0.5", "97.5\n±0.2", "96.0\n±0.1"]  # NaN cell left blank
    assert "99.2" in ax.get_title()
    with pytest.raises(ValueError, match="shape"):
        viz.plot_accuracy_heatmap(acc, [1, 3, 5], [1, 3])


def test_binary_activation_maps_and_plot():
    model = build_model(
        {
            "arch": "small_cnn",
            "widths": [4, 6],
            "pool_after": [1],
            "conv": abc_conv(M=2, N=3),
            "seed": 0,
        }
    )
    x = np.random.default_rng(2).random((2, 1, 8, 8)).astype(np.float32)
    model.train()
    maps = viz.binary_activation_maps(model, x, "conv2")
    assert model.training  # mode restored
    model.eval()
    R = model.bn1.forward(model.conv1.forward(x))
    np.testing.assert_array_equal(maps, binarize_activations(R, model.conv2.params["v"]))
    assert maps.shape == (3, 2, 4, 8, 8)
    v = model.conv2.params["v"]
    fig = viz.plot_feature_maps(x[0, 0], maps[:, 0], channels=[0, 2], v=v)
    assert_explains_itself(fig)
    axes = np.array(fig.axes[:9]).reshape(3, 3)  # the grid, then the two colour bars
    # the key: which colour is +1 and which -1
    scale, key = _colorbars(fig)
    assert scale.ax.get_ylabel() == "pixel value"
    labels = [t.get_text() for t in key.ax.get_yticklabels()]
    ticks = dict(zip(key.get_ticks(), labels, strict=True))
    assert ticks == {-0.5: "\N{MINUS SIGN}1", 0.5: "+1"}
    assert key.cmap(key.norm(-0.5))[:3] == (0.0, 0.0, 0.0)  # -1 black
    assert key.cmap(key.norm(0.5))[:3] == (1.0, 1.0, 1.0)  # +1 white
    assert all(_images(ax)[0].cmap is key.cmap for ax in axes[:, 1:].ravel())
    # t is each row's threshold, explained in the title
    assert axes[1, 1].get_ylabel() == f"$A_2$\n$t_2$ = {0.5 - float(v[1]):+.2f}"
    assert "t_n = 0.5 - v_n" in fig.get_suptitle()
    assert "t_n" not in viz.plot_feature_maps(x[0, 0], maps[:, 0]).get_suptitle()
    np.testing.assert_array_equal(_images(axes[0, 0])[0].get_array(), x[0, 0])
    np.testing.assert_array_equal(_images(axes[1, 2])[0].get_array(), maps[1, 0, 2])
    assert not axes[1, 0].axison and not _images(axes[1, 0])
    with pytest.raises(ValueError, match="no binary activations"):
        viz.binary_activation_maps(model, x, "conv1")
    with pytest.raises(ValueError, match="children"):
        viz.binary_activation_maps(model, x, "conv9")
    with pytest.raises(ValueError, match="channels"):
        viz.plot_feature_maps(x[0, 0], maps[:, 0], channels=[4])


def test_plot_training_curves_lines():
    h = History(
        [
            {"epoch": 1, "train_loss": 1.0, "test_top1": 0.5},
            {"epoch": 2, "train_loss": 0.5, "test_top1": 0.75},
        ]
    )
    records = [{"epoch": 1, "train_loss": 2.0, "test_top1": 0.25}]
    fig = viz.plot_training_curves({"a": h, "b": records})
    assert_explains_itself(fig)
    loss_ax, acc_ax = fig.axes
    np.testing.assert_array_equal(loss_ax.get_lines()[0].get_ydata(), [1.0, 0.5])
    np.testing.assert_array_equal(acc_ax.get_lines()[0].get_ydata(), [50.0, 75.0])
    np.testing.assert_array_equal(acc_ax.get_lines()[1].get_xdata(), [1])
    for ax in (loss_ax, acc_ax):  # a legend on every panel
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    assert acc_ax.get_ylabel() == "test top-1 (%)"


def test_plot_training_curves_averages_seeds():
    def run(losses):
        return [
            {"epoch": e + 1, "train_loss": x, "test_top1": x / 4} for e, x in enumerate(losses)
        ]

    seeds = [run([1.0, 0.5]), History(run([2.0, 0.25])), run([3.0, 0.75])]
    fig = viz.plot_training_curves({"three seeds": seeds}, title="mean over 3 seeds")
    assert_explains_itself(fig)
    assert fig.get_suptitle() == "mean over 3 seeds"
    loss_ax, acc_ax = fig.axes
    np.testing.assert_allclose(loss_ax.get_lines()[0].get_ydata(), [2.0, 0.5])
    np.testing.assert_allclose(acc_ax.get_lines()[0].get_ydata(), [50.0, 12.5])
    (band,) = loss_ax.collections  # lowest to highest seed
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(0.25) and ys.max() == pytest.approx(3.0)
    with pytest.raises(ValueError, match="share their epochs"):
        viz.plot_training_curves({"x": [run([1.0, 0.5]), run([1.0])]})
