"""``abcref compare``: the paper's Table 3, §5.2 and Table 2 summary at laptop scale.

::

    abcref compare table3    [--epochs 3] [--seeds 0 1 2] [--extra] [--out DIR]
    abcref compare section52 [--Ks 1 2 3 4] [--M 1] [--kbit-weights bwn] [--out DIR]
    abcref compare table2    [--image-size 224] [--width 64] [--json] [--out DIR]

``table3`` and ``section52`` train with :func:`abcref.apps.sweep.run_sweep` on
the embedded digits by default (``--data`` takes a directory too) and
write, with ``--out``, the markdown table, CSV files, ``sweep.json`` and
(table3) a bar figure. Registered on ``abcref`` by
:func:`add_compare_subparser`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from abcref._io import write_text_atomic
from abcref.apps.sweep import OPTIMIZER_NAMES, SCHEDULE_NAMES


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


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


def _add_training_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="digits", help="'digits' (default) or a directory")
    parser.add_argument(
        "--base",
        metavar="JSON",
        help='model config without "conv" shared by every system (default {"arch": "small_cnn"})',
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=_positive_int, default=3)
    parser.add_argument("--batch-size", type=_positive_int, default=64)
    parser.add_argument("--optimizer", choices=OPTIMIZER_NAMES, default="adam")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--schedule", choices=SCHEDULE_NAMES, default="cosine")
    parser.add_argument("--out", metavar="DIR", help="write tables, CSV, JSON (and figure) here")
    parser.add_argument("--quiet", action="store_true", help="no line per finished run")


def _sweep_options(args) -> dict:
    return {
        "data": args.data,
        "seeds": tuple(args.seeds),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "optimizer": args.optimizer,
        "lr": args.lr,
        "schedule": args.schedule,
        "out_dir": args.out,
        "progress": (lambda line: print(line, file=sys.stderr, flush=True))
        if not args.quiet
        else False,
    }


def run_table3_command(args) -> int:
    """``abcref compare table3``."""
    from abcref.apps.compare.table3 import (
        plot_table3,
        run_table3,
        table3_markdown,
        write_table3_csv,
    )

    tic = time.perf_counter()
    result = run_table3(base=_base_config(args.base), extra=args.extra, **_sweep_options(args))
    text = table3_markdown(result)
    text += f"\n\nWall time {time.perf_counter() - tic:.0f} s."
    print(text)
    if args.out is not None:
        out = Path(args.out)
        write_text_atomic(out / "table3.md", text + "\n")
        write_table3_csv(result, out / "table3.csv")
        result.to_csv(out / "runs.csv")
        plot_table3(result, out / "table3.png")
    return 0


def run_section52_command(args) -> int:
    """``abcref compare section52``."""
    from abcref.apps.compare.section52 import (
        run_section52,
        section52_configs,
        section52_costs,
        section52_markdown,
    )

    options = {"M": args.M, "kbit_weights": args.kbit_weights, "base": _base_config(args.base)}
    tic = time.perf_counter()
    result = run_section52(args.Ks, **options, **_sweep_options(args))
    # The summary needs one example's shape: take it from the data the sweep used.
    from abcref.data import load_dataset

    data = load_dataset(args.data) if isinstance(args.data, str) else args.data
    costs = section52_costs(section52_configs(args.Ks, **options), data.x_test.shape[1:])
    text = section52_markdown(result, costs, args.Ks, M=args.M, kbit_weights=args.kbit_weights)
    text += f"\n\nWall time {time.perf_counter() - tic:.0f} s."
    print(text)
    if args.out is not None:
        out = Path(args.out)
        write_text_atomic(out / "section52.md", text + "\n")
        write_text_atomic(out / "section52_costs.json", json.dumps(costs, indent=1) + "\n")
        result.to_csv(out / "runs.csv")
    return 0


def run_table2_command(args) -> int:
    """``abcref compare table2``."""
    from abcref.apps.compare.table2 import table2_markdown, table2_summary

    log = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    rows = table2_summary(image_size=args.image_size, width=args.width, progress=log)
    text = (
        json.dumps(rows, indent=1)
        if args.json
        else table2_markdown(rows, image_size=args.image_size)
    )
    print(text)
    if args.out is not None:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out / "table2.md", table2_markdown(rows, image_size=args.image_size))
        write_text_atomic(out / "table2.json", json.dumps(rows, indent=1) + "\n")
    return 0


def _guarded(run):
    def wrapped(args) -> int:
        try:
            return run(args)
        except (ValueError, TypeError, FileNotFoundError) as exc:
            print(f"abcref compare {args.what}: error: {exc}", file=sys.stderr)
            return 2

    return wrapped


def add_compare_subparser(subparsers) -> argparse.ArgumentParser:
    """Register ``compare`` (with ``table3``, ``section52``, ``table2``) on ``subparsers``."""
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
    t3.set_defaults(func=_guarded(run_table3_command))

    s52 = what.add_parser("section52", help="K binary vs K-bit fixed-point activations")
    _add_training_flags(s52)
    s52.add_argument("--Ks", type=_positive_int, nargs="+", default=[1, 2, 3, 4])
    s52.add_argument("--M", type=_positive_int, default=1, help="ABC weight bases (default 1)")
    s52.add_argument(
        "--kbit-weights",
        choices=("bwn", "sign", "dorefa", "fp"),
        default="bwn",
        help="weights of the K-bit layer (default bwn: one scaled binary base, like M=1)",
    )
    s52.set_defaults(func=_guarded(run_section52_command))

    t2 = what.add_parser("table2", help="parameters, memory and operations of the Table 2 ResNets")
    t2.add_argument("--image-size", type=_positive_int, default=224)
    t2.add_argument("--width", type=_positive_int, default=64, help="first-stage channels")
    t2.add_argument("--json", action="store_true", help="print the rows as JSON")
    t2.add_argument("--out", metavar="DIR", help="write table2.md and table2.json here")
    t2.add_argument("--quiet", action="store_true", help="no progress lines")
    t2.set_defaults(func=_guarded(run_table2_command))
    return parser
