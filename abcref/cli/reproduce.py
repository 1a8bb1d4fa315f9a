"""``abcref reproduce``: the paper's M x N trend on the digits (:mod:`abcref.apps.reproduce`)."""

from __future__ import annotations

from dataclasses import replace

from abcref.apps.reproduce import DEFAULT, QUICK, ReproduceSettings, reproduce
from abcref.cli._common import (
    EXIT_NEGATIVE,
    EXIT_OK,
    UsageError,
    add_epochs_flag,
    add_output_flags,
    add_parallel_flags,
    add_seeds_flag,
    parallel_options,
    positive_int,
    set_run,
)


def _spaced(values) -> str:
    return " ".join(map(str, values))


DESCRIPTION = f"""\
Reproduce ABC-Net's M x N trend (paper Table 2) at laptop scale, offline.

Trains on the embedded digits (1,437 train / 360 test 8x8 images) a full-precision
small_cnn (widths {_spaced(DEFAULT.widths)}) and an ABC model for every M in \
{_spaced(DEFAULT.Ms)} and N in {_spaced(DEFAULT.Ns)},
for seeds {_spaced(DEFAULT.seeds)} ({DEFAULT.epochs} epochs each, Adam lr {DEFAULT.lr:g}, \
cosine decay, batch {DEFAULT.batch_size}),
prints the M x N table of test top-1 (mean ± std over seeds), checks that the
compiled xnor/popcount model predicts exactly like the float model for every
trained ABC model, and writes into --out: results.md (a Markdown block to embed:
the setting, the table, the bit check and the trend sentences computed from the
numbers), table.md, table.csv, heatmap.png, training_curves.png, sweep.json,
bits_check.json, run.json (command, wall time, machine), logs/, models/.
Exit status 1 if the bit check fails."""

EPILOG = """\
examples:
  abcref reproduce
  abcref reproduce --out /tmp/abc --seeds 0 1 2 3 4
  abcref reproduce --out /tmp/narrow --widths 8 16 16 16 --epochs 5
  abcref reproduce --quick          # seconds; a smoke test, numbers meaningless
  abcref reproduce --jobs 1         # one run after another (same results, slower)
"""


def add_subparser(subparsers):
    """Register ``reproduce`` on the ``abcref`` command's subparsers."""
    parser = subparsers.add_parser(
        "reproduce",
        help="the main job: FP + ABC (M, N) grid on the embedded digits, table, bit check, "
        "figures (about two minutes)",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        default=None,
        help="tiny budget (128 images, widths 4 8, M, N in 1 2, one seed, one epoch)",
    )
    add_seeds_flag(parser, DEFAULT.seeds)
    add_epochs_flag(parser, DEFAULT.epochs)
    parser.add_argument(
        "--widths",
        nargs="+",
        type=positive_int,
        metavar="C",
        help=f"small_cnn: output channels of each 3x3 conv (default {_spaced(DEFAULT.widths)})",
    )
    add_output_flags(parser, default="runs/reproduce", resume=True)
    add_parallel_flags(parser)
    set_run(parser, run)
    return parser


def run(args) -> int:
    """Run a parsed ``reproduce`` command; 1 if the bit check fails."""
    from abcref.apps.folders import open_run_folder

    if args.resume:
        saved = open_run_folder(args.out, "reproduce", resume=True).previous.get("settings", {})
        settings = ReproduceSettings.from_json(saved)
        if _asked(args, settings) != settings:
            raise UsageError(
                f"--resume continues {args.out!r} with its saved settings; --quick, --seeds, "
                "--epochs or --widths as given would change them"
            )
    else:
        settings = _asked(args, DEFAULT)
    report = reproduce(
        args.out,
        settings=settings,
        progress=not args.no_progress,
        resume=args.resume,
        overwrite=args.overwrite,
        **parallel_options(args),
    )
    return EXIT_OK if report.bits_ok else EXIT_NEGATIVE


def _asked(args, base: ReproduceSettings) -> ReproduceSettings:
    """The settings the flags ask for: ``base`` (or --quick's) with --seeds, --epochs, --widths."""
    settings = QUICK if args.quick else base
    if args.seeds is not None:
        settings = replace(settings, seeds=tuple(args.seeds))
    if args.epochs is not None:
        settings = replace(settings, epochs=args.epochs)
    if args.widths is not None:
        settings = replace(settings, widths=tuple(args.widths))
    return settings
