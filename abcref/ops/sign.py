"""The one sign function of abcref: two values, and sign(0) stated.

A binary network's sign must never return 0 (a packed bit can only mean
+1 or -1), so ``np.sign`` will not do. What happens at exactly 0 differs
between papers, so it is an argument:

- ABC-Net §5.1: "sign maps a positive x to 1 and otherwise -1", so
  sign(0) = -1. abcref's weight bases use this (``zero_sign=-1``, the
  default).
- XNOR-Net / BWN (Rastegari et al. 2016, after eq. 4) and BNN
  (Courbariaux et al. 2016, eq. 1) give +1 for ``x >= 0``; DoReFa-Net's
  code does too. The comparison systems pass ``zero_sign=+1``.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["binary_sign", "check_zero_sign"]


def binary_sign(x: np.ndarray, zero_sign: int = -1) -> np.ndarray:
    """Two-valued sign: +1 where ``x > 0``, -1 where ``x < 0``, ``zero_sign`` at 0.

    Parameters
    ----------
    x : ndarray
        Any shape, float32 or float64 (not checked: every caller has).
    zero_sign : {-1, 1}
        The value given to exact zeros (default -1, ABC-Net §5.1).

    Returns
    -------
    ndarray
        Same shape and dtype as ``x``, holding only +1 and -1.
    """
    positive = x >= 0 if zero_sign == 1 else x > 0
    return np.where(positive, x.dtype.type(1), x.dtype.type(-1))


def check_zero_sign(zero_sign) -> int:
    """Validate ``zero_sign``: the value sign(0) takes, +1 or -1."""
    if (
        isinstance(zero_sign, bool)
        or not isinstance(zero_sign, numbers.Integral)
        or zero_sign not in (1, -1)
    ):
        raise ValueError(f"zero_sign must be 1 or -1 (the value of sign(0)), got {zero_sign!r}")
    return int(zero_sign)
