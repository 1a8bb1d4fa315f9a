"""Explain a mismatch by a known convention difference.

Implementations of ABC-Net disagree on a handful of points the paper
leaves open (``docs/conventions.md``). When another implementation's
output fails, :func:`explain` recomputes the case under each alternative
reading of :mod:`abcref.oracle.readings` with :mod:`abcref.oracle.variants`
and reports those whose result the other arrays match, within the case's
tolerance. A reading is named only when it reproduces the outputs it
explains **and** every output that passed, so that it never contradicts
what the other implementation got right. Readings that explain nothing
alone are also tried in pairs, because a port often carries two such
differences.

Some hints need no recomputation: a ``+-1`` output holding zeros
(``sign(0) = 0``), one holding only 0 and 1 with a 0 present (bits
stored instead of signs), NaN in an ``M = 1`` case (the shift computed
as 0/0), alphas of the other scope's shape (channel-wise against
whole-layer), and weight bases that are abcref's in another order.
"""

from __future__ import annotations

import itertools

import numpy as np

from abcref.oracle.functions import FUNCTIONS
from abcref.oracle.readings import PRECISION, Reading, readings_for
from abcref.oracle.tolerance import FLOAT_TOLERANCES, within_tolerance

_SIGN_OUTPUTS = ("B", "A")  # outputs that hold only +1 / -1
_M1_NAN = (
    "NaN in {names}: for M = 1 the shift -1 + 2(i - 1)/(M - 1) is 0/0 = NaN; eq. (2)'s "
    "evenly spaced shifts give u = [0] for M = 1, the plain sign(W - mean) base "
    "(conventions.md #4)"
)


def _structural(case, other: dict, failing: list[str]) -> list[str]:
    hints = []
    for name in failing:
        if name not in _SIGN_OUTPUTS or name not in other:
            continue
        values = np.unique(other[name])
        zeros = int(np.count_nonzero(other[name] == 0))
        if zeros and set(values.tolist()) <= {0, 1}:
            hints.append(f"{name} holds only 0 and 1: store signs as -1/+1, not bits")
        elif zeros:
            hints.append(
                f"sign(0) = 0 somewhere (zeros in bases): {name} holds 0 at {zeros} "
                "position(s); abcref's values are only +1 and -1 (conventions.md #1)"
            )
    kw = case["kwargs"]
    if kw.get("M") == 1 and kw.get("shifts") is None:
        nan = [n for n in failing if n in other and np.isnan(other[n].astype(np.float64)).any()]
        if nan:
            hints.append(_M1_NAN.format(names=", ".join(nan)))
    return hints


def _scope_shape(case, ref: dict, other: dict) -> list[str]:
    """Hint when alphas have the shape of the other scope, (C_out, M) against (M,)."""
    if "alphas" not in other or "alphas" not in ref:
        return []
    mine, theirs = ref["alphas"].shape, other["alphas"].shape
    if mine == theirs:
        return []
    M, c_out = case["kwargs"].get("M"), ref["B"].shape[1] if "B" in ref else None
    if mine == (M,) and theirs == (c_out, M):
        return [
            f"alphas has shape {list(theirs)}, (C_out, M): one alpha set per output channel, "
            f"i.e. channel-wise (section 3.1.2); this case is whole-layer, alphas of shape "
            f"(M,) = {list(mine)} (conventions.md #6)"
        ]
    if mine == (c_out, M) and theirs == (M,):
        return [
            f"alphas has shape {list(theirs)}, (M,): one alpha set for the whole layer "
            f"(section 3.1.1); this case is channel-wise, alphas of shape (C_out, M) = "
            f"{list(mine)} (conventions.md #6)"
        ]
    return []


def _base_order(ref: dict, other: dict, failing: list[str]) -> list[str]:
    """Hint when the other bases are abcref's bases in another order."""
    if "B" not in failing or "B" not in other or other["B"].shape != ref["B"].shape:
        return []
    mine, theirs = ref["B"], other["B"]
    order = []
    for m in range(theirs.shape[0]):
        same = [k for k in range(mine.shape[0]) if np.array_equal(theirs[m], mine[k])]
        if not same:
            return []
        order.append(same[0])
    if sorted(order) != list(range(mine.shape[0])):
        return []
    return [
        f"B holds abcref's bases in another order (yours[m] = abcref's[{order}[m]]): abcref "
        "orders B_i by increasing shift u_i = -1 ... +1, and alphas follow the same order"
    ]


def _variant_outputs(case, inputs, overrides):
    """The case recomputed under ``overrides``, and the tolerance to judge it by."""
    spec = FUNCTIONS[case["function"]]
    overrides = dict(overrides)
    tolerance = None
    if overrides.pop(PRECISION, None) == "float32":
        inputs = {
            k: a.astype(np.float32) if a.dtype == np.float64 else a for k, a in inputs.items()
        }
        tolerance = FLOAT_TOLERANCES["float32"]
    try:
        with np.errstate(all="ignore"):
            return spec.variant(inputs, dict(case["kwargs"]), overrides), tolerance
    except (ValueError, TypeError, ArithmeticError, IndexError, np.linalg.LinAlgError):
        return None, None  # this reading cannot even be computed on these inputs


def _agrees(case, name, alt, other, ref, tolerance) -> bool:
    a, o = np.asarray(alt[name]), other[name]
    if a.shape != o.shape:
        return False
    tol = case["outputs"][name]
    atol, rtol = tol["atol"], tol["rtol"]
    if tolerance is not None and (atol or rtol):  # float32 reading: float32 tolerances
        scale = np.abs(ref[name][np.isfinite(ref[name])])
        atol = tolerance[0] * (float(scale.max(initial=0.0)) or 1.0)
        rtol = tolerance[1]
    return bool(within_tolerance(a, o, atol, rtol).all())


def _explained(case, inputs, ref, other, failing, passing, overrides) -> list[str]:
    """Failing outputs the reading reproduces; [] if it breaks an output that passed."""
    alt, tolerance = _variant_outputs(case, inputs, overrides)
    if alt is None:
        return []
    for name in passing:
        if name in alt and not _agrees(case, name, alt, other, ref, tolerance):
            return []
    return [n for n in failing if n in alt and _agrees(case, n, alt, other, ref, tolerance)]


def explain(case: dict, ref: dict, other: dict, failing: list[str], *, pairs=True) -> list[str]:
    """Hints for the ``failing`` outputs of ``case``.

    Parameters
    ----------
    case : dict
        The case's manifest entry.
    ref : dict
        The reference arrays (inputs and outputs).
    other : dict
        The other implementation's output arrays: every declared output
        it holds with a real numeric dtype (of any shape).
    failing : list of str
        Names of the outputs out of tolerance (or of the wrong shape).
    pairs : bool
        Also try readings in pairs for what no single reading explains.

    Returns
    -------
    list of str
        Human-readable hints; empty when nothing known explains it.
    """
    failing = [n for n in failing if n in other]
    passing = [n for n in case["outputs"] if n in other and n not in failing]
    hints = _structural(case, other, failing) + _scope_shape(case, ref, other)
    hints += _base_order(ref, other, failing)
    inputs = {k: ref[k] for k in case["inputs"]}
    float64 = any(ref[k].dtype == np.float64 for k in case["inputs"])
    readings = readings_for(case, float64_inputs=float64)
    explained: set[str] = set()
    for reading in readings:
        names = _explained(case, inputs, ref, other, failing, passing, reading.overrides)
        if names:
            explained.update(names)
            hints.append(f"{reading.text} [outputs: {', '.join(names)}]")
    rest = [n for n in failing if n not in explained]
    if rest and pairs:
        hints += _pairs(case, inputs, ref, other, rest, passing, readings)
    return hints


def _pairs(case, inputs, ref, other, rest, passing, readings: list[Reading]) -> list[str]:
    hints = []
    paired = [r for r in readings if r.family != "precision"]
    for first, second in itertools.combinations(paired, 2):
        if first.family == second.family:
            continue
        overrides = {**first.overrides, **second.overrides}
        names = _explained(case, inputs, ref, other, rest, passing, overrides)
        if names:
            hints.append(
                f"{first.text}; together with: {second.text} [outputs: {', '.join(names)}]"
            )
    return hints
