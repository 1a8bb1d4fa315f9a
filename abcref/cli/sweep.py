"""``abcref sweep``: an (M, N) grid plus full precision over seeds (:mod:`abcref.apps.sweep`)."""

from __future__ import annotations

import time
from pathlib import Path

from abcref._io import write_text_atomic
from abcref.cli._common import (
    ARCH_KEYS,
    BUDGET_KEYS,
    DATA_KEYS,
    TRAIN_DEFAULTS,
    UsageError,
    add_budget_flags,
    add_data_flags,
    add_model_flags,
    add_output_flags,
    add_parallel_flags,
    add_seeds_flag,
    data_source,
    model_config,
    nonnegative_int,
    parallel_options,
    positive_int,
    resolve,
    resumed_settings,
    set_run,
    without_parallel_flags,
)

DESCRIPTION = """\
Train full precision and ABC models for every (M, N) of the grid, once per
seed, with one budget. Writes OUT/table.md (M x N table, mean ± std over seeds),
OUT/table.csv (one row per run), OUT/heatmap.png, OUT/sweep.json and OUT/logs/."""

EPILOG = """\
examples:
  abcref sweep --M 1 3 5 --N 1 3 5 --seeds 0 1 2 --out runs/sweep
  abcref sweep --widths 16 32 32 32 --epochs 3 --M 1 2 3 --N 1 2 3 --out runs/narrow
  abcref sweep --M 1 3 5 --N 0 --per-channel --out runs/weights-only   # Table 1 style
  abcref sweep --jobs 1 --out runs/serial                 # one run after another
  abcref sweep --scheduler tcp://10.0.0.1:8786 --out runs/cluster   # on a Dask cluster
"""


#: Sweep's own settings when a flag is not given (the rest: ``TRAIN_DEFAULTS``).
SWEEP_DEFAULTS = {
    **TRAIN_DEFAULTS,
    "M": [1, 3, 5],
    "N": [1, 3, 5],
    "seeds": [0, 1, 2],
    "no_fp": False,
}
SWEEP_KEYS = (
    *ARCH_KEYS,
    "per_channel",
    "weight_ste",
    *BUDGET_KEYS,
    *DATA_KEYS,
    "M",
    "N",
    "seeds",
    "no_fp",
)


def add_subparser(subparsers):
    """Register ``sweep`` on the ``abcref`` command's subparsers."""
    parser = subparsers.add_parser(
        "sweep",
        help="train a grid of (M, N) plus full precision over several seeds; table and heatmap",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    add_model_flags(parser)
    group = parser.add_argument_group("grid")
    group.add_argument("--M", nargs="+", type=positive_int, help="weight bases (default 1 3 5)")
    group.add_argument(
        "--N",
        nargs="+",
        type=nonnegative_int,
        help="binary activations (0 = full-precision activations; default 1 3 5)",
    )
    add_seeds_flag(group, SWEEP_DEFAULTS["seeds"])
    group.add_argument(
        "--no-fp",
        action="store_true",
        default=None,
        help="leave out the full-precision model",
    )
    add_budget_flags(parser)
    add_data_flags(parser)
    add_output_flags(parser, default="runs/sweep", resume=True)
    add_parallel_flags(parser)
    set_run(parser, run)
    return parser


def run(args) -> int:
    """Run a parsed ``sweep`` command."""
    from abcref.apps.folders import open_run_folder
    from abcref.apps.plots import plot_heatmap
    from abcref.apps.sweep import grid_configs, run_sweep
    from abcref.data import load_dataset

    folder = open_run_folder(args.out, "sweep", resume=args.resume, overwrite=args.overwrite)
    if args.resume:
        settings = resumed_settings(
            args, SWEEP_KEYS, folder.previous.get("settings", {}), defaults=SWEEP_DEFAULTS
        )
    else:
        settings = resolve(args, SWEEP_KEYS, defaults=SWEEP_DEFAULTS)
    if args.activation is not None and settings["no_fp"] and 0 not in settings["N"]:
        raise UsageError(
            "--activation sets what feeds full-precision convs; with --no-fp and no --N 0 "
            "the sweep has none, so it has no effect"
        )
    data = load_dataset(
        data_source(settings["data"]), limit=settings["limit"], dtype=settings["dtype"]
    )
    base = model_config(
        settings, num_classes=data.num_classes, in_channels=data.image_shape[0], conv="fp"
    )
    configs = grid_configs(
        settings["M"],
        [None if n == 0 else n for n in settings["N"]],
        base=base,
        full_precision=not settings["no_fp"],
        per_channel=bool(settings["per_channel"]),
        weight_ste=settings["weight_ste"],
    )
    out = folder.path
    seeds = tuple(settings["seeds"])
    sweep_options = {k: settings[k] for k in BUDGET_KEYS}
    # Where the runs are trained is not part of the run: left out of the record and the
    # command line that table.md shows, and free to change on --resume.
    argv = without_parallel_flags(args.argv)
    record = {"argv": argv, "settings": settings}
    print(
        f"{data!r}\n{len(configs)} configs x {len(seeds)} seeds, "
        f"{settings['epochs']} epochs each; writing to {out}/"
    )
    tic = time.perf_counter()
    result = run_sweep(
        configs,
        data=data,
        seeds=seeds,
        **sweep_options,
        out_dir=out,
        progress=not args.no_progress,
        resume=args.resume,
        on_start=lambda: folder.start(record, None if args.resume else _logs),
        **parallel_options(args),
    )
    wall = time.perf_counter() - tic
    command = "abcref sweep " + " ".join(folder.previous["argv"] if args.resume else argv)

    def write_results(directory: Path) -> None:
        report = sweep_report(result, wall=wall, command=command)
        write_text_atomic(directory / "table.md", report)
        result.to_csv(directory / "table.csv")
        plot_heatmap(result, directory / "heatmap.png")

    folder.commit(write_results)
    print()
    print(result.mn_grid().to_markdown())
    print(f"\nwrote {out}/table.md, table.csv, heatmap.png, sweep.json, logs/ ({wall:.0f} s)")
    return 0


def _logs(directory: Path) -> None:
    (directory / "logs").mkdir()


def sweep_report(result, *, wall: float, command: str) -> str:
    """Markdown: the M x N grid, the per-config summary, the budget."""
    s = result.settings
    return (
        f"# M x N sweep\n\nCommand: `{command}`\n\n"
        f"Final-epoch test top-1 (%), mean ± sample std (ddof=1) over seeds {s['seeds']}; "
        f"{s['epochs']} epochs, {s['optimizer']} lr {s['lr']:g}, {s['schedule']} schedule, "
        f"batch {s['batch_size']}, data {s['data']} ({s['n_train']} train / {s['n_test']} "
        f"test images). Wall time {wall:.0f} s.\n\n"
        f"{result.mn_grid().to_markdown()}\n\n## Every config\n\n{result.to_markdown()}\n"
    )
