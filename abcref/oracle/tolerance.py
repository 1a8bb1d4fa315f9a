"""How close another implementation's output must be: the oracle's tolerances."""

from __future__ import annotations

import numpy as np

from abcref.oracle.functions import FUNCTIONS

#: ``(atol scale, rtol)`` per float dtype. atol is scaled by the largest
#: magnitude of the reference output; integer, bool and +-1 outputs are exact.
#: Loose enough for any summation order, tight enough that every convention
#: difference of docs/conventions.md is far outside them.
FLOAT_TOLERANCES = {"float64": (1e-9, 1e-7), "float32": (1e-4, 1e-4)}


def tolerance_for(name: str, array: np.ndarray, function: str) -> tuple[float, float]:
    """``(atol, rtol)`` for one output: 0 for +-1, integer and bool outputs."""
    if name in FUNCTIONS[function].bit_outputs or array.dtype.kind in "biu":
        return 0.0, 0.0
    atol_scale, rtol = FLOAT_TOLERANCES[array.dtype.name]
    scale = float(np.max(np.abs(array[np.isfinite(array)]), initial=0.0)) or 1.0
    return atol_scale * scale, rtol


def within_tolerance(ref: np.ndarray, other: np.ndarray, atol: float, rtol: float) -> np.ndarray:
    """Elementwise ``|other - ref| <= atol + rtol |ref|`` in float64.

    Equal values pass (infinities included); NaN never passes.
    """
    r = ref.astype(np.float64)
    o = other.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        return (o == r) | (np.abs(o - r) <= atol + rtol * np.abs(r))
