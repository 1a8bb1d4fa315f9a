"""Comparators for binary activations, with batch norm folded in (section 5.3).

Section 5.3 (1): ``H_v(R) = +1 iff R >= 0.5 - v`` is a comparator, no
addition for the shift (:func:`plain_comparator`).

Batch norm folded into the comparator (section 5.3 (2))
-------------------------------------------------------
With ``BN(R) = a R + b`` per channel and ``t = 0.5 - v``, the paper writes
``H_v(BN(R)) = +1 iff R >= (t - b) / a`` (:func:`fold_batchnorm`). That
holds for ``a > 0`` only:

- ``a > 0``: ``+1 iff R >= (t - b) / a``;
- ``a < 0``: dividing by a negative number flips the comparison,
  ``+1 iff R <= (t - b) / a``;
- ``a = 0``: ``BN(R) = b`` for every R, so the output is the constant
  ``+1 if b >= t else -1``.

Ties and float rounding. The float model evaluates ``fl(BN(R)) >= t``;
the quotient ``(t - b) / a`` is itself rounded, so for an R within an
ulp or two of it the two comparisons can disagree.
:func:`fold_batchnorm_exact`, which the compiled engine uses, therefore
finds, per channel and activation, the exact boundary of the float
predicate instead. ``fl(BN(.))`` is monotone
(each rounded step ``x - mean``, ``/ s``, ``* gamma``, ``+ beta`` is
monotone), so ``{R : fl(BN(R)) >= t}`` is a ray of floats,
``[R*, inf)`` for ``a > 0`` or ``(-inf, R*]`` for ``a < 0``; a bisection
over the ordered bit patterns of the dtype's finite floats finds ``R*``
exactly (at most 64 steps). The comparator ``R >= R*`` (or ``R <= R*``)
then agrees with ``H_v(fl(BN(R)))`` for **every** finite float R, ties
included (tested on the boundary values and their neighbours).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from abcref._checks import check_array, check_same_dtype
from abcref.binarize.activations import activation_thresholds

# -- comparators -------------------------------------------------------------


@dataclass(frozen=True)
class ActivationComparator:
    """Binarizes each channel of R with N comparators.

    Attributes
    ----------
    direction : ndarray of int8, shape (C,)
        +1: output +1 iff ``R >= thresholds``; -1: iff ``R <= thresholds``;
        0: constant ``constant`` (batch-norm scale 0).
    thresholds : ndarray of shape (N, C)
    constant : ndarray of bool, shape (N, C)
        The output (True = +1) of channels whose direction is 0.
    """

    direction: np.ndarray
    thresholds: np.ndarray
    constant: np.ndarray

    @property
    def num_activations(self) -> int:
        return self.thresholds.shape[0]

    def bits(self, x: np.ndarray) -> np.ndarray:
        """Bits of ``A_n`` (True = +1), shape (N, batch, C, H, W), for x (batch, C, H, W)."""
        check_array(x, "x", ndim=4)
        if x.shape[1] != self.thresholds.shape[1]:  # C = 1 would broadcast silently
            raise ValueError(
                f"x has {x.shape[1]} channels, the comparator {self.thresholds.shape[1]} "
                f"(x shape {x.shape})"
            )
        return self._bits(x)

    def _bits(self, x: np.ndarray) -> np.ndarray:
        t = self.thresholds[:, None, :, None, None]
        bits = x[None] >= t
        flipped = self.direction < 0
        if flipped.any():  # batch-norm scale a < 0: the comparison flips
            bits[:, :, flipped] = x[None][:, :, flipped] <= t[:, :, flipped]
        constant = self.direction == 0
        if constant.any():  # batch-norm scale a = 0: constant output
            bits[:, :, constant] = self.constant[:, None, constant, None, None]
        return bits

    def signs(self, x: np.ndarray) -> np.ndarray:
        """``A_n`` as +-1 in the dtype of x, shape (N, batch, C, H, W)."""
        return np.where(self.bits(x), 1, -1).astype(x.dtype)


def plain_comparator(v: np.ndarray, channels: int) -> ActivationComparator:
    """Comparators ``R >= 0.5 - v_n`` for every channel (no batch norm folded)."""
    t = activation_thresholds(v)
    return ActivationComparator(
        direction=np.ones(channels, dtype=np.int8),
        thresholds=np.repeat(t[:, None], channels, axis=1),
        constant=np.zeros((v.shape[0], channels), dtype=bool),
    )


def fold_batchnorm(a: np.ndarray, b: np.ndarray, v: np.ndarray) -> ActivationComparator:
    """``H_v(a R + b)`` as comparators on R: the threshold ``(0.5 - v - b) / a``, section 5.3 (2).

    Parameters
    ----------
    a, b : ndarray of shape (C,)
        Per-channel scale and shift of the batch norm at run time
        (``a = gamma / sqrt(var + eps)``, ``b = beta - a * mean``).
    v : ndarray of shape (N,)
        Activation shifts, dtype of ``a``.

    Returns
    -------
    ActivationComparator
        Thresholds ``(0.5 - v_n - b) / a`` (N, C), rounded once; the
        direction ``sign(a)`` (the comparison flips for ``a < 0``); for
        ``a = 0`` the constant output ``b >= 0.5 - v_n`` (threshold 0).

    Notes
    -----
    The paper's formula, correct for ``a > 0`` only (conventions row 12).
    The rounded quotient can misclassify an R within an ulp or two of it;
    :func:`fold_batchnorm_exact` does not.
    """
    _check_fold_args(a, b, v)
    t = activation_thresholds(v)[:, None]  # 0.5 - v_n, (N, 1)
    zero = a == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        thresholds = np.where(zero, 0, (t - b) / a)  # (0.5 - v - b) / a
    constant = (b >= t) & zero  # a = 0: BN(R) = b for every R
    return ActivationComparator(np.sign(a).astype(np.int8), thresholds.astype(a.dtype), constant)


def _check_fold_args(a, b, v):
    check_same_dtype(a=check_array(a, "a", ndim=1), b=check_array(b, "b", ndim=1))
    check_same_dtype(a=a, v=check_array(v, "v", ndim=1))
    if b.shape != a.shape:
        raise ValueError(f"b must have shape {a.shape} like a, got shape {b.shape}")


def _ordered_keys(x: np.ndarray) -> np.ndarray:
    """Map floats to signed integers in the same order (an involution on bit patterns)."""
    ints = x.view(np.int64 if x.dtype == np.float64 else np.int32)
    bits = 63 if x.dtype == np.float64 else 31
    return ints ^ ((ints >> bits) & np.array(2**bits - 1, dtype=ints.dtype))


def _from_keys(keys: np.ndarray, dtype) -> np.ndarray:
    bits = 63 if np.dtype(dtype) == np.float64 else 31
    ints = keys ^ ((keys >> bits) & np.array(2**bits - 1, dtype=keys.dtype))
    return ints.view(dtype)


def _boundary(predicate, shape, dtype, upward: bool) -> np.ndarray:
    """Exact float boundary of a monotone predicate, elementwise.

    ``upward``: the predicate is true on ``[R*, inf)``; returns the
    smallest finite float R* where it holds (+inf if nowhere, -inf if
    everywhere). Otherwise true on ``(-inf, R*]``: returns the largest
    (-inf if nowhere, +inf if everywhere).
    """
    finfo = np.finfo(dtype)
    lo = _ordered_keys(np.full(shape, -finfo.max, dtype=dtype))
    hi = _ordered_keys(np.full(shape, finfo.max, dtype=dtype))
    at_lo = predicate(_from_keys(lo, dtype))
    at_hi = predicate(_from_keys(hi, dtype))
    one = np.array(1, dtype=lo.dtype)
    if upward:
        # Keys are float bit patterns in float order; the first true key lies in [lo, hi].
        while True:
            active = lo < hi
            if not active.any():
                break
            mid = (lo & hi) + ((lo ^ hi) >> one)  # floor((lo + hi) / 2), no overflow
            ok = predicate(_from_keys(mid, dtype))
            hi = np.where(active & ok, mid, hi)
            lo = np.where(active & ~ok, mid + one, lo)
        out = _from_keys(hi, dtype).copy()
        out[~at_hi] = np.inf
        out[at_lo] = -np.inf
        return out
    while True:
        active = lo < hi
        if not active.any():
            break
        mid = (lo | hi) - ((lo ^ hi) >> one)  # ceil((lo + hi) / 2), no overflow
        ok = predicate(_from_keys(mid, dtype))
        lo = np.where(active & ok, mid, lo)
        hi = np.where(active & ~ok, mid - one, hi)
    out = _from_keys(lo, dtype).copy()
    out[~at_lo] = -np.inf
    out[at_hi] = np.inf
    return out


def fold_batchnorm_exact(
    a: np.ndarray,
    b: np.ndarray,
    v: np.ndarray,
    *,
    batchnorm: Callable[[np.ndarray], np.ndarray] | None = None,
) -> ActivationComparator:
    """:func:`fold_batchnorm` with the exact float boundary instead of the rounded quotient.

    Parameters
    ----------
    a, b : ndarray of shape (C,)
        Per-channel scale and shift of the batch norm at run time
        (``a = gamma / sqrt(var + eps)``, ``b = beta - a * mean``).
    v : ndarray of shape (N,)
        Activation shifts; thresholds ``t_n = 0.5 - v_n``.
    batchnorm : callable, optional
        The float batch norm whose rounding the comparators must match
        exactly: maps an array of shape (C,) (one R per channel) to
        BN(R) of shape (C,). Default ``a * R + b`` in the dtype of a.
        Pass the model's own ``batchnorm2d_forward`` (eval) to get bit
        agreement with the float model.

    Returns
    -------
    ActivationComparator
        ``direction = sign(a)``; thresholds ``R*`` with
        ``+1 iff R >= R*`` (a > 0), ``+1 iff R <= R*`` (a < 0); for
        ``a = 0`` the constant ``b >= t_n``.

    Notes
    -----
    The returned threshold is the exact float boundary of
    ``fl(BN(R)) >= t_n`` (module docstring), so the comparator agrees
    with the float model for every finite R, ties included; it differs
    from the paper's quotient by at most a few ulps.
    """
    _check_fold_args(a, b, v)
    dtype = a.dtype
    if batchnorm is None:

        def batchnorm(r):
            return a * r + b

    t = activation_thresholds(v)  # (N,)
    n_act, channels = v.shape[0], a.shape[0]

    def predicate(r):  # r: (N, C) -> H_v(BN(r)) == +1
        # The bisection probes +-max float, where BN may overflow to +-inf: harmless.
        with np.errstate(over="ignore", invalid="ignore"):
            return np.stack([batchnorm(r[n]) >= t[n] for n in range(n_act)])

    direction = np.sign(a).astype(np.int8)
    shape = (n_act, channels)
    up = _boundary(predicate, shape, dtype, upward=True)
    down = _boundary(predicate, shape, dtype, upward=False)
    thresholds = np.where(direction[None] > 0, up, np.where(direction[None] < 0, down, 0))
    constant = predicate(np.zeros(shape, dtype=dtype)) & (direction[None] == 0)
    return ActivationComparator(direction, thresholds.astype(dtype), constant)
