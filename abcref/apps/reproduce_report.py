"""What ``abcref reproduce`` prints and writes as text, computed from its saved results.

Everything here is a pure function of what the folder's JSON files hold
(the settings in ``config.json``, ``sweep.json``, ``bits_check.json`` and
``run.json``; :func:`abcref.apps.reproduce.render_reproduce_folder` reads
them): ``table.md`` (every config, the settings) and ``results.md``, the
block a document embeds: the stated setting, the M x N table, full
precision, the bit check, and the trend sentences, computed from the
numbers (:class:`abcref.apps.reporting.Gap`).
"""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np

from abcref.apps.reporting import BLOCK_NAME, SPREAD_RULE, Gap, percent, took
from abcref.apps.results import SweepResult, format_mean_std

__all__ = ["console_lines", "marginals", "reproduce_block", "table_markdown", "trend_sentences"]


def marginals(grid) -> tuple[list, list]:
    """Mean accuracy of each M over the N columns, and of each N over the M rows."""
    by_m = [float(np.nanmean(grid.mean[i])) for i in range(len(grid.Ms))]
    by_n = [float(np.nanmean(grid.mean[:, j])) for j in range(len(grid.Ns))]
    return by_m, by_n


def _cell(grid, i: int, j: int) -> tuple[str, float, float]:
    return f"({grid.Ms[i]}, {grid.Ns[j]})", grid.mean[i, j], grid.std[i, j]


def _rises(grid, along: str, resolution: float) -> str:
    """``"Accuracy rises with N at every M."``, or the steps where it does not."""
    steps, exceptions = 0, []
    rows, cols = len(grid.Ms), len(grid.Ns)
    for i in range(rows):
        for j in range(cols):
            nxt = (i, j + 1) if along == "N" else (i + 1, j)
            if nxt[0] >= rows or nxt[1] >= cols:
                continue
            if not (np.isfinite(grid.mean[i, j]) and np.isfinite(grid.mean[nxt])):
                continue
            steps += 1
            gap = Gap(*_cell(grid, *nxt), *_cell(grid, i, j), resolution)
            if gap.difference <= 0:
                exceptions.append(gap.sentence())
    other = "M" if along == "N" else "N"
    text = f"Accuracy rises with {along} at every {other}"
    if not exceptions:
        return text + "."
    if len(exceptions) == steps:
        text = f"Accuracy does not rise with {along} at any step"
    elif len(exceptions) == 1:
        text += f" except at one of the {steps} steps"
    else:
        text += f" except at {len(exceptions)} of the {steps} steps"
    return f"{text}: " + "; ".join(exceptions) + "."


def trend_sentences(grid, resolution: float = 0.0) -> list[str]:
    """The trend, computed from an (M, N) grid with a full-precision row: one sentence each.

    - whether accuracy rises with N at every M and with M at every N (and
      the steps where it does not);
    - ``(M0, k)`` against ``(k, N0)`` for every k in both axes beyond the
      first (k binary activations against k weight bases);
    - the largest configuration (and the best, if another) against full
      precision.

    Each comparison gives the difference in points and whether it is
    within the spread (:class:`abcref.apps.reporting.Gap`, with one test
    image, ``resolution``, as its least spread).
    """
    sentences = [_rises(grid, "N", resolution), _rises(grid, "M", resolution)]
    Ms, Ns = list(grid.Ms), list(grid.Ns)
    gaps = [
        Gap(*_cell(grid, 0, Ns.index(k)), *_cell(grid, Ms.index(k), 0), resolution)
        for k in Ms
        if k in Ns and k > max(Ms[0], Ns[0])
    ]
    gaps = [g for g in gaps if np.isfinite(g.difference)]
    if gaps:
        if all(g.difference > 0 and g.has_spread and not g.within_spread for g in gaps):
            moral = "more binary activations help more than more weight bases"
        elif all(g.difference > 0 for g in gaps):
            moral = (
                "more binary activations help more than more weight bases, but not beyond "
                "the spread every time"
            )
        else:
            moral = "more binary activations do not always help more than more weight bases"
        sentences.append("; ".join(g.sentence() for g in gaps) + f": {moral}.")
    if grid.full_precision is not None:
        fp_mean, fp_std = grid.full_precision
        last = (len(Ms) - 1, len(Ns) - 1)
        best = np.unravel_index(np.nanargmax(grid.mean), grid.mean.shape)
        for cell, what in ((last, "largest"), (best, "best")):
            if (what == "best" and best == last) or not np.isfinite(grid.mean[cell]):
                continue
            what = "largest and best" if cell == best == last else what
            name, mean, std = _cell(grid, *cell)
            gap = Gap(f"{name}, the {what} ABC configuration,", mean, std, "full precision",
                      fp_mean, fp_std, resolution)  # fmt: skip
            sentences.append(gap.sentence() + ".")
    return sentences


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _bits_summary(bits: list) -> str:
    n = len(bits)
    ok = bool(bits) and all(b["identical"] for b in bits)
    images = bits[0]["images"] if bits else 0
    worst = max((b["max_logit_diff"] for b in bits), default=0.0)
    flipped = sum(b["images_flipped"] for b in bits)
    if ok:
        return (
            f"bit-packed inference: identical predictions for all {n} trained ABC models "
            f"({images} test images each; max |logit difference| {worst:.1e}, "
            f"{flipped} of {n * images} image evaluations with an activation at a threshold "
            "binarised the other way within float rounding) - PASS"
        )
    same = sum(b["identical"] for b in bits)
    bad = [f"{b['label']} seed {b['seed']} ({b['differ']})" for b in bits if not b["identical"]]
    return (
        f"bit-packed inference: {same} of {n} ABC models identical; predictions differ for "
        f"{', '.join(bad)} - FAIL"
    )


def _marginal_lines(grid) -> list[str]:
    by_m, by_n = marginals(grid)
    return [
        "mean over N, by M: "
        + ", ".join(f"M={m}: {percent(v)}" for m, v in zip(grid.Ms, by_m, strict=True)),
        "mean over M, by N: "
        + ", ".join(f"N={n}: {percent(v)}" for n, v in zip(grid.Ns, by_n, strict=True)),
    ]


def console_lines(grid, bits: list, settings, out, seconds: float, n_test: int) -> list[str]:
    """What ``abcref reproduce`` prints at the end (the wall time last, on its own line)."""
    return [
        "",
        f"Final-epoch test top-1 (%) on the embedded digits, mean ± std over "
        f"{len(settings.seeds)} seed(s); rows M (weight bases), columns N (binary activations):",
        "",
        grid.to_markdown(),
        "",
        *_marginal_lines(grid),
        *trend_sentences(grid, 1 / n_test),
        _bits_summary(bits),
        f"wrote {out}/{BLOCK_NAME}, table.md, table.csv, heatmap.png, training_curves.png, "
        "sweep.json, bits_check.json, run.json, logs/, models/",
        f"wall time {seconds:.0f} s",
    ]


def _setting(settings, result: SweepResult) -> str:
    s, r = settings, result.settings
    return (
        f"on the embedded digits ({r['n_train']:,} train / {r['n_test']:,} test 8×8 images), a "
        f"full-precision `small_cnn` and an ABC `small_cnn` for every M ∈ "
        f"{{{', '.join(map(str, s.Ms))}}} and N ∈ {{{', '.join(map(str, s.Ns))}}}: widths "
        f"{', '.join(map(str, s.widths))} (the first conv and the classifier full precision), "
        f"{_plural(s.epochs, 'epoch')}, Adam lr {s.lr:g} with cosine decay, batch "
        f"{s.batch_size}, float32, "
        f"{'seed' if len(s.seeds) == 1 else 'seeds'} {', '.join(map(str, s.seeds))}"
    )


def _paper_line() -> str:
    from abcref.apps.compare.table2 import PAPER_TABLE2_TOP1

    cells = [
        f"({m}, {n}) {top1}" if m is not None else f"full precision {top1}"
        for (arch, m, n), top1 in PAPER_TABLE2_TOP1.items()
        if arch == "resnet18"
    ]
    return "The paper's Table 2 (ResNet-18 on ImageNet, top-1 %): " + ", ".join(cells) + "."


def reproduce_block(settings, result: SweepResult, bits: list, record: dict) -> str:
    """``results.md``: the Markdown block a document embeds (see the module docstring)."""
    grid = result.mn_grid()
    n_test = result.settings["n_test"]
    fp = "–" if grid.full_precision is None else format_mean_std(*grid.full_precision)
    bullets = "\n".join(f"- {s}" for s in trend_sentences(grid, 1 / n_test))
    bits_line = _bits_summary(bits)
    return (
        f"`{record['command']}`: {_setting(settings, result)}. Final-epoch test top-1 (%), mean "
        f"± sample std over {_plural(len(settings.seeds), 'seed')}; rows M (weight bases), "
        f"columns N (binary activations):\n\n"
        f"{grid.to_markdown(full_precision=False)}\n\n"
        f"Full precision (the same graph with ReLU and float convolutions): {fp}.\n\n"
        f"{bits_line[0].upper()}{bits_line[1:]}.\n\n"
        f"Reading the table (one test image is {100 / n_test:.2f} points; {SPREAD_RULE}):\n\n"
        f"{bullets}\n\n"
        f"{_paper_line()}\n\n"
        f"{took(record)}\n"
    )


def table_markdown(settings, result: SweepResult, bits: list, record: dict) -> str:
    """``table.md``: the M x N table, the trend, the bit check, every config, the settings."""
    s = settings
    grid = result.mn_grid()
    resolution = 1 / result.settings["n_test"]
    lines = [*_marginal_lines(grid), *trend_sentences(grid, resolution), _bits_summary(bits)]
    return (
        "# ABC-Net M x N trend on the embedded digits\n\n"
        f"Command: `{record['command']}` (wall time {record['seconds']:.0f} s).\n\n"
        f"Final-epoch test top-1 (%) on the {result.settings['n_test']} test digits, mean ± "
        f"sample std (ddof=1) over seeds {list(s.seeds)}. Model: `small_cnn` widths "
        f"{list(s.widths)} (first conv and classifier full precision); {s.epochs} epochs, Adam "
        f"lr {s.lr:g} with cosine decay, batch {s.batch_size}; the full-precision model is the "
        f"same graph with ReLU + float convs.\n\n"
        f"{grid.to_markdown()}\n\n"
        + "\n".join(f"- {line}" for line in lines)
        + f"\n\n## Every config\n\n{result.to_markdown()}\n\n"
        f"Settings: `{json.dumps(asdict(s))}`\n"
    )
