"""The ``abcref`` command: argument parsing only; the library and :mod:`abcref.apps` do the work.

::

    abcref reproduce [--out runs/reproduce] [--quick]     the paper's M x N trend, ~2 minutes
    abcref train [small_cnn|cifar_resnet] --M 3 --N 3 --epochs 5 --out runs/m3n3
    abcref eval runs/m3n3/model.npz --bits
    abcref sweep --M 1 3 5 --N 1 3 5 --seeds 0 1 2 --out runs/sweep
    abcref summary --checkpoint runs/m3n3/model.npz --input-shape 1 8 8
    abcref figures [--out figures] [--quick]
    abcref oracle export|check|list ...
    abcref compare table3|section52|table2 ...

One module per subcommand (``abcref.cli.train``, ``.evaluate``, ``.sweep``,
...), each with ``add_subparser(subparsers)``; :mod:`abcref.cli._common`
holds the shared flags and argument types and the one exit-status policy
(0 success, 1 negative verdict, 2 could not run as asked, 130
interrupted), applied by :func:`main`. The commands' output directories are
run folders (:mod:`abcref.apps.folders`). See ``docs/cli.md``.
"""

from __future__ import annotations

import os
import sys

# Before NumPy is loaded: single-threaded OpenBLAS unless the user says otherwise.
# The convolutions of small images gain nothing from BLAS threads, and on a busy
# machine those threads spin waiting for cores (measured: 7.7 s instead of 1.2 s
# per epoch of the reproduce model under a load average of 4). The tutorials and
# figures pin one thread too, so the command's numbers match theirs. Set
# OPENBLAS_NUM_THREADS yourself to use more cores (larger models, CIFAR-10).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from abcref.cli import (  # noqa: E402
    compare,
    evaluate,
    figures,
    oracle,
    reproduce,
    summary,
    sweep,
    train,
)
from abcref.cli._common import EXIT_ERROR, Parser, error_line, run  # noqa: E402

__all__ = ["build_parser", "main"]

#: In the order ``abcref --help`` lists them.
SUBCOMMANDS = (reproduce, train, evaluate, sweep, summary, figures, oracle, compare)

EPILOG = """\
start here:
  abcref reproduce            # FP + ABC grid on the embedded digits, about two minutes on 2 cores

run folders: a command refuses an --out that holds another run or other files, and changes
nothing; --resume continues an interrupted run, --overwrite replaces one (docs/cli.md)

exit status: 0 success, 1 negative verdict (a failed check, diverged training),
2 could not run as asked (usage error, unusable input), 130 interrupted (Ctrl-C, SIGTERM)"""


def build_parser() -> Parser:
    """The argument parser of the ``abcref`` command."""
    parser = Parser(
        prog="abcref",
        description="Reference NumPy implementation of ABC-Net (Lin, Zhao & Pan, NIPS 2017):\n"
        "train binary networks, reproduce the paper's M x N trend, run bit-packed inference,\n"
        "and export golden vectors. 'abcref COMMAND --help' explains each command.",
        epilog=EPILOG,
    )
    parser.add_argument(
        "--traceback",
        action="store_true",
        help="on an error, show the Python traceback instead of a one-line message",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_subparser(subparsers)
    return parser


def main(argv=None) -> int:
    """Run the ``abcref`` command with ``argv`` (default ``sys.argv[1:]``); return its status.

    ``--help`` and usage errors return too (0 and 2) instead of raising
    ``SystemExit``.
    """
    argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown:  # name the subcommand, not "abcref", as for every other usage error
            prog = getattr(args, "command_prog", parser.prog)
            message = f"unrecognized arguments: {' '.join(unknown)}"
            parser.exit(EXIT_ERROR, error_line(prog, message, f" (see {prog} --help)") + "\n")
    except SystemExit as exc:  # --help, or a usage error argparse reported
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_ERROR)
    # The subcommand's own arguments, for the records that show the command line.
    args.argv = argv[argv.index(args.command) + 1 :] if args.command in argv else argv
    return run(args)
