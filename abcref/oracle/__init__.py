"""abcref as a correctness oracle: golden vectors, a checker and its hints.

Export the suite, run your implementation on its inputs, write your
outputs laid out the same way, and check them::

    abcref oracle export SUITE
    abcref oracle check SUITE --against MINE

- :mod:`abcref.oracle.format`: the directory layout, the manifest schema
  and its validation, atomic writes, loading without pickle.
- :mod:`abcref.oracle.cases`: the cases and how their inputs are built.
- :mod:`abcref.oracle.functions`: the functions a case may name.
- :mod:`abcref.oracle.export`: :func:`export_suite`.
- :mod:`abcref.oracle.compare`: :func:`check_against` and its report.
- :mod:`abcref.oracle.hints`: which convention difference explains a
  mismatch; :mod:`abcref.oracle.variants` computes the alternatives.
- :mod:`abcref.cli.oracle`: the ``oracle`` subcommand.

See ``docs/oracle.md``.
"""

from abcref.oracle.compare import Report, check_against
from abcref.oracle.export import export_suite
from abcref.oracle.format import (
    FORMAT_VERSION,
    OracleFormatError,
    load_arrays,
    load_case,
    load_manifest,
    validate_manifest,
    write_arrays,
)

__all__ = [
    "FORMAT_VERSION",
    "OracleFormatError",
    "Report",
    "check_against",
    "export_suite",
    "load_arrays",
    "load_case",
    "load_manifest",
    "validate_manifest",
    "write_arrays",
]
