"""``abcref figures``: regenerate the README figures (:func:`abcref.apps.figures.make_all`)."""

from __future__ import annotations

import time

from abcref.cli._common import add_output_flags, input_file, set_run

DESCRIPTION = """\
Regenerate every figure of figures/ with abcref.apps.figures.make_all:
weight approximation, reconstruction error vs M, the (M, N) accuracy heatmap, binary
feature maps and training curves. About a minute and a half on 2 cores; --quick for a smoke run.
Everything is written at the end, in one step: an interrupted run leaves --out as it was."""

EPILOG = """\
examples:
  abcref figures --out runs/figures
  abcref figures --out /tmp/figs --quick
  abcref figures --out figures --overwrite     # regenerate the repository's figures/
  abcref figures --out figures --overwrite --sweep figures/accuracy_sweep.json
                                               # heatmap and curves from a saved sweep
"""


def add_subparser(subparsers):
    """Register ``figures`` on the ``abcref`` command's subparsers."""
    parser = subparsers.add_parser(
        "figures",
        help="regenerate the README figures (trains on the embedded digits)",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    parser.add_argument("--quick", action="store_true", help="tiny budget (seconds), for testing")
    parser.add_argument(
        "--sweep",
        metavar="SWEEP_JSON",
        help="draw the heatmap and training curves from this sweep file (accuracy_sweep.json "
        "or an abcref sweep's sweep.json) instead of re-running the sweep",
    )
    add_output_flags(parser, default="figures", resume=False)
    set_run(parser, run)
    return parser


def run(args) -> int:
    """Run a parsed ``figures`` command."""
    from abcref.apps.figures import make_all

    tic = time.perf_counter()
    sweep = None if args.sweep is None else input_file(args.sweep, "--sweep")
    written = make_all(
        args.out,
        quick=args.quick,
        sweep=sweep,
        progress=not args.no_progress,
        overwrite=args.overwrite,
    )
    for path in written:
        print(f"wrote {path} ({path.stat().st_size / 1000:.0f} kB)")
    print(f"{len(written)} files in {args.out}/, {time.perf_counter() - tic:.0f} s")
    return 0
