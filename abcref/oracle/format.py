"""The golden-vector format: one ``.npz`` per case plus ``manifest.json``.

A suite is a directory::

    SUITE/
      manifest.json        what every case is (schema below)
      <case name>.npz      the case's input and output arrays

The manifest is plain JSON, the arrays plain ``.npz`` (``numpy.savez``).
Loading never unpickles (``allow_pickle=False``), every write is atomic
(temporary file in the same directory, then ``os.replace``), and every
manifest is validated on load so that a malformed suite fails with a
message naming the case and the key instead of a wrong comparison.

Manifest schema (format version 1)::

    {
      "format": "abcref-oracle",
      "format_version": 1,
      "abcref_version": "0.1.0",
      "cases": [
        {
          "name": "weights_whole_M3_ddof0",           # [A-Za-z0-9_.-]+
          "function": "abcref.binarize.approximate_weights",
          "description": "free text",
          "file": "weights_whole_M3_ddof0.npz",       # always name + ".npz"
          "seed": 1,                                  # int, or null
          "kwargs": {"M": 3, "ddof": 0},              # the call, as given
          "conventions": {"ddof": 0, "sign_of_zero": -1, ...},
          "inputs":  {"W": {"shape": [4, 2, 3, 3], "dtype": "float64"}},
          "outputs": {"B": {"shape": [3, 4, 2, 3, 3], "dtype": "float64",
                            "atol": 0.0, "rtol": 0.0}, ...}
        }, ...
      ]
    }

See ``docs/oracle.md`` for the full specification.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from abcref._checks import check_bool, check_choice, check_int, check_pair, check_real
from abcref._io import atomic_write, read_npz
from abcref.oracle.functions import FUNCTIONS

FORMAT_NAME = "abcref-oracle"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"

#: dtypes an array in a suite may have (no object, string or complex arrays).
ALLOWED_DTYPES = (
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float32",
    "float64",
)

_CASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TOP_KEYS = {"format": str, "format_version": int, "abcref_version": str, "cases": list}
_CASE_KEYS = {
    "name": str,
    "function": str,
    "description": str,
    "file": str,
    "seed": (int, type(None)),
    "kwargs": dict,
    "conventions": dict,
    "inputs": dict,
    "outputs": dict,
}


class OracleFormatError(ValueError):
    """A suite directory, manifest or array file does not follow the format."""


def write_manifest(directory, manifest: dict) -> Path:
    """Validate ``manifest`` and write it atomically to ``directory``."""
    validate_manifest(manifest)
    path = Path(directory) / MANIFEST_NAME
    text = json.dumps(manifest, indent=2, sort_keys=False, allow_nan=False) + "\n"
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
    return path


def write_arrays(path, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` to the ``.npz`` file ``path`` atomically.

    Raises
    ------
    OracleFormatError
        If an array has a dtype outside :data:`ALLOWED_DTYPES`.
    """
    for key, a in arrays.items():
        a = np.asarray(a)
        if a.dtype.name not in ALLOWED_DTYPES:
            raise OracleFormatError(
                f"array {key!r} has dtype {a.dtype}; "
                f"a suite holds only {', '.join(ALLOWED_DTYPES)}"
            )
    path = Path(path)
    atomic_write(path, lambda f: np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()}))
    return path


# -- loading ------------------------------------------------------------------
def load_arrays(path) -> dict[str, np.ndarray]:
    """Read every array of a ``.npz`` file without ever unpickling (``abcref._io.read_npz``).

    Raises
    ------
    OracleFormatError
        If the path is missing or a directory, the file is truncated or
        not an ``.npz`` archive, a member is not a valid NPY array, or an
        array is an object array (which would need pickle to load).
    """
    try:
        return read_npz(path, kind="array", error=OracleFormatError)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise OracleFormatError(str(exc)) from None


def load_manifest(directory) -> dict:
    """Read and validate ``directory/manifest.json``.

    Raises
    ------
    OracleFormatError
        If the file is missing, not JSON, or does not follow the schema.
    """
    path = Path(directory) / MANIFEST_NAME
    if not path.is_file():
        raise OracleFormatError(f"{str(path)!r} does not exist: is {str(directory)!r} a suite?")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise OracleFormatError(f"{str(path)!r} is not valid JSON: {err}") from None
    validate_manifest(manifest, source=str(path))
    return manifest


def load_case(directory, case: dict, *, check_declared: bool = True) -> dict[str, np.ndarray]:
    """Load the arrays of one validated ``case`` of the suite in ``directory``.

    With ``check_declared`` every declared input and output must be present
    with its declared shape and dtype.
    """
    arrays = load_arrays(Path(directory) / case["file"])
    if check_declared:
        check_case_arrays(case, arrays, where=str(Path(directory) / case["file"]))
    return arrays


def check_case_arrays(
    case: dict, arrays: dict, *, where: str, roles=("inputs", "outputs")
) -> None:
    """Require the arrays a case declares (``roles``) with their shapes and dtypes."""
    for role in roles:
        for key, spec in case[role].items():
            if key not in arrays:
                raise OracleFormatError(
                    f"case {case['name']!r}: {role[:-1]} array {key!r} missing from {where!r} "
                    f"(it holds {sorted(arrays)})"
                )
            a = arrays[key]
            if list(a.shape) != list(spec["shape"]):
                raise OracleFormatError(
                    f"case {case['name']!r}: array {key!r} in {where!r} has shape "
                    f"{list(a.shape)}, the manifest declares {spec['shape']}"
                )
            if a.dtype.name != spec["dtype"]:
                raise OracleFormatError(
                    f"case {case['name']!r}: array {key!r} in {where!r} has dtype "
                    f"{a.dtype.name}, the manifest declares {spec['dtype']}"
                )


# -- validation ---------------------------------------------------------------
#: Bound on M, stride and padding: far above any case, low enough that no
#: tampered manifest makes a hint's recomputation allocate gigabytes.
MAX_KWARG = 64


def _check_shifts(value, name, kwargs):
    if value is None:
        return
    if not isinstance(value, list) or len(value) != kwargs.get("M"):
        raise ValueError(f"{name} must be null or a list of M numbers, got {value!r}")
    for i, u in enumerate(value):
        check_real(u, f"{name}[{i}]")


def _check_bounded_pair(value, name, minimum):
    pair = check_pair(value, name, min_value=minimum)
    if max(pair) > MAX_KWARG:
        raise ValueError(f"{name} must be at most {MAX_KWARG}, got {value!r}")


def _check_m(value, name, kwargs):
    if check_int(value, name, min_value=1) > MAX_KWARG:
        raise ValueError(f"{name} must be at most {MAX_KWARG}, got {value}")


def _check_ridge(value, name, kwargs):
    if check_real(value, name) < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")


#: kwarg name -> check(value, name, all kwargs): raises ValueError or TypeError.
_KWARG_CHECKS = {
    "M": _check_m,
    "shifts": _check_shifts,
    "ddof": lambda value, name, kw: check_int(value, name, min_value=0),
    "ridge": _check_ridge,
    "per_channel": lambda value, name, kw: check_bool(value, name),
    "weight_ste": lambda value, name, kw: check_choice(value, name, ("paper", "sum", "identity")),
    "pad_value": lambda value, name, kw: check_real(value, name),
    "stride": lambda value, name, kw: _check_bounded_pair(value, name, 1),
    "padding": lambda value, name, kw: _check_bounded_pair(value, name, 0),
}


def _check_kwargs(kwargs: dict, where: str) -> None:
    try:
        for key, value in kwargs.items():
            _KWARG_CHECKS[key](value, f"kwargs[{key!r}]", kwargs)
    except (ValueError, TypeError) as err:
        raise OracleFormatError(f"{where}: {err}") from None


def _require(obj: dict, keys: dict, where: str) -> None:
    if not isinstance(obj, dict):
        raise OracleFormatError(f"{where} must be a JSON object, got {type(obj).__name__}")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise OracleFormatError(f"{where} is missing required key(s) {missing}")
    for key, types in keys.items():
        value = obj[key]
        ok = isinstance(value, types) and not (isinstance(value, bool) and types is int)
        if not ok:
            names = (
                types.__name__
                if isinstance(types, type)
                else "/".join("null" if t is type(None) else t.__name__ for t in types)
            )
            raise OracleFormatError(
                f"{where}: key {key!r} must be {names}, got {type(value).__name__} {value!r}"
            )


def _validate_array_spec(spec, where: str, *, with_tolerance: bool) -> None:
    keys = {"shape": list, "dtype": str}
    if with_tolerance:
        keys.update({"atol": (int, float), "rtol": (int, float)})
    _require(spec, keys, where)
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in spec["shape"]):
        raise OracleFormatError(
            f"{where}: 'shape' must be a list of non-negative ints, got {spec['shape']}"
        )
    if spec["dtype"] not in ALLOWED_DTYPES:
        raise OracleFormatError(
            f"{where}: dtype {spec['dtype']!r} is not one of {', '.join(ALLOWED_DTYPES)}"
        )
    if with_tolerance:
        for key in ("atol", "rtol"):
            tol = spec[key]
            if isinstance(tol, bool) or not (tol >= 0 and np.isfinite(tol)):
                raise OracleFormatError(
                    f"{where}: {key!r} must be a finite number >= 0, got {tol!r}"
                )
        if spec["dtype"] not in ("float32", "float64") and (spec["atol"] or spec["rtol"]):
            raise OracleFormatError(
                f"{where}: integer/bit outputs are compared exactly, atol and rtol must be 0"
            )


def validate_manifest(manifest, *, source: str = "manifest") -> None:
    """Check ``manifest`` against the schema; raise :class:`OracleFormatError`.

    Checks required keys and their types, the format name and version,
    unique safe case names, ``file == name + ".npz"``, function names
    known to :mod:`abcref.oracle.functions`, every keyword argument
    present with a valid value, and the array declarations (shapes,
    allowed dtypes, tolerances; exact for integer outputs).
    """
    _require(manifest, _TOP_KEYS, source)
    if manifest["format"] != FORMAT_NAME:
        raise OracleFormatError(
            f"{source}: 'format' must be {FORMAT_NAME!r}, got {manifest['format']!r}"
        )
    if manifest["format_version"] != FORMAT_VERSION:
        raise OracleFormatError(
            f"{source}: format_version {manifest['format_version']} is not supported "
            f"(this abcref reads version {FORMAT_VERSION})"
        )
    seen = set()
    for i, case in enumerate(manifest["cases"]):
        where = f"{source}: cases[{i}]"
        _require(case, _CASE_KEYS, where)
        name = case["name"]
        where = f"{source}: case {name!r}"
        if not _CASE_NAME.match(name):
            raise OracleFormatError(
                f"{where}: a case name may hold only letters, digits, '_', '.', '-'"
            )
        if name in seen:
            raise OracleFormatError(f"{where}: duplicate case name")
        seen.add(name)
        if case["file"] != name + ".npz":
            raise OracleFormatError(
                f"{where}: 'file' must be {name + '.npz'!r}, got {case['file']!r}"
            )
        if case["function"] not in FUNCTIONS:
            raise OracleFormatError(
                f"{where}: unknown function {case['function']!r}; known: {sorted(FUNCTIONS)}"
            )
        spec = FUNCTIONS[case["function"]]
        for role, with_tol in (("inputs", False), ("outputs", True)):
            for key, arr in case[role].items():
                _validate_array_spec(arr, f"{where}: {role}[{key!r}]", with_tolerance=with_tol)
        both = set(case["inputs"]) & set(case["outputs"])
        if both:
            raise OracleFormatError(f"{where}: names {sorted(both)} are both inputs and outputs")
        missing_in = [k for k in spec.required_inputs if k not in case["inputs"]]
        unknown_in = [k for k in case["inputs"] if k not in spec.inputs]
        if missing_in or unknown_in:
            raise OracleFormatError(
                f"{where}: {case['function']} takes inputs {list(spec.inputs)} "
                f"(required {list(spec.required_inputs)}); missing {missing_in}, "
                f"unknown {unknown_in}"
            )
        unknown_out = [k for k in case["outputs"] if k not in spec.outputs]
        if unknown_out or not case["outputs"]:
            raise OracleFormatError(
                f"{where}: {case['function']} produces outputs {list(spec.outputs)}; "
                f"got {list(case['outputs'])}"
            )
        unknown_kw = [k for k in case["kwargs"] if k not in spec.kwargs]
        missing_kw = [k for k in spec.kwargs if k not in case["kwargs"]]
        if unknown_kw or missing_kw:
            raise OracleFormatError(
                f"{where}: {case['function']} cases set every keyword {list(spec.kwargs)} "
                f"explicitly; unknown {unknown_kw}, missing {missing_kw}"
            )
        _check_kwargs(case["kwargs"], where)
