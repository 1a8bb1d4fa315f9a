"""The ``oracle`` subcommand of the ``abcref`` command.

::

    abcref oracle export DIR [--cases NAME_OR_GLOB ...]
    abcref oracle check DIR --against OTHER [--cases ...] [--verbose]
    abcref oracle list

``check`` exits 0 when every case is within tolerance, 1 when any case
fails or is missing, 2 when a suite or file is malformed.
"""

from __future__ import annotations

import argparse
import sys

from abcref.oracle.cases import select_cases
from abcref.oracle.compare import Report, check_against
from abcref.oracle.export import export_suite
from abcref.oracle.format import OracleFormatError

__all__ = ["add_oracle_subparser", "check_against", "export_suite", "run_oracle"]


def _export(args) -> int:
    try:
        manifest = export_suite(args.directory, cases=args.cases)
    except ValueError as err:
        print(f"abcref oracle export: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {len(manifest['cases'])} case(s) and manifest.json to {args.directory}")
    return 0


def _check(args) -> int:
    try:
        report: Report = check_against(args.directory, args.against, cases=args.cases)
    except OracleFormatError as err:
        print(f"abcref oracle check: error: {err}", file=sys.stderr)
        return 2
    print(report.format(verbose=args.verbose))
    return 0 if report.ok else 1


def _list(args) -> int:
    try:
        cases = select_cases(args.cases)
    except ValueError as err:
        print(f"abcref oracle list: error: {err}", file=sys.stderr)
        return 2
    for case in cases:
        print(f"{case.name:<36} {case.function}\n    {case.description}")
    return 0


def run_oracle(args) -> int:
    """Run a parsed ``oracle`` command; return the exit status."""
    return args.oracle_handler(args)


def add_oracle_subparser(subparsers) -> argparse.ArgumentParser:
    """Register ``oracle export|check|list`` on an argparse ``subparsers`` object.

    The parsed namespace gets ``func = run_oracle``; call
    ``args.func(args)`` to run it and use the returned int as exit status.
    """
    oracle = subparsers.add_parser(
        "oracle",
        help="golden vectors: export the suite, check another implementation against it",
        description="Use abcref as a correctness oracle (docs/oracle.md).",
    )
    sub = oracle.add_subparsers(dest="oracle_command", required=True)

    exp = sub.add_parser("export", help="write the golden-vector suite to DIR")
    exp.add_argument("directory", metavar="DIR")
    exp.add_argument("--cases", nargs="+", metavar="NAME", help="case names or globs (xnor_*)")
    exp.set_defaults(oracle_handler=_export)

    chk = sub.add_parser(
        "check", help="compare another implementation's outputs with the suite in DIR"
    )
    chk.add_argument("directory", metavar="DIR", help="the reference suite")
    chk.add_argument(
        "--against",
        required=True,
        metavar="OTHER",
        help="directory with <case>.npz files holding your outputs",
    )
    chk.add_argument("--cases", nargs="+", metavar="NAME", help="only these cases")
    chk.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="print every output's errors, passing cases too",
    )
    chk.set_defaults(oracle_handler=_check)

    lst = sub.add_parser("list", help="list the cases of the suite")
    lst.add_argument("--cases", nargs="+", metavar="NAME", help="only these (globs allowed)")
    lst.set_defaults(oracle_handler=_list)

    oracle.set_defaults(func=run_oracle)
    return oracle
