"""The ``abcref`` command.

Subcommands register themselves through ``add_*_subparser(subparsers)``
functions and set ``func`` on the parsed namespace; ``main`` dispatches.
"""

from __future__ import annotations

import argparse
import sys

from abcref.bitpack.cli import add_summary_subparser
from abcref.oracle.cli import add_oracle_subparser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``abcref`` command."""
    parser = argparse.ArgumentParser(
        prog="abcref", description="Reference NumPy implementation of ABC-Net."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_oracle_subparser(subparsers)
    add_summary_subparser(subparsers)
    return parser


def main(argv=None) -> int:
    """Run the ``abcref`` command; return its exit status."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
