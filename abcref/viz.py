"""Plots used by ``figures/`` and the tutorials.

Every ``plot_*`` function takes arrays (or abcref objects), draws one
small matplotlib figure and returns it; nothing is shown or saved here
(:mod:`abcref.apps.figures` saves). Helpers that compute what is plotted
call the library (:mod:`abcref.binarize`), they never re-implement it.

Each figure explains itself: both axes of every plot labelled, every
image's colours in a labelled colour bar, a legend on every panel that
compares lines, the meaning of a symbol (err, t) in the title, :data:`DPI`
dots per inch and no text under 8 points.

Public names
------------
reconstruction_error       ||W - sum_m alpha_m B_m||^2 / ||W||^2
binary_activation_maps     the N binary maps A_n feeding an ABC layer
plot_weight_approximation  filters and histograms, W against W_tilde (S2)
plot_error_vs_m            reconstruction error against M
plot_accuracy_heatmap      test accuracy over (M, N)
plot_feature_maps          input image and its binary maps A_n (S3)
plot_training_curves       loss and accuracy per epoch (mean over seeds)
DPI                        the figures' default resolution
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from abcref._checks import check_array, check_int
from abcref.binarize import approximate_weights, binarize_activations, combine_bases

#: Gaussian weights, M = 1: relative error 1 - 2/pi (see tutorial 01).
GAUSSIAN_M1_ERROR = 1.0 - 2.0 / np.pi

#: Resolution of every figure (dots per inch) unless the caller asks otherwise; no
#: text of these figures is under 8 points, 11 pixels at this resolution.
DPI = 100


def reconstruction_error(W: np.ndarray, M: int, **options) -> float:
    """Relative squared error of the M-base approximation of ``W``.

    Parameters
    ----------
    W : ndarray, shape (C_out, ...)
    M : int
    **options
        Passed to :func:`abcref.binarize.approximate_weights`
        (``per_channel``, ``shifts``, ``ridge``, ``ddof``).

    Returns
    -------
    float
        ``||W - W_tilde||^2 / ||W||^2`` with ``W_tilde = sum alpha_m B_m``
        (computed in float64).
    """
    W = check_array(W, "W")
    B, alphas = approximate_weights(W, M, **options)
    W_tilde = combine_bases(B, alphas).astype(np.float64)
    W64 = W.astype(np.float64)
    norm = float(np.sum(W64 * W64))
    if norm == 0.0:
        raise ValueError("W must not be all zeros (the relative error is undefined)")
    return float(np.sum((W64 - W_tilde) ** 2) / norm)


def binary_activation_maps(model, x: np.ndarray, layer: str) -> np.ndarray:
    """Binary activations ``A_n = H_{v_n}(R)`` entering one ABC layer.

    Parameters
    ----------
    model : abcref.nn.Sequential
        A model whose top-level child ``layer`` is an ``ABCConv2d`` with
        binary activations (e.g. ``"conv2"`` of ``small_cnn``). It is run
        in eval mode up to (not including) that layer; its mode is
        restored afterwards.
    x : ndarray, shape (batch, C, H, W)
    layer : str
        Name of the ABC layer among the model's children.

    Returns
    -------
    A : ndarray, shape (N, batch, C_in, H', W')
        +1/-1, from :func:`abcref.binarize.binarize_activations` with the
        layer's trained ``v``.
    """
    children = model.children()
    if layer not in children:
        raise ValueError(
            f"layer must be one of the model's children {list(children)}, got {layer!r}"
        )
    target = children[layer]
    if "v" not in getattr(target, "params", {}):
        raise ValueError(f"layer {layer!r} has no binary activations (no parameter 'v')")
    was_training = model.training
    model.eval()
    try:
        R = x
        for name, child in children.items():
            if name == layer:
                break
            R = child.forward(R)
    finally:
        model.train(was_training)
    return binarize_activations(R, target.params["v"])


def _new_figure(width: float, height: float, dpi: int) -> Figure:
    # A bare Figure (no pyplot): no global state, nothing left open.
    return Figure(figsize=(width, height), dpi=dpi, layout="constrained")


def _hide_ticks(ax) -> None:
    # Pixel coordinates of a filter or a map mean nothing; the colour bar says what colours mean.
    ax.set_xticks([])
    ax.set_yticks([])


def plot_weight_approximation(
    W: np.ndarray,
    Ms: Sequence[int] = (1, 2, 3, 4, 5),
    *,
    num_filters: int = 6,
    in_channel: int = 0,
    per_channel: bool = False,
    dpi: int = DPI,
) -> Figure:
    """Filters and weight histograms: W against ``W_tilde = sum_m alpha_m B_m``.

    The paper's supplementary S2 visualisation. Row 0 shows the real
    filters ``W[o, in_channel]`` of the first ``num_filters`` output
    channels and the histogram of all of W; row ``k`` the same for the
    approximation with ``M = Ms[k-1]`` bases (whose histogram has at most
    ``2**M`` spikes), labelled with its error
    ``err = ||W - W_tilde||^2 / ||W||^2`` over the whole layer
    (:func:`reconstruction_error`), which the title defines. Every filter
    image uses one colour scale, shown by the colour bar; the histograms
    share their weight axis.

    Parameters
    ----------
    W : ndarray, shape (C_out, C_in, KH, KW)
    Ms : sequence of int
    num_filters : int
        Number of output channels shown (at most C_out).
    in_channel : int
        Which input channel of each filter is drawn.
    per_channel : bool
        Channel-wise approximation (section 3.1.2).
    dpi : int

    Returns
    -------
    Figure
        ``(len(Ms) + 1) * (num_filters + 1)`` axes, per row the images
        then the histogram, followed by the colour bar's axes.
    """
    W = check_array(W, "W", ndim=4)
    num_filters = min(check_int(num_filters, "num_filters", min_value=1), W.shape[0])
    in_channel = check_int(in_channel, "in_channel", min_value=0)
    if in_channel >= W.shape[1]:
        raise ValueError(f"in_channel must be < {W.shape[1]}, got {in_channel}")
    rows = [("W (real)", W)]
    for M in Ms:
        B, alphas = approximate_weights(W, M, per_channel=per_channel)
        err = reconstruction_error(W, M, per_channel=per_channel)
        rows.append((f"M = {M}\nerr = {err:.3f}", combine_bases(B, alphas)))
    limit = float(np.max(np.abs(W)))
    bins = np.linspace(float(W.min()), float(W.max()), 41)
    fig = _new_figure(1.0 * num_filters + 3.0, 1.05 * len(rows) + 1.5, dpi)
    ratios = [1.0] * num_filters + [2.6]
    axes = fig.subplots(len(rows), num_filters + 1, gridspec_kw={"width_ratios": ratios})
    axes = np.atleast_2d(axes)
    for r, (label, tensor) in enumerate(rows):
        for c in range(num_filters):
            ax = axes[r, c]
            image = ax.imshow(tensor[c, in_channel], cmap="RdBu_r", vmin=-limit, vmax=limit)
            _hide_ticks(ax)
            if c == 0:
                ax.set_ylabel(label, fontsize=9)
            if r == 0:
                ax.set_title(f"filter {c}", fontsize=9)
        hist = axes[r, num_filters]
        hist.hist(tensor.ravel(), bins=bins, color="C0" if r == 0 else "C3")
        hist.set_ylabel("count", fontsize=9)
        hist.yaxis.set_major_locator(MaxNLocator(3, integer=True))
        hist.tick_params(labelsize=8)
        if r < len(rows) - 1:
            hist.sharex(axes[-1, num_filters])
            hist.tick_params(labelbottom=False)
    axes[-1, num_filters].set_xlabel("weight value", fontsize=9)
    axes[0, num_filters].set_title("histogram of all weights", fontsize=9)
    colorbar = fig.colorbar(
        image, ax=axes[:, :num_filters], location="bottom", shrink=0.6, aspect=30
    )
    colorbar.set_label(f"weight value (input channel {in_channel} of each filter)", fontsize=9)
    colorbar.ax.tick_params(labelsize=8)
    scope = "per filter" if per_channel else "to the whole layer"
    fig.suptitle(
        r"Filters of $W$ and of $\tilde W = \sum_m \alpha_m B_m$ with $M$ bases"
        f" ($\\alpha_m$ fitted {scope})\n"
        r"err $= \|W - \tilde W\|^2 / \|W\|^2$, the relative squared error over all of $W$",
        fontsize=10,
    )
    return fig


def plot_error_vs_m(
    curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
    *,
    reference: float | None = GAUSSIAN_M1_ERROR,
    dpi: int = DPI,
) -> Figure:
    """Relative reconstruction error against the number of bases M.

    Parameters
    ----------
    curves : mapping label -> (Ms, errors)
        One line per entry (e.g. whole-layer and channel-wise).
    reference : float or None
        Drawn as a dotted horizontal line (default ``1 - 2/pi``, the
        Gaussian M = 1 value).
    dpi : int

    Returns
    -------
    Figure
        One axes, one line per curve (plus the reference line), y on a
        log scale.
    """
    fig = _new_figure(6.4, 3.0, dpi)
    ax = fig.subplots()
    for label, (Ms, errors) in curves.items():
        ax.plot(list(Ms), list(errors), marker="o", label=label)
    if reference is not None:
        ax.axhline(reference, color="gray", linestyle=":", label=f"1 - 2/pi = {reference:.3f}")
    ax.set_yscale("log")
    ax.set_xlabel("number of weight bases M")
    ax.set_ylabel(r"$\|W - \sum_m \alpha_m B_m\|^2 / \|W\|^2$")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    ax.grid(alpha=0.3)
    return fig


def plot_accuracy_heatmap(
    accuracy: np.ndarray,
    Ms: Sequence[int],
    Ns: Sequence[int],
    *,
    spread: np.ndarray | None = None,
    full_precision: float | None = None,
    title: str = "test top-1 (%)",
    dpi: int = DPI,
    colorbar_label: str = "test top-1 (%)",
) -> Figure:
    """Accuracy over (M, N) as an annotated heatmap (the paper's Table 2).

    Parameters
    ----------
    accuracy : ndarray, shape (len(Ms), len(Ns))
        Accuracy in percent; NaN for configurations not run.
    Ms, Ns : sequence of int
        Row (weight bases) and column (binary activations) labels.
    spread : ndarray, same shape, optional
        Printed as ``mean +- spread`` (e.g. std over seeds).
    full_precision : float, optional
        Full-precision accuracy, shown in the title.
    title : str
    dpi : int
    colorbar_label : str
        What the colours (and the cell texts) are.

    Returns
    -------
    Figure
        One heatmap axes (``images[0]`` holds ``accuracy``) with one text
        per finite cell, plus a labelled colour bar.
    """
    accuracy = np.asarray(accuracy, dtype=np.float64)
    if accuracy.shape != (len(Ms), len(Ns)):
        raise ValueError(
            f"accuracy must have shape (len(Ms), len(Ns)) = {(len(Ms), len(Ns))}, "
            f"got {accuracy.shape}"
        )
    if spread is not None and np.shape(spread) != accuracy.shape:
        raise ValueError(f"spread must have shape {accuracy.shape}, got {np.shape(spread)}")
    fig = _new_figure(1.2 * len(Ns) + 2.2, 0.9 * len(Ms) + 1.2, dpi)
    ax = fig.subplots()
    image = ax.imshow(accuracy, cmap="viridis", origin="lower", aspect="auto")
    colorbar = fig.colorbar(image, ax=ax, shrink=0.9)
    colorbar.set_label(colorbar_label, fontsize=9)
    finite = accuracy[np.isfinite(accuracy)]
    middle = float(finite.mean()) if finite.size else 0.0
    for i in range(len(Ms)):
        for j in range(len(Ns)):
            value = accuracy[i, j]
            if not np.isfinite(value):
                continue
            text = f"{value:.1f}"
            if spread is not None:
                text += f"\n±{spread[i, j]:.1f}"
            color = "white" if value < middle else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=9, color=color)
    ax.set_xticks(range(len(Ns)), [str(n) for n in Ns])
    ax.set_yticks(range(len(Ms)), [str(m) for m in Ms])
    ax.set_xlabel("binary activations N")
    ax.set_ylabel("weight bases M")
    if full_precision is not None:
        title = f"{title}; full precision {full_precision:.1f}"
    ax.set_title(title, fontsize=10)
    return fig


def plot_feature_maps(
    image: np.ndarray,
    maps: np.ndarray,
    *,
    channels: Sequence[int] | None = None,
    v: np.ndarray | None = None,
    dpi: int = DPI,
) -> Figure:
    """An input image and the N binary activation maps of a few channels.

    The paper's supplementary S3 idea: each row is one ``A_n``, each
    column one channel; a lower threshold ``t_n = 0.5 - v_n`` lights up
    more of the map. A two-colour key says which colour is +1 and which
    -1; a colour bar under the input gives its pixel scale; the title says
    what ``t`` is when ``v`` is given.

    Parameters
    ----------
    image : ndarray, shape (H, W)
        The input image.
    maps : ndarray, shape (N, C, H', W')
        +-1 maps of that image (one example of
        :func:`binary_activation_maps`).
    channels : sequence of int, optional
        Channels to show (default the first min(C, 6)).
    v : ndarray of shape (N,), optional
        Shifts, to label each row with its threshold ``t_n = 0.5 - v_n``.
    dpi : int

    Returns
    -------
    Figure
        ``N * (len(channels) + 1)`` axes, the image in column 0 of row 0
        (the other rows' column 0 are hidden), followed by the two colour
        bars' axes (input scale, then the +-1 key).
    """
    image = check_array(image, "image", ndim=2)
    maps = check_array(maps, "maps", ndim=4)
    N, C = maps.shape[:2]
    channels = list(range(min(C, 6))) if channels is None else list(channels)
    if not channels or min(channels) < 0 or max(channels) >= C:
        raise ValueError(f"channels must be indices in [0, {C}), got {channels}")
    # -1 black, +1 white: two colours, not a ramp, as A_n takes two values.
    binary = ListedColormap(["black", "white"], name="binary_minus_plus")
    fig = _new_figure(0.95 * (len(channels) + 1) + 1.3, 1.0 * N + 1.0, dpi)
    axes = np.atleast_2d(fig.subplots(N, len(channels) + 1, squeeze=False))
    drawn = None
    for n in range(N):
        first = axes[n, 0]
        if n == 0:
            shown = first.imshow(image, cmap="gray_r")
            first.set_title("input", fontsize=9)
            _hide_ticks(first)
        else:
            first.axis("off")
        for k, c in enumerate(channels):
            ax = axes[n, k + 1]
            drawn = ax.imshow(maps[n, c], cmap=binary, vmin=-1, vmax=1)
            _hide_ticks(ax)
            if n == 0:
                ax.set_title(f"channel {c}", fontsize=9)
            if k == 0:
                label = f"$A_{n + 1}$"
                if v is not None:
                    label += f"\n$t_{n + 1}$ = {0.5 - float(v[n]):+.2f}"
                ax.set_ylabel(label, fontsize=9)
    # Left of the input: column 0 is empty below it, so the colour bar costs no row height.
    scale = fig.colorbar(shown, ax=axes[0, 0], location="left", aspect=10)
    scale.set_label("pixel value", fontsize=9)
    scale.ax.yaxis.set_major_locator(MaxNLocator(3))
    scale.ax.tick_params(labelsize=8)
    key = fig.colorbar(drawn, ax=axes[:, 1:], location="right", shrink=min(1.0, 2.0 / N))
    key.set_ticks([-0.5, 0.5], labels=["\N{MINUS SIGN}1", "+1"])
    key.set_label("$A_n$ value", fontsize=9)
    key.ax.tick_params(labelsize=9)
    title = "$A_n$: the binary maps of the layer's input $R$"
    if v is not None:
        title += "\n$A_n = +1$ where $R \\geq t_n = 0.5 - v_n$, else $-1$ ($v_n$: learnt shift)"
    fig.suptitle(title, fontsize=10)
    return fig


def _records(history) -> list[dict]:
    if hasattr(history, "records"):
        return list(history.records)
    return list(history)


def _runs(value) -> list[list[dict]]:
    """The runs of one label: a History or a list of records is one run, else a list of runs."""
    if hasattr(value, "records"):
        return [_records(value)]
    value = list(value)
    if not value or isinstance(value[0], Mapping):
        return [value]
    return [_records(run) for run in value]


def plot_training_curves(
    histories: Mapping[str, object],
    *,
    metrics: Sequence[str] = ("train_loss", "test_top1"),
    dpi: int = DPI,
    title: str | None = None,
) -> Figure:
    """One panel per metric, one line per label, against epochs.

    Parameters
    ----------
    histories : mapping label -> History, list of records, or list of those
        ``abcref.train.History`` objects (or their ``records``): dicts
        with ``"epoch"`` and the metrics. A list of several runs (e.g. one
        per seed, with the same epochs) is drawn as their mean, with the
        range from the lowest to the highest run shaded.
    metrics : sequence of str
        Record keys; keys containing ``"top"`` are fractions and are
        drawn in percent.
    dpi : int
    title : str, optional
        Figure title (e.g. how many seeds each line averages).

    Returns
    -------
    Figure
        ``len(metrics)`` axes with one line per label and a legend each.
    """
    fig = _new_figure(3.6 * len(metrics), 3.2 if title is None else 3.5, dpi)
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    runs = {label: _runs(value) for label, value in histories.items()}
    for label, records in runs.items():
        epochs = {tuple(r["epoch"] for r in run) for run in records}
        if len(epochs) != 1:
            raise ValueError(
                f"the runs of {label!r} must share their epochs to be averaged, got "
                f"{sorted(epochs)}"
            )
    for ax, metric in zip(axes, metrics, strict=True):
        percent = "top" in metric
        for i, (label, records) in enumerate(runs.items()):
            epochs = [r["epoch"] for r in records[0]]
            values = np.array([[r[metric] for r in run] for run in records], dtype=np.float64)
            values = 100 * values if percent else values
            color = f"C{i % 10}"
            ax.plot(epochs, values.mean(axis=0), marker=".", label=label, color=color)
            if len(records) > 1:
                ax.fill_between(
                    epochs,
                    values.min(axis=0),
                    values.max(axis=0),
                    color=color,
                    alpha=0.2,
                    linewidth=0,
                )
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        name = metric.replace("_", " ").replace("top1", "top-1").replace("top5", "top-5")
        ax.set_ylabel(name + (" (%)" if percent else ""))
        if metric.endswith("loss"):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper right" if metric.endswith("loss") else "lower right")
    if title is not None:
        fig.suptitle(title, fontsize=10)
    return fig
