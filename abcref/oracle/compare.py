"""Compare another implementation's outputs with a reference suite.

For every case the reference manifest lists, the other directory must
hold ``<case>.npz`` with every declared output array (same name, same
shape; any real numeric dtype). An output passes when, elementwise,
``|other - ref| <= atol + rtol * |ref|`` with the tolerances declared in
the reference manifest (``atol = rtol = 0`` for +-1 and integer outputs:
exact equality). NaN never passes.

A failing output is explained, where possible, by :mod:`abcref.oracle.hints`:
the case is recomputed under each known alternative convention and the
report says which one the other arrays match.

Files in the other directory that belong to no case, and arrays in a
case's file that are neither its outputs nor its inputs, are listed as
warnings (a misnamed output would otherwise go unnoticed); they do not
change the verdict.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from abcref.oracle import format as fmt
from abcref.oracle.hints import explain
from abcref.oracle.tolerance import within_tolerance


@dataclass
class OutputResult:
    """How one output array of one case compares."""

    name: str
    ok: bool
    atol: float
    rtol: float
    max_abs: float = 0.0
    max_rel: float = 0.0
    n_bad: int = 0
    size: int = 0
    first_bad: tuple | None = None
    ref_value: np.generic | None = None  # at first_bad, in the array's own dtype
    other_value: np.generic | None = None
    problem: str | None = None  # missing array / not numeric / shape mismatch
    note: str | None = None  # dtype differs (compared by value anyway)


@dataclass
class CaseResult:
    """The verdict for one case: PASS, FAIL, MISSING or ERROR."""

    name: str
    function: str
    status: str
    outputs: list[OutputResult] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    message: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "PASS"


@dataclass
class Report:
    """Result of :func:`check_against`: ``ok`` and one entry per case."""

    reference_dir: str
    other_dir: str
    cases: list[CaseResult]
    warnings: list[str] = field(default_factory=list)  # files that match no case

    @property
    def ok(self) -> bool:
        return bool(self.cases) and all(c.ok for c in self.cases)

    def counts(self) -> dict[str, int]:
        out = {"PASS": 0, "FAIL": 0, "MISSING": 0, "ERROR": 0}
        for c in self.cases:
            out[c.status] += 1
        return out

    def format(self, *, verbose: bool = False) -> str:
        """Readable report: one block per failing case, one line per passing one."""
        lines = [f"abcref oracle check: {self.other_dir} against {self.reference_dir}"]
        for case in self.cases:
            lines.extend(_format_case(case, verbose=verbose))
        lines.extend(f"WARNING {w}" for w in self.warnings)
        c = self.counts()
        n_warn = len(self.warnings) + sum(len(case.warnings) for case in self.cases)
        lines.append(
            f"{len(self.cases)} case(s): {c['PASS']} passed, {c['FAIL']} failed, "
            f"{c['MISSING']} missing, {c['ERROR']} error(s), {n_warn} warning(s) -> "
            + ("OK" if self.ok else "NOT OK")
        )
        return "\n".join(lines)


def _fmt(x) -> str:
    """A value at full precision: the shortest text that reads back as the same number."""
    return "-" if x is None else str(x)


def _difference(o: OutputResult) -> str:
    with np.errstate(all="ignore"):
        diff = np.float64(o.other_value) - np.float64(o.ref_value)
        rel = abs(diff) / abs(np.float64(o.ref_value)) if o.ref_value != 0 else np.inf
    text = f"difference {diff:+.3g}"
    return text + (f" (relative {rel:.3g})" if np.isfinite(rel) else "")


def describe_mismatch(o: OutputResult, indent: str = "") -> str:
    """The errors of one output as text: largest errors, tolerance, first bad element."""
    if o.problem:
        return f"{indent}{o.problem}"
    tol = "exact" if o.atol == 0 and o.rtol == 0 else f"atol {o.atol:.3g}, rtol {o.rtol:.3g}"
    lines = [f"{indent}max abs err {o.max_abs:.3g}, max rel err {o.max_rel:.3g}  ({tol})"]
    if not o.ok:
        lines.append(
            f"{indent}{o.n_bad} of {o.size} element(s) out of tolerance; first at index "
            f"{o.first_bad}: reference {_fmt(o.ref_value)}, other {_fmt(o.other_value)}, "
            f"{_difference(o)}"
        )
    if o.note:
        lines.append(f"{indent}note: {o.note}")
    return "\n".join(lines)


def _format_case(case: CaseResult, *, verbose: bool) -> list[str]:
    head = f"{case.status:<7} {case.name}  ({case.function})"
    if case.ok and not verbose and not case.warnings:
        return [head]
    lines = [head]
    if case.message:
        lines.append(f"        {case.message}")
    for o in case.outputs:
        if o.problem:
            lines.append(f"        {o.name}: {o.problem}")
            continue
        first, *rest = describe_mismatch(o, indent="          ").split("\n")
        lines.append(f"        {o.name}: {'ok' if o.ok else 'MISMATCH'}  {first.strip()}")
        lines.extend(rest)
    for hint in case.hints:
        lines.append(f"        HINT: {hint}")
    for warning in case.warnings:
        lines.append(f"        WARNING: {warning}")
    return lines


def compare_output(name, ref: np.ndarray, other, atol: float, rtol: float) -> OutputResult:
    """Compare one output array; see :class:`OutputResult`."""
    res = OutputResult(name=name, ok=False, atol=atol, rtol=rtol, size=int(ref.size))
    if other is None:
        res.problem = "array missing from the other implementation's file"
        return res
    if other.dtype.kind not in "biuf":
        res.problem = f"dtype {other.dtype} is not a real numeric dtype"
        return res
    if other.shape != ref.shape:
        res.problem = f"shape {list(other.shape)}, the reference has {list(ref.shape)}"
        return res
    if other.dtype != ref.dtype:
        res.note = f"dtype {other.dtype}, the reference is {ref.dtype} (compared by value)"
    good = within_tolerance(ref, other, atol, rtol)
    r = ref.astype(np.float64)
    o = other.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        diff = np.abs(o - r)
        rel = np.where(diff == 0, 0.0, diff / np.abs(r))
    if ref.size:
        res.max_abs = float(np.nanmax(diff)) if not np.isnan(diff).all() else float("nan")
        res.max_rel = float(np.nanmax(rel)) if not np.isnan(rel).all() else float("nan")
        if np.isnan(diff).any():
            res.max_abs = res.max_rel = float("nan")
    res.n_bad = int(ref.size - np.count_nonzero(good))
    res.ok = res.n_bad == 0
    if not res.ok:
        idx = tuple(int(i) for i in np.unravel_index(int(np.argmin(good.ravel())), ref.shape))
        res.first_bad = idx
        res.ref_value = ref[idx]
        res.other_value = other[idx]
    return res


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype.kind in "biuf" and bool(np.array_equal(a, b))


def _close(name: str, candidates) -> str:
    near = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {near[0]!r}?" if near else ""


def check_case(other_dir, case: dict, ref: dict) -> CaseResult:
    """Compare one case with the other directory, given the reference arrays ``ref``."""
    result = CaseResult(name=case["name"], function=case["function"], status="ERROR")
    other_path = Path(other_dir) / case["file"]
    if not other_path.exists() and not other_path.is_symlink():
        result.status = "MISSING"
        result.message = f"{str(other_path)!r} does not exist"
        return result
    try:
        other = fmt.load_arrays(other_path)
    except fmt.OracleFormatError as err:
        result.message = str(err)
        return result
    known = [*case["outputs"], *case["inputs"]]
    for key in other:
        if key not in known:
            result.warnings.append(
                f"array {key!r} in {str(other_path)!r} is neither an output nor an input of "
                f"the case (outputs: {', '.join(case['outputs'])}){_close(key, known)}"
            )
    for key in case["inputs"]:
        if key in other and not _same_array(other[key], ref[key]):
            result.message = (
                f"input {key!r} in {str(other_path)!r} differs from the reference input: "
                "run on the inputs of the reference suite (or leave inputs out of your file)"
            )
            return result
    for key, spec in case["outputs"].items():
        result.outputs.append(
            compare_output(key, ref[key], other.get(key), spec["atol"], spec["rtol"])
        )
    if all(o.ok for o in result.outputs):
        result.status = "PASS"
        return result
    result.status = "FAIL"
    # Hints see every numeric output, of the wrong shape too (alphas of the other scope).
    usable = {k: other[k] for k in case["outputs"] if k in other and other[k].dtype.kind in "biuf"}
    result.hints = explain(case, ref, usable, [o.name for o in result.outputs if not o.ok])
    return result


def unrecognised_files(other_dir, manifest: dict) -> list[str]:
    """Warnings for the entries of ``other_dir`` that are no case's file (nor the manifest)."""
    files = {c["file"] for c in manifest["cases"]}
    warnings = []
    for entry in sorted(Path(other_dir).iterdir()):
        if entry.name == fmt.MANIFEST_NAME or entry.name in files:
            continue
        kind = "directory" if entry.is_dir() else "file"
        warnings.append(
            f"{kind} {str(entry)!r} matches no case of the suite{_close(entry.name, files)}"
        )
    return warnings


def _check_other_manifest(ref_manifest: dict, other_dir) -> None:
    """If the other directory has a manifest, it must agree with the reference."""
    path = Path(other_dir) / fmt.MANIFEST_NAME
    if not path.exists():
        return
    other = fmt.load_manifest(other_dir)
    mine = {c["name"]: c for c in ref_manifest["cases"]}
    for case in other["cases"]:
        ref = mine.get(case["name"])
        if ref is None:
            continue
        if case["function"] != ref["function"] or set(case["outputs"]) != set(ref["outputs"]):
            raise fmt.OracleFormatError(
                f"the reference suite declares case {case['name']!r} otherwise than "
                f"{str(path)!r}: {ref['function']} with outputs {sorted(ref['outputs'])}, "
                f"not {case['function']} with outputs {sorted(case['outputs'])}"
            )


def check_against(reference_dir, other_dir, cases=None) -> Report:
    """Compare ``other_dir`` with the reference suite in ``reference_dir``.

    Parameters
    ----------
    reference_dir : path
        A suite written by :func:`abcref.oracle.export_suite`.
    other_dir : path
        Another implementation's outputs laid out the same way
        (``<case>.npz`` holding the output arrays; see docs/oracle.md).
    cases : list of str, optional
        Only these cases, by name or shell pattern (default: every case
        of the reference manifest).

    Returns
    -------
    Report
        ``report.ok`` is True when every case passed;
        ``report.format()`` is the printable text.

    Raises
    ------
    OracleFormatError
        If the reference suite (its manifest, or the file of a selected
        case) or the other manifest, when present, is malformed, or
        ``cases`` names an unknown case: the check cannot run. Problems
        of the other implementation's own files are reported per case
        (``ERROR``), never raised.
    """
    manifest = fmt.load_manifest(reference_dir)
    if not Path(other_dir).is_dir():
        raise fmt.OracleFormatError(f"{str(other_dir)!r} is not a directory")
    _check_other_manifest(manifest, other_dir)
    selected = manifest["cases"]
    if cases is not None:
        names = [c["name"] for c in selected]
        chosen = set()
        for pattern in cases:
            hits = fnmatch.filter(names, pattern)
            if not hits:
                raise fmt.OracleFormatError(
                    f"no case of the suite matches {pattern!r}; cases are {names}"
                )
            chosen.update(hits)
        selected = [c for c in selected if c["name"] in chosen]
    refs = [fmt.load_case(reference_dir, case) for case in selected]
    results = [check_case(other_dir, c, r) for c, r in zip(selected, refs, strict=True)]
    warnings = unrecognised_files(other_dir, manifest)
    return Report(str(reference_dir), str(other_dir), results, warnings)
