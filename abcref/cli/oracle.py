"""``abcref oracle``: export the golden-vector suite, check another implementation against it.

::

    abcref oracle export DIR [--cases NAME_OR_GLOB ...]
    abcref oracle check DIR --against OTHER [--cases ...] [--verbose]
    abcref oracle check-model RUN [--verbose]
    abcref oracle list [--cases ...]

``check`` exits 0 when every selected case passes, 1 when any case fails,
is missing or cannot be read (the other implementation's verdict), and 2
when the check cannot run: a malformed reference suite (its manifest or
a case file), a manifest in ``OTHER`` that is malformed or contradicts
the suite, an ``OTHER`` that is not a directory, a ``--cases`` pattern
that matches nothing. ``check-model`` exits 0 when the run agrees with
abcref's model, 1 when a layer, the logits, the loss or a gradient
differs, and 2 when the run directory is unusable (``docs/oracle.md``).
"""

from __future__ import annotations

from abcref.cli._common import EXIT_NEGATIVE, EXIT_OK, set_run


def add_subparser(subparsers):
    """Register ``oracle export|check|list`` on the ``abcref`` command's subparsers."""
    oracle = subparsers.add_parser(
        "oracle",
        help="golden vectors: export the suite, check another implementation against it",
        description="Use abcref as a correctness oracle (docs/oracle.md).",
    )
    sub = oracle.add_subparsers(dest="oracle_command", required=True, metavar="ACTION")

    exp = sub.add_parser("export", help="write the golden-vector suite to DIR")
    exp.add_argument("directory", metavar="DIR")
    exp.add_argument("--cases", nargs="+", metavar="NAME", help="case names or globs (xnor_*)")
    set_run(exp, run_export)

    chk = sub.add_parser(
        "check",
        help="compare another implementation's outputs with the suite in DIR",
        description="Exit status 0: every case passed; 1: a case failed, is missing or is "
        "unreadable; 2: the suite, OTHER or --cases is unusable.",
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
    set_run(chk, run_check)

    mdl = sub.add_parser(
        "check-model",
        help="compare another implementation's whole-model run with abcref's model",
        description="Exit status 0: the run agrees with abcref's model of its config; 1: a "
        "layer output, the logits, the loss or a gradient differs; 2: RUN is unusable.",
    )
    mdl.add_argument(
        "run_dir",
        metavar="RUN",
        help="directory with model.json, parameters.npz, batch.npz, outputs.npz [, gradients.npz]",
    )
    mdl.add_argument(
        "--verbose", "-v", action="store_true", help="list agreeing layers and gradients too"
    )
    set_run(mdl, run_check_model)

    lst = sub.add_parser("list", help="list the cases of the suite")
    lst.add_argument("--cases", nargs="+", metavar="NAME", help="only these (globs allowed)")
    set_run(lst, run_list)
    return oracle


def run_export(args) -> int:
    """``abcref oracle export``."""
    from abcref.oracle.export import export_suite

    manifest = export_suite(args.directory, cases=args.cases)
    print(f"wrote {len(manifest['cases'])} case(s) and manifest.json to {args.directory}")
    return EXIT_OK


def run_check(args) -> int:
    """``abcref oracle check``: 1 unless every case passed."""
    from abcref.oracle.compare import check_against

    report = check_against(args.directory, args.against, cases=args.cases)
    print(report.format(verbose=args.verbose))
    return EXIT_OK if report.ok else EXIT_NEGATIVE


def run_check_model(args) -> int:
    """``abcref oracle check-model``: 1 unless the run agrees with abcref's model."""
    from abcref.oracle.modelcheck import check_model

    report = check_model(args.run_dir)
    print(report.format(verbose=args.verbose))
    return EXIT_OK if report.ok else EXIT_NEGATIVE


def run_list(args) -> int:
    """``abcref oracle list``."""
    from abcref.oracle.cases import select_cases

    for case in select_cases(args.cases):
        print(f"{case.name:<36} {case.function}\n    {case.description}")
    return EXIT_OK
