"""N shifted binary activations: paper section 3.2, eqs. (8)-(11).

A real activation ``R`` (a batch-norm output) is approximated by
``R_tilde = sum_n beta_n A_n`` with ``A_n = H_{v_n}(R)`` in {-1, +1}.

=========================================  ===================================
eq. (8)  h_v(x) = clip(x + v, 0, 1)        :func:`h_v`
eq. (9)  H_v(R) = 2 1[h_v(R) >= 0.5] - 1   :func:`H_v` (comparator of §5.3)
eq. (10) forward and STE backward          :func:`binarize_activations_forward`,
                                           :func:`binarize_activations_backward`
eq. (11) A_n = H_{v_n}(R)                  :func:`binarize_activations`
R_tilde = sum_n beta_n A_n                 :func:`approximate_activations_forward`,
                                           :func:`approximate_activations_backward`
=========================================  ===================================

The STE mask is ``1[0 <= R + v <= 1]``: the paper prints ``R - v``, an
erratum (conventions row 8). :func:`default_activation_params` is the
initialisation of v and beta (conventions row 9).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.special

from abcref._checks import (
    check_array,
    check_dout,
    check_float_dtype,
    check_int,
    check_real,
)

# -- eqs. (8), (9), (11) ------------------------------------------------------------


def h_v(R: np.ndarray, v: float) -> np.ndarray:
    """The bounded rectifier ``h_v(x) = clip(x + v, 0, 1)``, eq. (8)."""
    R = check_array(R, "R")
    return np.clip(R + R.dtype.type(check_real(v, "v")), 0, 1)


def H_v(R: np.ndarray, v: float) -> np.ndarray:  # noqa: N802 (the paper's name)
    """The binarization ``H_v(R) = 2 * 1[h_v(R) >= 0.5] - 1``, eq. (9).

    Computed as the comparator of section 5.3, ``+1 iff R >= t`` with the
    threshold ``t = fl(0.5 - v)`` rounded once to the dtype of ``R``: what
    hardware does, and what abcref's bit engine and the oracle use. Ties
    ``R == t`` give +1 (conventions row 2). In exact arithmetic this is
    eq. (9); in floating point the two can differ when ``R + v`` lies
    within an ulp of 0.5. Example, in float64: ``H_v([0.7], -0.2)`` is +1,
    because ``fl(0.5 - (-0.2)) == 0.7``, while eq. (9) taken literally
    gives -1: ``0.7 + (-0.2)`` is below 0.5 both exactly (by 2**-54 for
    the doubles nearest those decimals) and as rounded by ``h_v``.
    """
    R = check_array(R, "R")
    v = R.dtype.type(check_real(v, "v"))
    return _H_v(R, v)


def _H_v(R, v_n):
    return np.where(R >= R.dtype.type(0.5) - v_n, R.dtype.type(1), R.dtype.type(-1))


def activation_thresholds(v: np.ndarray) -> np.ndarray:
    """The comparator thresholds ``t_n = 0.5 - v_n`` of section 5.3, dtype of v."""
    check_array(v, "v", ndim=1)
    return v.dtype.type(0.5) - v


def binarize_activations(R: np.ndarray, v: np.ndarray) -> np.ndarray:
    """N binary activations ``A_1, ..., A_N = H_{v_1}(R), ..., H_{v_N}(R)``, eq. (11).

    Parameters
    ----------
    R : ndarray, any shape
        Real activations (float32 or float64), finite.
    v : ndarray, shape (N,)
        Shift parameters, ``N >= 1``, dtype of ``R``.

    Returns
    -------
    A : ndarray, shape (N, *R.shape), dtype of ``R``
        ``+1`` where ``R >= 0.5 - v_n`` (ties to +1), else ``-1``.
    """
    _check_R_v(R, v)
    return _binarize_activations(R, v)


def _binarize_activations(R, v):
    return np.stack([_H_v(R, v_n) for v_n in v])


def activation_ste_mask(R: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The straight-through mask ``1[0 <= R + v_n <= 1]``, shape (N, *R.shape).

    The paper prints ``1[0 <= R - v <= 1]`` (eq. 10); that contradicts
    ``h_v(x) = clip(x + v, 0, 1)`` (eq. 8), whose unsaturated region is
    ``0 <= R + v <= 1``, and the threshold ``R >= 0.5 - v`` of section
    5.3, which lies at the centre of this window (conventions row 8).
    Evaluated as ``-v_n <= R <= 1 - v_n`` with the bounds rounded once to
    the dtype of ``R``, like the threshold; both bounds are included (as
    PyTorch's ``clamp`` gradient). Returns a bool array.
    """
    _check_R_v(R, v)
    return _ste_mask(R, v)


def _ste_mask(R, v):
    one = R.dtype.type(1)
    return np.stack([(-v_n <= R) & (R <= one - v_n) for v_n in v])


# -- eq. (10): forward and straight-through backward ------------------------------------


def binarize_activations_forward(R: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, dict]:
    """Forward of eq. (10), ``A = stack_n H_{v_n}(R)``; the cache holds R and v."""
    _check_R_v(R, v)
    return _binarize_activations(R, v), {"R": R, "v": v}


def binarize_activations_backward(dA: np.ndarray, cache: dict) -> tuple[np.ndarray, np.ndarray]:
    """The straight-through backward of eq. (10), erratum fixed.

    Parameters
    ----------
    dA : ndarray, shape (N, *R.shape)
        ``dc/dA_n``.
    cache : dict
        From :func:`binarize_activations_forward`.

    Returns
    -------
    dR : ndarray, shape of R
        ``sum_n dA_n * 1[0 <= R + v_n <= 1]``.
    dv : ndarray, shape (N,)
        ``sum(dA_n * 1[0 <= R + v_n <= 1])``: R and v enter ``h_v`` only
        through ``R + v``, so the same mask applies.
    """
    R, v = cache["R"], cache["v"]
    check_dout(dA, (v.shape[0], *R.shape), R.dtype, "dA", like="R")
    return _binarize_activations_backward(dA, R, v)


def _binarize_activations_backward(dA, R, v):
    passed = [np.where(mask_n, dA_n, 0) for dA_n, mask_n in zip(dA, _ste_mask(R, v), strict=True)]
    dR = sum(passed)
    dv = np.array([np.sum(p_n) for p_n in passed], dtype=R.dtype)
    return dR, dv


# -- R_tilde = sum_n beta_n A_n ------------------------------------------------------


def approximate_activations_forward(
    R: np.ndarray, v: np.ndarray, beta: np.ndarray
) -> tuple[np.ndarray, dict]:
    """``R_tilde = beta_1 A_1 + ... + beta_N A_N`` with ``A_n = H_{v_n}(R)`` (section 3.2).

    Parameters
    ----------
    R : ndarray, any shape
    v, beta : ndarray, shape (N,)
        Shifts and scales, dtype of ``R``.

    Returns
    -------
    R_tilde : ndarray, shape and dtype of R
    cache : dict
        ``R``, ``v``, ``beta``, ``A``.
    """
    check_array(R, "R")
    check_activation_params(v, beta, R.dtype)
    A = _binarize_activations(R, v)
    R_tilde = sum(beta_n * A_n for beta_n, A_n in zip(beta, A, strict=True))
    return R_tilde, {"R": R, "v": v, "beta": beta, "A": A}


def approximate_activations_backward(dR_tilde: np.ndarray, cache: dict):
    """Backward of :func:`approximate_activations_forward`.

    Returns
    -------
    dR : ndarray, shape of R
        ``sum_n beta_n dR_tilde * mask_n`` (the STE of eq. 10, corrected).
    dv : ndarray, shape (N,)
        ``beta_n * sum(dR_tilde * mask_n)``.
    dbeta : ndarray, shape (N,)
        ``sum(dR_tilde * A_n)``, exact (R_tilde is linear in beta).
    """
    R, v, beta, A = cache["R"], cache["v"], cache["beta"], cache["A"]
    check_dout(dR_tilde, R.shape, R.dtype, "dR_tilde", like="R")
    dA = np.stack([beta_n * dR_tilde for beta_n in beta])  # dc/dA_n = beta_n dc/dR_tilde
    dR, dv = _binarize_activations_backward(dA, R, v)  # eq. (10)
    dbeta = np.array([np.sum(dR_tilde * A_n) for A_n in A], dtype=R.dtype)
    return dR, dv, dbeta


# -- initial v and beta (conventions row 9) -----------------------------------------------


def default_activation_params(N: int, dtype=np.float32, *, clip: float = 1.0):
    """Initial ``(v, beta)`` that break the symmetry between the N bases.

    Rule (conventions row 9). The input R is a batch-normalised
    activation, modelled as a unit Gaussian.

    1. Thresholds at the equal-probability quantiles of N(0, 1):
       ``t_n = Phi^-1(n / (N + 1))``, so ``v_n = 0.5 - t_n``
       (N = 1: ``t = 0``, the sign function; N = 3: 0, +-0.674).
       Distinct thresholds mean distinct bases and distinct gradients.
    2. ``beta`` minimises ``E[(clip(R, -c, c) - sum_n beta_n A_n)^2]``
       for ``R ~ N(0, 1)``, in closed form: with ``p_n = Phi(t_n)``,
       ``E[A_n A_m] = 1 - 2 |p_n - p_m|`` and
       ``E[clip(R) A_n] = 2 (phi(t_n) - phi(c) + c (1 - Phi(c)))`` for
       ``|t_n| < c`` (``2 c (1 - Phi(t_n))`` above, ``2 c Phi(t_n)``
       below), solved by ``scipy.linalg.lstsq``. The staircase
       ``sum beta_n A_n`` then fits the hard-tanh of R in the L2 sense.

    Parameters
    ----------
    N : int
        Number of binary activations, ``N >= 1``.
    dtype : float32 or float64
    clip : float
        ``c`` of the clipped target (default 1, hard tanh).

    Returns
    -------
    v, beta : ndarray, shape (N,), dtype ``dtype``
        N = 1 gives ``v = 0.5`` and ``beta = 0.631``; N = 3 gives
        thresholds (-0.674, 0, 0.674) and beta (0.307, 0.325, 0.307).
    """
    N = check_int(N, "N", min_value=1)
    dtype = check_float_dtype(dtype)
    c = check_real(clip, "clip")
    if c <= 0:
        raise ValueError(f"clip must be > 0, got {clip}")
    p = np.arange(1, N + 1) / (N + 1)
    t = scipy.special.ndtri(p)
    gram = 1.0 - 2.0 * np.abs(p[:, None] - p[None, :])
    # E[clip(R) 1[R >= t]], piecewise in t (below, inside, above [-c, c]).
    inside = _gauss_pdf(t) - _gauss_pdf(c) + c * scipy.special.ndtr(-c)
    upper = np.where(t >= c, c * scipy.special.ndtr(-t), inside)
    rhs = 2.0 * np.where(t <= -c, c * scipy.special.ndtr(t), upper)
    beta = scipy.linalg.lstsq(gram, rhs)[0]
    return (0.5 - t).astype(dtype), beta.astype(dtype)


def _gauss_pdf(x):
    return np.exp(-0.5 * np.square(x)) / np.sqrt(2 * np.pi)


# -- argument checks (once per public call) ------------------------------------------------


def _check_R_v(R, v) -> None:
    check_array(R, "R")
    _check_v(v, R.dtype)


def _check_v(v, dtype) -> None:
    check_array(v, "v", ndim=1)
    if v.size == 0:
        raise ValueError(f"v must hold at least one value (N >= 1), got shape {v.shape}")
    if v.dtype != dtype:
        raise TypeError(f"v must have the dtype of R ({dtype}), got dtype {v.dtype}")


def check_activation_params(v, beta, dtype) -> None:
    """Check the N shifts and scales of an input of ``dtype``: both (N,), of that dtype."""
    _check_v(v, dtype)
    check_array(beta, "beta", ndim=1)
    if beta.dtype != dtype:
        raise TypeError(f"beta must have the dtype of R ({dtype}), got dtype {beta.dtype}")
    if beta.shape != v.shape:
        raise ValueError(
            f"beta must have the shape of v {v.shape} (one scale per activation base), "
            f"got shape {beta.shape}"
        )
