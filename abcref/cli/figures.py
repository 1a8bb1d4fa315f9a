"""``abcref figures``: regenerate figures/ (:func:`abcref.apps.figures.make_all`)."""

from __future__ import annotations

import time

from abcref.cli._common import add_output_flags, add_parallel_flags, parallel_options, set_run

DESCRIPTION = """\
Regenerate the figures of figures/ with abcref.apps.figures.make_all: weight
approximation, reconstruction error vs M and binary feature maps, from the
full-precision and M = N = 5 models of abcref reproduce's setting (seed 0).
The M x N heatmap and the training curves come from abcref reproduce itself,
with its table. --quick for a smoke run. Everything is written at the end, in
one step: an interrupted run leaves --out as it was."""

EPILOG = """\
examples:
  abcref figures --out runs/figures
  abcref figures --out /tmp/figs --quick
  abcref figures --out figures --overwrite     # regenerate the repository's figures/
"""


def add_subparser(subparsers):
    """Register ``figures`` on the ``abcref`` command's subparsers."""
    parser = subparsers.add_parser(
        "figures",
        help="regenerate the figures of figures/ (trains two models on the embedded digits)",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    parser.add_argument("--quick", action="store_true", help="tiny budget (seconds), for testing")
    add_output_flags(parser, default="figures", resume=False)
    add_parallel_flags(parser)
    set_run(parser, run)
    return parser


def run(args) -> int:
    """Run a parsed ``figures`` command."""
    from abcref.apps.figures import make_all

    tic = time.perf_counter()
    written = make_all(
        args.out,
        quick=args.quick,
        progress=not args.no_progress,
        overwrite=args.overwrite,
        **parallel_options(args),
    )
    for path in written:
        print(f"wrote {path} ({path.stat().st_size / 1000:.0f} kB)")
    print(f"{len(written)} files in {args.out}/, {time.perf_counter() - tic:.0f} s")
    return 0
