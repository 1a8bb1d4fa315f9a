"""abcref as a correctness oracle: golden vectors, a whole-model check, and their hints.

Export the suite, run your implementation on its inputs, write your
outputs laid out the same way, and check them::

    abcref oracle export SUITE
    abcref oracle check SUITE --against MINE

Or export one step of your whole model (parameters, a batch, logits,
layer outputs, gradients) and check it against abcref's model::

    abcref oracle check-model RUN

- :mod:`abcref.oracle.format`: the directory layout, the manifest schema
  and its validation, atomic writes, loading without pickle.
- :mod:`abcref.oracle.cases`: the cases and how their inputs are built.
- :mod:`abcref.oracle.functions`: the functions a case may name.
- :mod:`abcref.oracle.export`: :func:`export_suite`.
- :mod:`abcref.oracle.compare`: :func:`check_against` and its report.
- :mod:`abcref.oracle.hints`: which convention difference explains a
  mismatch; :mod:`abcref.oracle.readings` lists the alternatives (one per
  classic porting mistake), :mod:`abcref.oracle.variants` computes them.
- :mod:`abcref.oracle.modelrun`: the run directory of a whole model and
  abcref's traced run; :mod:`abcref.oracle.modelcheck`: :func:`check_model`;
  :mod:`abcref.oracle.modelhints`: hints for one layer and layer order.
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
from abcref.oracle.modelcheck import ModelReport, check_model
from abcref.oracle.modelrun import export_model_run

__all__ = [
    "FORMAT_VERSION",
    "ModelReport",
    "OracleFormatError",
    "Report",
    "check_against",
    "check_model",
    "export_model_run",
    "export_suite",
    "load_arrays",
    "load_case",
    "load_manifest",
    "validate_manifest",
    "write_arrays",
]
