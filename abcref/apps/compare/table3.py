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
from abcref.apps.reporting import BLOCK_NAME, SPREAD_RULE, Gap, read_run_record, took
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


def ordering_disagreements(
    rows: Sequence[dict], resolution: float = 0.0
) -> list[tuple[str, str, bool]]:
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
                noise = max(noise, resolution)  # one test image is the least resolvable gap
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
    disagreements = ordering_disagreements(rows, 1 / s["n_test"])
    if not disagreements:
        lines.append("The measured ordering agrees with the paper's.")
    else:
        lines.append("Where the ordering differs from the paper's:")
        for hi, lo, resolved in disagreements:
            why = "beyond the seed spread" if resolved else "within the seed spread"
            lines.append(f"- paper: {hi} > {lo}; measured: {lo} > {hi} ({why})")
    return "\n".join(lines)


def _activations(row: dict) -> str:
    """ "one" (a single binary activation), "several" (ABC's N > 1), or "other"."""
    if row["A"] == "1":
        return "one"
    return "several" if row["A"].startswith("1 (") else "other"


def _gap(a: dict, b: dict, resolution: float) -> Gap:
    return Gap(a["label"], a["test_top1_mean"], a["test_top1_std"],
               b["label"], b["test_top1_mean"], b["test_top1_std"], resolution)  # fmt: skip


def ordering_sentences(rows: Sequence[dict], resolution: float = 0.0) -> list[str]:
    """The measured ordering against the paper's, computed from :func:`table3_rows`.

    - how many pairs of systems the measurement orders as the paper does,
      and how many of those differences lie beyond the seed spread;
    - every pair it orders the other way, with both numbers;
    - the paper's central claim: every system with several binary
      activations (ABC, N > 1) against every system with one (XNOR-Net,
      BNN, ABC N = 1), with the range of the differences.
    """
    pairs = [(a, b) for i, a in enumerate(rows) for b in rows[i + 1 :]]
    pairs = [(a, b) if a["paper_top1"] >= b["paper_top1"] else (b, a) for a, b in pairs]
    pairs = [(a, b) for a, b in pairs if a["paper_top1"] != b["paper_top1"]]
    agree = [_gap(a, b, resolution) for a, b in pairs if a["test_top1_mean"] > b["test_top1_mean"]]
    differ = [(a, b) for a, b in pairs if a["test_top1_mean"] <= b["test_top1_mean"]]
    sentences = [
        f"Of the {len(pairs)} pairs of systems the paper ranks, the measurement orders "
        f"{len(agree)} as the paper does ({sum(not g.within_spread for g in agree)} of them "
        f"beyond the spread) and {len(differ)} the other way or level "
        f"({sum(not _gap(b, a, resolution).within_spread for a, b in differ)} beyond the spread)."
    ]
    for a, b in differ:
        sentences.append(
            f"The paper has {a['label']} above {b['label']} ({a['paper_top1']:.1f} vs "
            f"{b['paper_top1']:.1f}); here {_gap(a, b, resolution).sentence()}."
        )
    several = [r for r in rows if _activations(r) == "several"]
    one = [r for r in rows if _activations(r) == "one"]
    if several and one:
        gaps = [_gap(a, b, resolution) for a in several for b in one]
        above = sum(g.difference > 0 for g in gaps)
        lo, hi = min(g.difference for g in gaps), max(g.difference for g in gaps)
        sentences.append(
            f"Several binary activations ({', '.join(r['label'] for r in several)}) against "
            f"one ({', '.join(r['label'] for r in one)}), the paper's central claim: the "
            f"system with several is above in {above} of the {len(gaps)} pairs, by "
            f"{100 * lo:.2f} to {100 * hi:.2f} points, "
            f"{sum(g.difference > 0 and not g.within_spread for g in gaps)} of them beyond "
            "the spread."
        )
    return sentences


def _budget(settings: dict) -> str:
    s = settings
    seeds = ", ".join(map(str, s["seeds"]))
    return (
        f"{s['epochs']} epoch{'s' if s['epochs'] != 1 else ''}, {s['optimizer'].capitalize()} "
        f"lr {s['lr']:g} ({s['schedule']} schedule), batch {s['batch_size']}, "
        f"seed{'s' if len(s['seeds']) != 1 else ''} {seeds}"
    )


def _skeleton(result: SweepResult) -> str:
    config = next(iter(result.configs.values()))
    widths = config.get("widths")
    shape = f" widths {', '.join(map(str, widths))}" if widths else ""
    return f"`{config.get('arch', '?')}`{shape}"


def table3_block(result: SweepResult, record: dict) -> str:
    """``results.md``: the setting, the table and the ordering sentences, for embedding."""
    rows = table3_rows(result)
    s = result.settings
    table = table3_markdown(result).split("\n\n")[0]
    bullets = "\n".join(f"- {line}" for line in ordering_sentences(rows, 1 / s["n_test"]))
    data = "the embedded digits" if s["data"] == "digits" else f"`{s['data']}`"
    return (
        f"`{record['command']}`: every system is {_skeleton(result)} with its own conv kind "
        f"(the first conv and the classifier full precision), trained on {data} "
        f"({s['n_train']:,} train / {s['n_test']:,} test images) with one budget: "
        f"{_budget(s)}. Final-epoch test top-1 (%), mean ± sample std over the seeds, beside "
        f"the paper's ImageNet ResNet-18 top-1 (its Table 3; Table 2 for ABC (3, 3) and "
        f"(1, 1)); ranks 1 = best:\n\n"
        f"{table}\n\n"
        f"The ordering against the paper's (one test image is {100 / s['n_test']:.2f} points; "
        f"{SPREAD_RULE}):\n\n"
        f"{bullets}\n\n"
        f"{took(record)}\n"
    )


def table3_texts(result: SweepResult, record: dict) -> dict[str, str]:
    """File name -> text of the Markdown files ``compare table3 --out`` writes."""
    wall = f"Wall time {record['seconds']:.0f} s."
    return {
        BLOCK_NAME: table3_block(result, record),
        "table3.md": f"{table3_markdown(result)}\n\n{wall}\n",
    }


def render_table3_folder(directory) -> dict[str, str]:
    """:func:`table3_texts` of a ``compare table3`` folder, from its JSON files."""
    directory = Path(directory)
    return table3_texts(
        SweepResult.from_json(directory / "sweep.json"), read_run_record(directory)
    )


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


def table3_figure(result: SweepResult, *, dpi: int = 100):
    """Bar figure: measured top-1 (mean ± std over seeds) beside the paper's ImageNet top-1."""
    from matplotlib.figure import Figure

    rows = table3_rows(result)
    labels = [r["label"] for r in rows]
    y = np.arange(len(rows))
    fig = Figure(figsize=(9, 0.45 * len(rows) + 1.6), dpi=dpi)
    ax_ours, ax_paper = fig.subplots(1, 2, sharey=True)
    means = [100 * r["test_top1_mean"] for r in rows]
    stds = [100 * np.nan_to_num(r["test_top1_std"]) for r in rows]
    ax_ours.barh(y, means, xerr=stds, color="tab:blue", capsize=3)
    low = min(m - s for m, s in zip(means, stds, strict=True))
    ax_ours.set_xlim(max(0.0, low - 5), 100)
    seeds = len(result.settings["seeds"])
    ax_ours.set_title(f"measured here, {seeds} seeds")
    ax_ours.set_xlabel("test top-1 on digits (%), mean ± std")
    ax_paper.barh(y, [r["paper_top1"] for r in rows], color="tab:gray")
    ax_paper.set_xlim(30, 75)
    ax_paper.set_title("the paper (Table 3)")
    ax_paper.set_xlabel("ImageNet ResNet-18 top-1 (%)")
    ax_ours.set_yticks(y, labels)
    ax_ours.set_ylabel("method")
    ax_ours.invert_yaxis()
    fig.tight_layout()
    return fig


def plot_table3(result: SweepResult, path, *, dpi: int = 100) -> Path:
    """Save :func:`table3_figure` as a PNG at ``path``."""
    return save_png(table3_figure(result, dpi=dpi), path)
