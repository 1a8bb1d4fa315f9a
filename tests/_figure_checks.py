"""The rule every figure abcref draws must pass: it explains itself.

:func:`assert_explains_itself` checks a matplotlib Figure (after a layout
pass, so tick labels exist):

- resolution: ``fig.dpi >= MIN_DPI`` (100);
- fonts: every visible, non-empty text (titles, axis and tick labels,
  legend entries, annotations) is at least ``MIN_FONT`` points (8 pt is
  11 pixels at 100 dpi);
- axes: each axis (x and y) of a *data* axes (no image) has a label and
  shows its tick labels (a scale), unless its tick labels are hidden
  because it shares that axis with an axes that has both (stacked or
  side-by-side panels are labelled once, at the outer edge);
- an *image* axes needs no axis labels when its ticks are hidden (pixel
  positions mean nothing); instead the meaning of its colours must be in a
  *labelled colour bar* of the figure drawn with the same colour map and
  limits. An axis of an image axes that shows tick labels (a heatmap's M
  and N) has a label;
- every colour bar has a label;
- an axes with two or more labelled lines has a legend.

Hidden axes (``axis("off")``) are skipped.
"""

from __future__ import annotations

from matplotlib.text import Text

MIN_DPI = 100
MIN_FONT = 8.0


def _texts(fig) -> list[Text]:
    return [
        t
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and t.get_figure(root=True) is fig
    ]


def _colorbar_label(cax) -> str:
    bar = cax._colorbar
    return cax.get_xlabel() if bar.orientation == "horizontal" else cax.get_ylabel()


def _tick_labels(axis) -> list[str]:
    return [t.get_text() for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]


def _key(mappable) -> tuple:
    return (mappable.get_cmap().name, *(round(float(v), 12) for v in mappable.get_clim()))


def _axis(ax, which: str):
    return ax.xaxis if which == "x" else ax.yaxis


def _labelled(axis) -> bool:
    return bool(axis.get_label_text().strip() and _tick_labels(axis))


def _shares_labelled(ax, which: str) -> bool:
    shared = ax.get_shared_x_axes() if which == "x" else ax.get_shared_y_axes()
    return any(
        other is not ax and _labelled(_axis(other, which)) for other in shared.get_siblings(ax)
    )


def problems(fig) -> list[str]:
    """What breaks the rule, one line per problem (empty: the figure passes)."""
    fig.draw_without_rendering()
    found = []
    if fig.dpi < MIN_DPI:
        found.append(f"dpi {fig.dpi} < {MIN_DPI}")
    for text in _texts(fig):
        if text.get_fontsize() < MIN_FONT:
            found.append(f"text {text.get_text()!r} at {text.get_fontsize()} pt < {MIN_FONT}")
    colorbars = [ax for ax in fig.axes if hasattr(ax, "_colorbar")]
    labelled = set()
    for cax in colorbars:
        if _colorbar_label(cax).strip():
            labelled.add(_key(cax._colorbar.mappable))
        else:
            found.append("a colour bar without a label")
    for index, ax in enumerate(fig.axes):
        if ax in colorbars or not ax.get_visible() or not ax.axison:
            continue
        name = f"axes {index} ({ax.get_title() or ax.get_ylabel() or 'untitled'!r})"
        images = ax.get_images()
        if images:
            for image in images:
                if _key(image) not in labelled:
                    found.append(f"{name}: its image's colours have no labelled colour bar")
            if _tick_labels(ax.xaxis) and not ax.get_xlabel():
                found.append(f"{name}: x tick labels but no x label")
            if _tick_labels(ax.yaxis) and not ax.get_ylabel():
                found.append(f"{name}: y tick labels but no y label")
        else:
            for which in "xy":
                axis = _axis(ax, which)
                if _tick_labels(axis) or not _shares_labelled(ax, which):
                    if not axis.get_label_text().strip():
                        found.append(f"{name}: no {which} label")
                    if not _tick_labels(axis):
                        found.append(f"{name}: no {which} scale ({which} tick labels hidden)")
        lines = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
        if len(lines) >= 2 and ax.get_legend() is None:
            found.append(f"{name}: {len(lines)} labelled lines but no legend")
    return found


def assert_explains_itself(fig) -> None:
    """Fail with every problem of ``fig`` against the rule of this module."""
    found = problems(fig)
    assert not found, "the figure does not explain itself:\n" + "\n".join(found)
