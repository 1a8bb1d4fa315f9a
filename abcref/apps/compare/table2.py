"""The Table 2 topologies summarised: parameters, memory, float MACs vs binary operations.

For each configuration of ABC-Net's Table 2 (ResNet-18 with M, N in
{1, 3, 5}, ResNet-34 with (1, 1), (3, 3), (5, 5), ResNet-50 with (5, 5),
and each full-precision model) this builds the ImageNet-style ResNet of
:mod:`abcref.nn.resnet` and totals
:func:`abcref.compiler.summary.model_summary` over one 3x224x224 image.
The paper's top-1 is attached where Table 2 reports one. The models are
not trained: the counts depend only on the topology.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from tqdm.auto import tqdm

from abcref._checks import check_int
from abcref.compiler.summary import model_summary, summary_totals

#: (arch, M, N) -> the paper's Table 2 top-1 (%); M = N = None is full precision.
PAPER_TABLE2_TOP1 = {
    ("resnet18", 1, 1): 42.7,
    ("resnet18", 3, 1): 49.1,
    ("resnet18", 3, 3): 61.0,
    ("resnet18", 3, 5): 63.1,
    ("resnet18", 5, 1): 54.1,
    ("resnet18", 5, 3): 62.5,
    ("resnet18", 5, 5): 65.0,
    ("resnet18", None, None): 69.3,
    ("resnet34", 1, 1): 52.4,
    ("resnet34", 3, 3): 66.7,
    ("resnet34", 5, 5): 68.4,
    ("resnet34", None, None): 73.3,
    ("resnet50", 5, 5): 70.1,
    ("resnet50", None, None): 76.1,
}

#: The configurations summarised by default, in table order.
TABLE2_CONFIGS: tuple = (
    *(("resnet18", M, N) for M in (1, 3, 5) for N in (1, 3, 5)),
    ("resnet18", None, None),
    ("resnet34", 1, 1),
    ("resnet34", 3, 3),
    ("resnet34", 5, 5),
    ("resnet34", None, None),
    ("resnet50", 5, 5),
    ("resnet50", None, None),
)


def table2_model_config(arch: str, M: int | None, N: int | None, *, width: int = 64) -> dict:
    """The model config of one Table 2 row (``M = N = None``: full precision)."""
    conv = "fp" if M is None else {"kind": "abc", "M": M, "N": N}
    return {"arch": arch, "conv": conv, "width": width}


def table2_summary(
    configs: Sequence[tuple] = TABLE2_CONFIGS,
    *,
    image_size: int = 224,
    width: int = 64,
    progress: bool | Callable[[str], None] | None = None,
) -> list[dict]:
    """Totals of the model summary for each (arch, M, N).

    Parameters
    ----------
    configs : sequence of (arch, M, N)
        ``M = N = None`` is the full-precision model.
    image_size : int
        Side of the square RGB input (default 224, as the paper).
    width : int
        First-stage channels (64 for the real networks; smaller for tests).
    progress : bool or callable, optional
        True: a tqdm bar over the models (with an ETA) on stderr; a
        callable receives one line per summarised model instead.

    Returns
    -------
    list of dict
        ``arch``, ``M``, ``N``, ``params`` (all parameters of the float
        model), ``binary_params`` (1-bit weights of the packed model),
        ``float_model_bytes``, ``packed_model_bytes``, ``memory_ratio``,
        ``float_macs`` (float model), ``binary_macs`` and
        ``packed_float_macs`` (packed model), ``paper_top1`` (or None).
    """
    from abcref.nn import build_model

    image_size = check_int(image_size, "image_size", min_value=32)
    configs = list(configs)
    bar = tqdm(configs, desc="models", unit="model", disable=progress is not True, file=sys.stderr)
    rows = []
    for arch, M, N in bar:
        model = build_model(table2_model_config(arch, M, N, width=width))
        totals = summary_totals(model_summary(model, (3, image_size, image_size)))
        row = {
            "arch": arch,
            "M": M,
            "N": N,
            "params": model.num_parameters(),
            "binary_params": totals["packed_binary_params"],
            "float_model_bytes": totals["float_model_bytes"],
            "packed_model_bytes": totals["packed_model_bytes"],
            "memory_ratio": totals["memory_ratio"],
            "float_macs": totals["float_model_macs"],
            "binary_macs": totals["packed_binary_macs"],
            "packed_float_macs": totals["packed_float_macs"],
            "paper_top1": PAPER_TABLE2_TOP1.get((arch, M, N)),
        }
        rows.append(row)
        if callable(progress):
            progress(f"{arch} M={M} N={N}: {row['params']:,} parameters")
    bar.close()
    return rows


def _si(n: float, unit: str = "") -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {suffix}{unit}"
    return f"{n:g} {unit}".strip()


def table2_markdown(rows: Sequence[dict], *, image_size: int = 224) -> str:
    """The :func:`table2_summary` rows as a markdown table."""
    lines = [
        "| network | M | N | parameters | float memory | packed memory | ratio "
        "| float MACs | binary ops (xnor/popcount MACs) | float MACs left | paper top-1 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        fp = r["M"] is None
        paper = "–" if r["paper_top1"] is None else f"{r['paper_top1']:.1f}%"
        lines.append(
            f"| {r['arch'].replace('resnet', 'res')} | {'FP' if fp else r['M']} "
            f"| {'FP' if fp else r['N']} | {r['params']:,} | {_si(r['float_model_bytes'], 'B')} "
            f"| {_si(r['packed_model_bytes'], 'B')} | {r['memory_ratio']:.1f}x "
            f"| {_si(r['float_macs'])} | {_si(r['binary_macs'])} | {_si(r['packed_float_macs'])} "
            f"| {paper} |"
        )
    lines += [
        "",
        f"Per {image_size}x{image_size} RGB image. Float MACs include batch norms "
        "(one per element); parameters include BN and, for ABC, v and beta; binary ops "
        "are M*N per MAC of each binary conv; the stem conv, the projection shortcuts "
        "and the fc stay full precision.",
    ]
    return "\n".join(lines)


def table2_texts(rows: Sequence[dict], settings: dict, record: dict) -> dict[str, str]:
    """File name -> text of the Markdown files ``compare table2 --out`` writes.

    ``rows`` as saved in ``table2.json``; ``settings`` ``{"image_size",
    "width"}``; ``record`` the run's ``run.json``.
    """
    from abcref.apps.reporting import BLOCK_NAME, took

    table = table2_markdown(rows, image_size=settings["image_size"])
    block = (
        f"`{record['command']}`: the Table 2 networks built at first-stage width "
        f"{settings['width']} and summarised (not trained) on one {settings['image_size']}x"
        f"{settings['image_size']} RGB image:\n\n{table}\n\n{took(record)}\n"
    )
    return {BLOCK_NAME: block, "table2.md": table}


def render_table2_folder(directory) -> dict[str, str]:
    """:func:`table2_texts` of a ``compare table2`` folder, from its JSON files."""
    import json
    from pathlib import Path

    from abcref.apps.reporting import read_run_record

    directory = Path(directory)
    settings = json.loads((directory / "config.json").read_text(encoding="utf-8"))["settings"]
    rows = json.loads((directory / "table2.json").read_text(encoding="utf-8"))
    return table2_texts(rows, settings, read_run_record(directory))
