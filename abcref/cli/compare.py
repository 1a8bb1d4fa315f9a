"""``abcref compare``: the paper's Table 3, §5.2 and Table 2 summary at laptop scale.

::

    abcref compare table3    [--epochs 3] [--seeds 0 1 2] [--extra] [--out DIR]
    abcref compare section52 [--Ks 1 2 3 4] [--M 1] [--kbit-weights bwn] [--out DIR]
    abcref compare table2    [--image-size 224] [--width 64] [--json] [--out DIR]

``table3`` and ``section52`` train with :func:`abcref.apps.sweep.run_sweep`
(:mod:`abcref.apps.compare`) on the embedded digits by default and write,
with ``--out``, the markdown table, CSV files, ``sweep.json`` and (table3)
a bar figure; ``--resume`` continues an interrupted comparison. Tables go
to stdout, progress bars to stderr.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from abcref._io import write_text_atomic
from abcref.cli._common import (
    BUDGET_KEYS,
    DATA_KEYS,
    TRAIN_DEFAULTS,
    UsageError,
    add_budget_flags,
    add_data_flags,
    add_output_flags,
    add_parallel_flags,
    add_seeds_flag,
    command_line,
    data_source,
    parallel_options,
    positive_int,
    resolve,
    resumed_settings,
    set_run,
)
from abcref.train.optim import DEFAULT_LRS

#: ``compare table2``'s settings when a flag is not given.
TABLE2_DEFAULTS = {"image_size": 224, "width": 64}

#: The comparisons' budget: train's, but 3 epochs at Adam's default rate whatever the optimizer.
COMPARE_DEFAULTS = {**TRAIN_DEFAULTS, "epochs": 3, "lr": DEFAULT_LRS["adam"]}

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

    t3 = what.add_parser(
        "table3",
        help="train every Table 3 system with one budget",
        description="Train FP, BWN, DoReFa W1/A4, XNOR-Net, BNN and ABC on one skeleton and "
        "budget; print the table beside the paper's ImageNet numbers.",
    )
    _add_training_flags(t3)
    t3.add_argument(
        "--extra", action="store_true", default=None, help="also ABC (3, 3) and (1, 1)"
    )
    set_run(t3, run_table3)

    s52 = what.add_parser(
        "section52",
        help="K binary vs K-bit fixed-point activations",
        description="For each K, ABC with N = K binary activations against K-bit fixed-point "
        "activations: accuracy and operation costs.",
    )
    _add_training_flags(s52)
    s52.add_argument("--Ks", type=positive_int, nargs="+", help="values of K (default 1 2 3 4)")
    s52.add_argument("--M", type=positive_int, help="ABC weight bases (default 1)")
    s52.add_argument(
        "--kbit-weights",
        choices=("bwn", "sign", "dorefa", "fp"),
        help="weights of the K-bit layer (bwn: one scaled binary base, like M=1; default bwn)",
    )
    set_run(s52, run_section52)

    t2 = what.add_parser(
        "table2",
        help="parameters, memory and operations of the Table 2 ResNets",
        description="Parameters, memory and operations of the Table 2 ResNets, float and "
        "packed (no training).",
    )
    t2.add_argument(
        "--image-size",
        type=positive_int,
        default=TABLE2_DEFAULTS["image_size"],
        help="height and width of the input",
    )
    t2.add_argument(
        "--width",
        type=positive_int,
        default=TABLE2_DEFAULTS["width"],
        help="first-stage channels",
    )
    t2.add_argument("--json", action="store_true", help="print the rows as JSON")
    add_output_flags(t2, default=None, resume=False, aliases=("--quiet",))
    set_run(t2, run_table2)
    return parser


#: Each comparison's own settings when a flag is not given (besides the budget's).
OWN_DEFAULTS = {
    "base": None,
    "seeds": [0, 1, 2],
    "extra": False,
    "Ks": [1, 2, 3, 4],
    "M": 1,
    "kbit_weights": "bwn",
}
OWN_KEYS = {
    "table3": ("base", "seeds", "extra"),
    "section52": ("base", "seeds", "Ks", "M", "kbit_weights"),
}


def _add_training_flags(parser) -> None:
    parser.add_argument("--base", metavar="JSON", help=BASE_HELP)
    add_seeds_flag(parser, OWN_DEFAULTS["seeds"])
    add_budget_flags(parser, COMPARE_DEFAULTS)
    add_data_flags(parser)
    add_output_flags(parser, default=None, resume=True, aliases=("--quiet",))
    add_parallel_flags(parser)


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


def _settings(args, what: str):
    """The comparison's settings and its run folder (None without --out)."""
    from abcref.apps.folders import open_run_folder

    keys = (*OWN_KEYS[what], *BUDGET_KEYS, *DATA_KEYS)
    defaults = {**COMPARE_DEFAULTS, **OWN_DEFAULTS}
    if args.out is None:
        if args.resume or args.overwrite:
            raise UsageError("--resume and --overwrite apply to a run folder: give --out")
        return resolve(args, keys, defaults=defaults), None
    command = f"compare {what}"
    folder = open_run_folder(args.out, command, resume=args.resume, overwrite=args.overwrite)
    if args.resume:
        saved = folder.previous.get("settings", {})
        return resumed_settings(args, keys, saved, defaults=defaults), folder
    return resolve(args, keys, defaults=defaults), folder


def _sweep_options(args, settings: dict, folder) -> dict:
    """The data and budget of ``table3``/``section52``, as ``run_sweep`` keywords."""
    from abcref.data import load_dataset

    data = load_dataset(data_source(settings["data"]), limit=settings["limit"])
    start = None
    if folder is not None:

        def start():
            folder.start({"settings": settings}, None if args.resume else _logs)

    return {
        "on_start": start,
        "data": data,
        "seeds": tuple(settings["seeds"]),
        **{k: settings[k] for k in BUDGET_KEYS},
        "out_dir": None if folder is None else folder.path,
        "progress": not args.no_progress,
        "resume": bool(args.resume),
        **parallel_options(args),
    }


def _logs(directory: Path) -> None:
    (directory / "logs").mkdir()


def _command(what: str, settings: dict) -> str:
    """The command line of a comparison with ``settings`` (flags for non-defaults)."""
    return command_line(f"abcref compare {what}", settings, {**COMPARE_DEFAULTS, **OWN_DEFAULTS})


def _write_texts(folder, directory: Path, what: str, settings: dict, seconds: float, texts):
    """Write ``run.json``, then the Markdown ``texts(result, record)`` renders from the JSON."""
    from abcref.apps.reporting import read_run_record, write_run_record
    from abcref.apps.results import SweepResult

    write_run_record(directory, _command(what, settings), seconds, resumed=folder.resume)
    saved = SweepResult.from_json(folder.path / "sweep.json")
    for name, text in texts(saved, read_run_record(directory)).items():
        write_text_atomic(directory / name, text)


def run_table3(args) -> int:
    """``abcref compare table3``."""
    from abcref.apps.compare.table3 import (
        plot_table3,
        table3_markdown,
        table3_texts,
        write_table3_csv,
    )
    from abcref.apps.compare.table3 import run_table3 as train_table3

    settings, folder = _settings(args, "table3")
    base = _base_config(settings["base"])
    tic = time.perf_counter()
    result = train_table3(
        base=base, extra=settings["extra"], **_sweep_options(args, settings, folder)
    )
    seconds = time.perf_counter() - tic
    print(table3_markdown(result) + f"\n\nWall time {seconds:.0f} s.")
    if folder is not None:

        def write(directory: Path) -> None:
            write_table3_csv(result, directory / "table3.csv")
            result.to_csv(directory / "runs.csv")
            plot_table3(result, directory / "table3.png")
            _write_texts(folder, directory, "table3", settings, seconds, table3_texts)

        folder.commit(write)
    return 0


def run_section52(args) -> int:
    """``abcref compare section52``."""
    from abcref.apps.compare.section52 import run_section52 as train_section52
    from abcref.apps.compare.section52 import (
        section52_configs,
        section52_costs,
        section52_markdown,
        section52_texts,
    )

    settings, folder = _settings(args, "section52")
    Ks, M, kbit_weights = settings["Ks"], settings["M"], settings["kbit_weights"]
    options = {"M": M, "kbit_weights": kbit_weights, "base": _base_config(settings["base"])}
    configs = section52_configs(Ks, **options)
    sweep_options = _sweep_options(args, settings, folder)
    tic = time.perf_counter()
    result = train_section52(Ks, **options, **sweep_options)
    shape = sweep_options["data"].x_test.shape[1:]  # one example, to count operations
    costs = section52_costs(configs, shape)
    seconds = time.perf_counter() - tic
    text = section52_markdown(result, costs, Ks, M=M, kbit_weights=kbit_weights)
    print(text + f"\n\nWall time {seconds:.0f} s.")
    if folder is not None:
        costs_text = json.dumps(costs, indent=1) + "\n"

        def texts(saved, record):
            spec = {"Ks": Ks, "M": M, "kbit_weights": kbit_weights}
            return section52_texts(saved, json.loads(costs_text), spec, record)

        def write(directory: Path) -> None:
            write_text_atomic(directory / "section52_costs.json", costs_text)
            result.to_csv(directory / "runs.csv")
            _write_texts(folder, directory, "section52", settings, seconds, texts)

        folder.commit(write)
    return 0


def run_table2(args) -> int:
    """``abcref compare table2``."""
    from abcref.apps.compare.table2 import table2_markdown, table2_summary, table2_texts
    from abcref.apps.folders import open_run_folder

    folder = None
    if args.out is not None:
        folder = open_run_folder(args.out, "compare table2", overwrite=args.overwrite)
    elif args.overwrite:
        raise UsageError("--overwrite applies to a run folder: give --out")
    tic = time.perf_counter()
    rows = table2_summary(
        image_size=args.image_size, width=args.width, progress=not args.no_progress
    )
    seconds = time.perf_counter() - tic
    markdown = table2_markdown(rows, image_size=args.image_size)
    print(json.dumps(rows, indent=1) if args.json else markdown)
    if folder is not None:
        settings = {"image_size": args.image_size, "width": args.width}

        def write(directory: Path) -> None:
            from abcref.apps.reporting import read_run_record, write_run_record

            rows_text = json.dumps(rows, indent=1) + "\n"
            write_text_atomic(directory / "table2.json", rows_text)
            command = command_line("abcref compare table2", settings, TABLE2_DEFAULTS)
            write_run_record(directory, command, seconds)
            texts = table2_texts(json.loads(rows_text), settings, read_run_record(directory))
            for name, text in texts.items():
                write_text_atomic(directory / name, text)

        folder.start({"settings": settings}, write)
    return 0
