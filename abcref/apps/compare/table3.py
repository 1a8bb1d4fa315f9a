"""Table 3 at laptop scale: ABC-Net against the state of the art of 2017.

The paper's Table 3 trains ResNet-18 on ImageNet with full precision,
BWN, DoReFa-Net (W1/A4), XNOR-Net, BNN and ABC-Net. Here every system is
the same model skeleton (default: the ``small_cnn`` of ``docs/training.md``
on the embedded digits) with a different conv kind, trained by
:func:`abcref.apps.sweep.run_sweep` with the same data, budget and seeds::

    from abcref.apps.compare.table3 import run_table3, table3_markdown
    result = run_table3(data="digits", seeds=(0, 1, 2), epochs=3)
    print(table3_markdown(result))

Only the *ordering* can be compared with the paper: 8x8 digits are not
ImageNet, and a few epochs are not 90.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from abcref._io import save_png
from abcref.apps.results import SweepResult, mean_std
from abcref.apps.sweep import run_sweep

#: Label -> (conv config, weight bits, activation bits, paper top-1, paper top-5)
#: of ABC-Net Table 3 (ImageNet, ResNet-18), in the paper's row order.
TABLE3_SYSTEMS: dict[str, tuple] = {
    "FP": ("fp", "32", "32", 69.3, 89.2),
    "BWN": ("bwn", "1", "32", 60.8, 83.0),
    "DoReFa W1/A4": ({"kind": "dorefa", "bits": 4, "weight_bits": 1}, "1", "4", 59.2, 81.5),
    "XNOR-Net": ("xnor", "1", "1", 51.2, 73.2),
    "BNN": ("bnn", "1", "1", 42.2, 67.1),
    "ABC M=5, N=5": ({"kind": "abc", "M": 5, "N": 5}, "1 (x5)", "1 (x5)", 65.0, 85.9),
    "ABC M=5, FP act": ({"kind": "abc", "M": 5, "N": None}, "1 (x5)", "32", 68.3, 87.9),
}

#: Optional rows, with the paper's ResNet-18 figures from Table 2.
TABLE3_EXTRA: dict[str, tuple] = {
    "ABC M=3, N=3": ({"kind": "abc", "M": 3, "N": 3}, "1 (x3)", "1 (x3)", 61.0, 83.2),
    "ABC M=1, N=1": ({"kind": "abc", "M": 1, "N": 1}, "1", "1", 42.7, 67.6),
}

#: The laptop-scale model every system shares (docs/training.md's small CNN).
DEFAULT_BASE = {"arch": "small_cnn"}


def table3_configs(base: Mapping | None = None, *, extra: bool = False) -> dict[str, dict]:
    """Label -> model config of every Table 3 system on one skeleton.

    Parameters
    ----------
    base : mapping, optional
        Everything but ``conv`` (default :data:`DEFAULT_BASE`); any
        ``conv`` in it is replaced.
    extra : bool
        Add ABC (3, 3) and (1, 1) (:data:`TABLE3_EXTRA`).

    Returns
    -------
    dict
        In the paper's row order.
    """
    base = dict(DEFAULT_BASE if base is None else base)
    base.pop("conv", None)
    systems = {**TABLE3_SYSTEMS, **(TABLE3_EXTRA if extra else {})}
    return {label: {**base, "conv": spec[0]} for label, spec in systems.items()}


def run_table3(
    *,
    data="digits",
    base: Mapping | None = None,
    extra: bool = False,
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 3,
    **sweep_options,
) -> SweepResult:
    """Train every Table 3 system with one budget (see :func:`abcref.apps.sweep.run_sweep`).

    ``sweep_options`` go to ``run_sweep`` (``batch_size``, ``optimizer``,
    ``lr``, ``schedule``, ``out_dir``, ``progress``, ...). With
    ``data="digits"`` (the default) the model's ``in_channels`` is 1.
    """
    return run_sweep(
        table3_configs(base, extra=extra), data=data, seeds=seeds, epochs=epochs, **sweep_options
    )


def _paper(label: str) -> tuple:
    return {**TABLE3_SYSTEMS, **TABLE3_EXTRA}.get(label, (None, "?", "?", np.nan, np.nan))


def _ranks(values: Sequence[float]) -> list[int]:
    """1 = best; ties share the better rank."""
    return [1 + sum(v > x for v in values) for x in values]


def table3_rows(result: SweepResult) -> list[dict]:
    """One dict per system: the paper's top-1 and the measured mean, std and ranks."""
    rows = []
    for label in result.labels:
        runs = result.runs(label)
        mean, std = mean_std([r["test_top1"] for r in runs])
        _, w, a, top1, top5 = _paper(label)
        rows.append(
            {
                "label": label,
                "W": w,
                "A": a,
                "paper_top1": top1,
                "paper_top5": top5,
                "test_top1_mean": mean,
                "test_top1_std": std,
                "runs": len(runs),
            }
        )
    paper_ranks = _ranks([r["paper_top1"] for r in rows])
    ours = _ranks([r["test_top1_mean"] for r in rows])
    for row, p, o in zip(rows, paper_ranks, ours, strict=True):
        row["paper_rank"], row["measured_rank"] = p, o
    return rows


def ordering_disagreements(rows: Sequence[dict]) -> list[tuple[str, str, bool]]:
    """Pairs the paper ranks one way and the measurement the other way.

    Returns
    -------
    list of (better in the paper, better here, resolved)
        ``resolved`` is True when the measured gap exceeds the two seed
        spreads added (a difference the seeds cannot explain), False when
        it is within noise.
    """
    out = []
    for i, a in enumerate(rows):
        for b in rows[i + 1 :]:
            paper = a["paper_top1"] - b["paper_top1"]
            ours = a["test_top1_mean"] - b["test_top1_mean"]
            if paper * ours < 0:
                hi, lo = (a, b) if paper > 0 else (b, a)
                noise = np.nan_to_num(a["test_top1_std"]) + np.nan_to_num(b["test_top1_std"])
                out.append((hi["label"], lo["label"], bool(abs(ours) > noise)))
    return out


def table3_markdown(result: SweepResult) -> str:
    """Markdown table: the paper's ImageNet top-1 beside the measured top-1."""
    rows = table3_rows(result)
    s = result.settings
    lines = [
        f"| system | W | A | paper top-1 (ImageNet, ResNet-18) | measured top-1 (%), "
        f"{len(s['seeds'])} seeds | paper rank | measured rank |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        measured = f"{100 * r['test_top1_mean']:.2f}"
        if np.isfinite(r["test_top1_std"]):
            measured += f" ± {100 * r['test_top1_std']:.2f}"
        paper = "–" if not np.isfinite(r["paper_top1"]) else f"{r['paper_top1']:.1f}"
        lines.append(
            f"| {r['label']} | {r['W']} | {r['A']} | {paper} | {measured} "
            f"| {r['paper_rank']} | {r['measured_rank']} |"
        )
    lines.append("")
    lines.append(
        f"Budget: {s['epochs']} epochs, batch {s['batch_size']}, {s['optimizer']} lr {s['lr']} "
        f"({s['schedule']}), seeds {s['seeds']}, {s['n_train']} train / {s['n_test']} test "
        "images; mean ± sample std over seeds, final-epoch test top-1."
    )
    disagreements = ordering_disagreements(rows)
    if not disagreements:
        lines.append("The measured ordering agrees with the paper's.")
    else:
        lines.append("Where the ordering differs from the paper's:")
        for hi, lo, resolved in disagreements:
            why = "beyond the seed spread" if resolved else "within the seed spread"
            lines.append(f"- paper: {hi} > {lo}; measured: {lo} > {hi} ({why})")
    return "\n".join(lines)


def write_table3_csv(result: SweepResult, path) -> Path:
    """The :func:`table3_rows` as CSV (atomic)."""
    import csv
    import io

    from abcref._io import write_text_atomic

    rows = table3_rows(result)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomic(path, text.getvalue())


def plot_table3(result: SweepResult, path, *, dpi: int = 100) -> Path:
    """Bar figure: measured top-1 (mean ± std) beside the paper's ImageNet top-1."""
    from matplotlib.figure import Figure

    rows = table3_rows(result)
    labels = [r["label"] for r in rows]
    y = np.arange(len(rows))
    fig = Figure(figsize=(9, 0.45 * len(rows) + 1.4), dpi=dpi)
    ax_ours, ax_paper = fig.subplots(1, 2, sharey=True)
    means = [100 * r["test_top1_mean"] for r in rows]
    stds = [100 * np.nan_to_num(r["test_top1_std"]) for r in rows]
    ax_ours.barh(y, means, xerr=stds, color="tab:blue", capsize=3)
    low = min(m - s for m, s in zip(means, stds, strict=True))
    ax_ours.set_xlim(max(0.0, low - 5), 100)
    ax_ours.set_title(f"measured top-1 (%), {len(result.settings['seeds'])} seeds")
    ax_paper.barh(y, [r["paper_top1"] for r in rows], color="tab:gray")
    ax_paper.set_xlim(30, 75)
    ax_paper.set_title("paper, ImageNet ResNet-18 top-1 (%)")
    ax_ours.set_yticks(y, labels)
    ax_ours.invert_yaxis()
    fig.tight_layout()
    return save_png(fig, path)
