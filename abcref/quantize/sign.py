"""The sign function of the comparison systems, with sign(0) made explicit.

Every baseline binarizes with a two-valued sign: the output is never 0
(a packed bit can only mean +1 or -1). What happens at exactly 0 differs
between papers, so it is a parameter, ``zero_sign``:

- XNOR-Net / BWN (Rastegari et al. 2016, text after eq. 4):
  ``B_i = +1 if W_i >= 0``, so sign(0) = +1.
- BNN (Courbariaux et al. 2016, eq. 1): ``Sign(x) = +1 if x >= 0``, +1.
- DoReFa-Net (Zhou et al. 2016): the paper is silent; the authors'
  tensorpack code maps 0 to +1 (``tf.where(x == 0, 1, sign(x))``).

So all baselines default to ``zero_sign=1``. (ABC-Net's own weight bases
use sign(0) = -1, conventions.md point 1; that is the ABC paper's §5.1.)
"""

from __future__ import annotations

import numbers

import numpy as np


def check_zero_sign(zero_sign) -> int:
    """Validate ``zero_sign``: the value sign(0) takes, +1 or -1."""
    if (
        isinstance(zero_sign, bool)
        or not isinstance(zero_sign, numbers.Integral)
        or zero_sign not in (1, -1)
    ):
        raise ValueError(f"zero_sign must be 1 or -1 (the value of sign(0)), got {zero_sign!r}")
    return int(zero_sign)


def binary_sign(x: np.ndarray, zero_sign: int = 1) -> np.ndarray:
    """Two-valued sign: +1 where ``x > 0``, -1 where ``x < 0``.

    Parameters
    ----------
    x : ndarray
        Any shape, float32 or float64.
    zero_sign : {1, -1}
        The value given to exact zeros.

    Returns
    -------
    ndarray
        Same shape and dtype as ``x``, holding only +1 and -1.
    """
    positive = x >= 0 if zero_sign == 1 else x > 0
    return np.where(positive, x.dtype.type(1), x.dtype.type(-1))
