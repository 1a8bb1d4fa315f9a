"""``abcref sweep``: an (M, N) grid plus full precision over seeds (:mod:`abcref.apps.sweep`)."""

from __future__ import annotations

import time
from pathlib import Path

from abcref.cli._common import (
    ARCH_KEYS,
    BUDGET_KEYS,
    DATA_KEYS,
    add_budget_flags,
    add_data_flags,
    add_model_flags,
    add_progress_flag,
    add_seeds_flag,
    model_config,
    nonnegative_int,
    positive_int,
    resolve,
    set_run,
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
"""


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
    group.add_argument("--M", nargs="+", type=positive_int, default=[1, 3, 5], help="weight bases")
    group.add_argument(
        "--N",
        nargs="+",
        type=nonnegative_int,
        default=[1, 3, 5],
        help="binary activations (0 = full-precision activations)",
    )
    add_seeds_flag(group, default=[0, 1, 2])
    group.add_argument("--no-fp", action="store_true", help="leave out the full-precision model")
    add_budget_flags(parser)
    add_data_flags(parser)
    group = parser.add_argument_group("output")
    group.add_argument("--out", default="runs/sweep", metavar="DIR", help="output directory")
    add_progress_flag(group)
    set_run(parser, run)
    return parser


def run(args) -> int:
    """Run a parsed ``sweep`` command."""
    from abcref._io import write_text_atomic
    from abcref.apps.plots import plot_heatmap
    from abcref.apps.sweep import grid_configs, run_sweep
    from abcref.data import load_dataset

    settings = resolve(args, (*ARCH_KEYS, "per_channel", "weight_ste", *BUDGET_KEYS, *DATA_KEYS))
    data = load_dataset(settings["data"], limit=settings["limit"], dtype=settings["dtype"])
    base = model_config(
        settings, num_classes=data.num_classes, in_channels=data.image_shape[0], conv="fp"
    )
    configs = grid_configs(
        args.M,
        [None if n == 0 else n for n in args.N],
        base=base,
        full_precision=not args.no_fp,
        per_channel=bool(settings["per_channel"]),
        weight_ste=settings["weight_ste"],
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"{data!r}\n{len(configs)} configs x {len(args.seeds)} seeds, "
        f"{settings['epochs']} epochs each; writing to {out}/"
    )
    tic = time.perf_counter()
    result = run_sweep(
        configs,
        data=data,
        seeds=tuple(args.seeds),
        **{k: settings[k] for k in BUDGET_KEYS},
        out_dir=out,
        progress=not args.no_progress,
    )
    wall = time.perf_counter() - tic
    command = "abcref sweep " + " ".join(args.argv)
    write_text_atomic(out / "table.md", sweep_report(result, wall=wall, command=command))
    result.to_csv(out / "table.csv")
    plot_heatmap(result, out / "heatmap.png")
    print()
    print(result.mn_grid().to_markdown())
    print(f"\nwrote {out}/table.md, table.csv, heatmap.png, sweep.json, logs/ ({wall:.0f} s)")
    return 0


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
