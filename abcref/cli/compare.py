"""``abcref compare``: the paper's Table 3, §5.2 and Table 2 summary at laptop scale.

::

    abcref compare table3    [--epochs 3] [--seeds 0 1 2] [--extra] [--out DIR]
    abcref compare section52 [--Ks 1 2 3 4] [--M 1] [--kbit-weights bwn] [--out DIR]
    abcref compare table2    [--image-size 224] [--width 64] [--json] [--out DIR]

``table3`` and ``section52`` train with :func:`abcref.apps.sweep.run_sweep`
(:mod:`abcref.apps.compare`) on the embedded digits by default and write,
with ``--out``, the markdown table, CSV files, ``sweep.json`` and (table3)
a bar figure. Tables go to stdout, progress lines to stderr.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from abcref.cli._common import (
    BUDGET_KEYS,
    DATA_KEYS,
    TRAIN_DEFAULTS,
    add_budget_flags,
    add_data_flags,
    add_progress_flag,
    add_seeds_flag,
    positive_int,
    resolve,
    set_run,
)

#: The comparisons' budget: train's, but 3 epochs at lr 3e-3 whatever the optimizer.
COMPARE_DEFAULTS = {**TRAIN_DEFAULTS, "epochs": 3, "lr": 3e-3}

BASE_HELP = 'model config without "conv" shared by every system (default {"arch": "small_cnn"})'


def add_subparser(subparsers):
    """Register ``compare table3|section52|table2`` on the ``abcref`` command's subparsers."""
    parser = subparsers.add_parser(
        "compare",
        help="the paper's comparisons at laptop scale (Table 3, section 5.2, Table 2 summary)",
        description="ABC-Net against BWN, XNOR-Net, BNN, DoReFa-Net and full precision "
        "(docs/baselines.md).",
    )
    what = parser.add_subparsers(dest="what", required=True, metavar="WHAT")

    t3 = what.add_parser("table3", help="train every Table 3 system with one budget")
    _add_training_flags(t3)
    t3.add_argument("--extra", action="store_true", help="also ABC (3, 3) and (1, 1)")
    set_run(t3, run_table3)

    s52 = what.add_parser("section52", help="K binary vs K-bit fixed-point activations")
    _add_training_flags(s52)
    s52.add_argument(
        "--Ks", type=positive_int, nargs="+", default=[1, 2, 3, 4], help="values of K"
    )
    s52.add_argument("--M", type=positive_int, default=1, help="ABC weight bases")
    s52.add_argument(
        "--kbit-weights",
        choices=("bwn", "sign", "dorefa", "fp"),
        default="bwn",
        help="weights of the K-bit layer (bwn: one scaled binary base, like M=1)",
    )
    set_run(s52, run_section52)

    t2 = what.add_parser("table2", help="parameters, memory and operations of the Table 2 ResNets")
    t2.add_argument(
        "--image-size", type=positive_int, default=224, help="height and width of the input"
    )
    t2.add_argument("--width", type=positive_int, default=64, help="first-stage channels")
    t2.add_argument("--json", action="store_true", help="print the rows as JSON")
    t2.add_argument("--out", metavar="DIR", help="write table2.md and table2.json here")
    add_progress_flag(t2, "--quiet")
    set_run(t2, run_table2)
    return parser


def _add_training_flags(parser) -> None:
    parser.add_argument("--base", metavar="JSON", help=BASE_HELP)
    add_seeds_flag(parser, default=[0, 1, 2])
    add_budget_flags(parser, COMPARE_DEFAULTS)
    add_data_flags(parser)
    group = parser.add_argument_group("output")
    group.add_argument("--out", metavar="DIR", help="write tables, CSV, JSON (and figure) here")
    add_progress_flag(group, "--quiet")


def _base_config(text: str | None) -> dict | None:
    if text is None:
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--base is not a JSON object: {exc}") from exc
    if not isinstance(config, dict) or "arch" not in config:
        raise ValueError(f"--base must be a JSON object with an 'arch', got {text!r}")
    return config


def _progress(args):
    """Progress lines go to stderr, so that stdout holds only the table."""
    return False if args.no_progress else (lambda line: print(line, file=sys.stderr, flush=True))


def _sweep_options(args) -> dict:
    """The data and budget of ``table3``/``section52``, as ``run_sweep`` keywords."""
    from abcref.data import load_dataset

    settings = resolve(args, (*BUDGET_KEYS, *DATA_KEYS), defaults=COMPARE_DEFAULTS)
    data = load_dataset(settings["data"], limit=settings["limit"])
    return {
        "data": data,
        "seeds": tuple(args.seeds),
        **{k: settings[k] for k in BUDGET_KEYS},
        "out_dir": args.out,
        "progress": _progress(args),
    }


def run_table3(args) -> int:
    """``abcref compare table3``."""
    from abcref._io import write_text_atomic
    from abcref.apps.compare.table3 import (
        plot_table3,
        table3_markdown,
        write_table3_csv,
    )
    from abcref.apps.compare.table3 import run_table3 as train_table3

    base = _base_config(args.base)
    tic = time.perf_counter()
    result = train_table3(base=base, extra=args.extra, **_sweep_options(args))
    text = table3_markdown(result) + f"\n\nWall time {time.perf_counter() - tic:.0f} s."
    print(text)
    if args.out is not None:
        out = Path(args.out)
        write_text_atomic(out / "table3.md", text + "\n")
        write_table3_csv(result, out / "table3.csv")
        result.to_csv(out / "runs.csv")
        plot_table3(result, out / "table3.png")
    return 0


def run_section52(args) -> int:
    """``abcref compare section52``."""
    from abcref._io import write_text_atomic
    from abcref.apps.compare.section52 import run_section52 as train_section52
    from abcref.apps.compare.section52 import (
        section52_configs,
        section52_costs,
        section52_markdown,
    )

    options = {"M": args.M, "kbit_weights": args.kbit_weights, "base": _base_config(args.base)}
    sweep_options = _sweep_options(args)
    tic = time.perf_counter()
    result = train_section52(args.Ks, **options, **sweep_options)
    shape = sweep_options["data"].x_test.shape[1:]  # one example, to count operations
    costs = section52_costs(section52_configs(args.Ks, **options), shape)
    text = section52_markdown(result, costs, args.Ks, M=args.M, kbit_weights=args.kbit_weights)
    text += f"\n\nWall time {time.perf_counter() - tic:.0f} s."
    print(text)
    if args.out is not None:
        out = Path(args.out)
        write_text_atomic(out / "section52.md", text + "\n")
        write_text_atomic(out / "section52_costs.json", json.dumps(costs, indent=1) + "\n")
        result.to_csv(out / "runs.csv")
    return 0


def run_table2(args) -> int:
    """``abcref compare table2``."""
    from abcref._io import write_text_atomic
    from abcref.apps.compare.table2 import table2_markdown, table2_summary

    progress = _progress(args) or None
    rows = table2_summary(image_size=args.image_size, width=args.width, progress=progress)
    markdown = table2_markdown(rows, image_size=args.image_size)
    print(json.dumps(rows, indent=1) if args.json else markdown)
    if args.out is not None:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out / "table2.md", markdown)
        write_text_atomic(out / "table2.json", json.dumps(rows, indent=1) + "\n")
    return 0
