"""Compute the golden-vector suite with abcref and write it to a directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import abcref
from abcref.oracle import format as fmt
from abcref.oracle.cases import CaseDef, select_cases
from abcref.oracle.functions import FUNCTIONS, as_json_value, conventions_for
from abcref.oracle.tolerance import tolerance_for


def _spec(a: np.ndarray) -> dict:
    return {"shape": list(a.shape), "dtype": a.dtype.name}


def compute_case(case: CaseDef) -> tuple[dict, dict[str, np.ndarray]]:
    """Run abcref on one case: its manifest entry and its arrays."""
    spec = FUNCTIONS[case.function]
    inputs = case.make_inputs(np.random.default_rng(case.seed))
    outputs = {k: v for k, v in spec.run(inputs, dict(case.kwargs)).items() if v is not None}
    entry = {
        "name": case.name,
        "function": case.function,
        "description": case.description,
        "file": case.name + ".npz",
        "seed": case.seed,
        "kwargs": as_json_value(dict(case.kwargs)),
        "conventions": as_json_value(conventions_for(case.function, dict(case.kwargs))),
        "inputs": {k: _spec(v) for k, v in inputs.items()},
        "outputs": {},
    }
    for key, value in outputs.items():
        atol, rtol = tolerance_for(key, value, case.function)
        entry["outputs"][key] = {**_spec(value), "atol": atol, "rtol": rtol}
    return entry, {**inputs, **outputs}


def export_suite(directory, cases=None) -> dict:
    """Compute the golden-vector suite and write it to ``directory``.

    Parameters
    ----------
    directory : path
        Created if missing. Each case is written as ``<name>.npz``, then
        ``manifest.json`` (all writes atomic). Existing files of the same
        names are replaced; other files are left alone.
    cases : list of str, optional
        Case names or shell patterns (``"xnor_*"``); default every case.

    Returns
    -------
    dict
        The manifest that was written.

    Raises
    ------
    ValueError
        If a pattern in ``cases`` matches no case.
    """
    selected = select_cases(cases)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    for case in selected:
        entry, arrays = compute_case(case)
        fmt.write_arrays(directory / entry["file"], arrays)
        entries.append(entry)
    manifest = {
        "format": fmt.FORMAT_NAME,
        "format_version": fmt.FORMAT_VERSION,
        "abcref_version": abcref.__version__,
        "cases": entries,
    }
    fmt.write_manifest(directory, manifest)
    return manifest
