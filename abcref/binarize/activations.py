"""Multiple shifted binary activations and their straight-through gradient.

Paper section 3.2, eqs. (8)-(11). A real activation ``R`` (the output of
batch normalisation) is approximated by ``R_tilde = sum_n beta_n A_n``
with ``A_n = H_{v_n}(R)`` in {-1, +1}.

Public names
------------
h_v, H_v                    eqs. (8) and (9) for one shift v
activation_thresholds       t_n = 0.5 - v_n, the comparator of section 5.3
binarize_activations        A = stack of H_{v_n}(R), shape (N, *R.shape)
activation_ste_mask         1[0 <= R + v_n <= 1] (eq. 10, erratum fixed)
binarize_activations_forward / _backward     R -> A_n, STE for R and v
approximate_activations_forward / _backward  R -> sum beta_n A_n, + beta
default_activation_params   the symmetric-breaking (v, beta) initialisation
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.special

from abcref._checks import check_array, check_float_dtype, check_int, check_real, check_shape


def h_v(R: np.ndarray, v: float) -> np.ndarray:
    """Bounded rectifier ``h_v(x) = clip(x + v, 0, 1)`` of eq. (8)."""
    R = check_array(R, "R")
    return np.clip(R + R.dtype.type(check_real(v, "v")), 0, 1)


def H_v(R: np.ndarray, v: float) -> np.ndarray:  # noqa: N802 (the paper's name)
    """Binarisation ``H_v(R) = 2 * 1[h_v(R) >= 0.5] - 1`` of eq. (9).

    Computed as the comparator ``R >= 0.5 - v`` of section 5.3 with the
    threshold rounded once to the dtype of ``R`` (equal to eq. 9 in exact
    arithmetic; ties go to +1, conventions row 2). Same dtype as ``R``.
    """
    return binarize_activations(R, np.asarray([v], dtype=check_array(R, "R").dtype))[0]


def _check_v(v, name: str, dtype) -> np.ndarray:
    v = check_array(v, name, ndim=1)
    if v.size == 0:
        raise ValueError(f"{name} must hold at least one value (N >= 1), got shape {v.shape}")
    if v.dtype != dtype:
        raise TypeError(f"{name} must have the dtype of R ({dtype}), got dtype {v.dtype}")
    return v


def _expand(t: np.ndarray, ndim: int) -> np.ndarray:
    """Shape (N,) -> (N, 1, ..., 1) to broadcast against (N, *R.shape)."""
    return t.reshape((-1,) + (1,) * ndim)


def activation_thresholds(v: np.ndarray) -> np.ndarray:
    """Comparator thresholds ``t_n = 0.5 - v_n`` (section 5.3), dtype of v."""
    return v.dtype.type(0.5) - v


def binarize_activations(R: np.ndarray, v: np.ndarray) -> np.ndarray:
    """N shifted binary activations ``A_n = H_{v_n}(R)`` (eq. 11).

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

    Notes
    -----
    Eqs. (9) and (11), comparator form of section 5.3.
    """
    R = check_array(R, "R")
    v = _check_v(v, "v", R.dtype)
    above = R[None] >= _expand(activation_thresholds(v), R.ndim)
    return np.where(above, R.dtype.type(1), R.dtype.type(-1))


def activation_ste_mask(R: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Straight-through mask ``1[0 <= R + v_n <= 1]``, shape (N, *R.shape).

    The paper prints ``1[0 <= R - v <= 1]`` (eq. 10); that contradicts
    ``h_v(x) = clip(x + v, 0, 1)`` (eq. 8), whose unsaturated region is
    ``0 <= R + v <= 1``, and the threshold ``R >= 0.5 - v`` of section
    5.3, which lies at the centre of this window (conventions row 8).
    Evaluated as ``-v_n <= R <= 1 - v_n`` with bounds rounded once to the
    dtype of ``R``, like the threshold; boundaries are included (as
    PyTorch's ``clamp`` gradient). Returns a bool array.
    """
    R = check_array(R, "R")
    v = _check_v(v, "v", R.dtype)
    low = _expand(-v, R.ndim)
    high = _expand(v.dtype.type(1) - v, R.ndim)
    return (R[None] >= low) & (R[None] <= high)


def _check_upstream(grad, name: str, R: np.ndarray, shape: tuple) -> None:
    """Exact shape and dtype of an upstream gradient (no silent broadcasting)."""
    check_array(grad, name)
    if grad.dtype != R.dtype:
        raise TypeError(f"{name} must have dtype {R.dtype} like R, got {grad.dtype}")
    check_shape(grad, name, shape)


def binarize_activations_forward(R: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, dict]:
    """Forward of eq. (10): ``A = stack_n H_{v_n}(R)``; cache holds R, v."""
    A = binarize_activations(R, v)
    return A, {"R": R, "v": v}


def binarize_activations_backward(dA: np.ndarray, cache: dict) -> tuple[np.ndarray, np.ndarray]:
    """Straight-through backward of eq. (10), erratum fixed.

    Parameters
    ----------
    dA : ndarray, shape (N, *R.shape)
        ``dc/dA_n``.
    cache : dict
        From :func:`binarize_activations_forward`.

    Returns
    -------
    dR : ndarray, shape of R
        ``sum_n dA_n * mask_n`` with ``mask_n = 1[0 <= R + v_n <= 1]``.
    dv : ndarray, shape (N,)
        ``sum over elements of dA_n * mask_n`` (R and v enter h_v only
        through ``R + v``, so the same mask applies).
    """
    _check_upstream(dA, "dA", cache["R"], (cache["v"].shape[0], *cache["R"].shape))
    mask = activation_ste_mask(cache["R"], cache["v"])
    passed = np.where(mask, dA, 0)
    return passed.sum(axis=0), passed.reshape(passed.shape[0], -1).sum(axis=1)


def approximate_activations_forward(
    R: np.ndarray, v: np.ndarray, beta: np.ndarray
) -> tuple[np.ndarray, dict]:
    """``R_tilde = sum_n beta_n A_n`` with ``A_n = H_{v_n}(R)``.

    Parameters
    ----------
    R : ndarray, any shape
    v, beta : ndarray, shape (N,)
        Shifts and scales, dtype of ``R``.

    Returns
    -------
    R_tilde : ndarray, shape of R, dtype of R
    cache : dict
        ``R``, ``v``, ``beta``.

    Notes
    -----
    Section 3.2, ``R ~ beta_1 A_1 + ... + beta_N A_N`` with eq. (11).
    """
    R = check_array(R, "R")
    v = _check_v(v, "v", R.dtype)
    beta = _check_v(beta, "beta", R.dtype)
    if beta.shape != v.shape:
        raise ValueError(
            f"beta must have the shape of v {v.shape} (one scale per activation base), "
            f"got shape {beta.shape}"
        )
    # One base at a time into a reused buffer (no (N, ...) stack):
    # 1[R >= t_n] * 2 beta_n - beta_n is exactly beta_n * A_n in floating
    # point, and the sum runs in order n = 1..N.
    thresholds = activation_thresholds(v)
    R_tilde = np.zeros_like(R)
    term = np.empty_like(R)
    for t_n, beta_n in zip(thresholds, beta, strict=True):
        np.greater_equal(R, t_n, out=term)
        term *= 2 * beta_n
        term -= beta_n
        R_tilde += term
    return R_tilde, {"R": R, "v": v, "beta": beta}


def approximate_activations_backward(
    dR_tilde: np.ndarray, cache: dict
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward of :func:`approximate_activations_forward`.

    Returns
    -------
    dR : ndarray, shape of R
        ``dR_tilde * sum_n beta_n mask_n`` (STE, eq. 10 corrected).
    dv : ndarray, shape (N,)
        ``beta_n * sum(dR_tilde * mask_n)``.
    dbeta : ndarray, shape (N,)
        ``sum(dR_tilde * A_n)``, exact (R_tilde is linear in beta).
    """
    R, v, beta = cache["R"], cache["v"], cache["beta"]
    _check_upstream(dR_tilde, "dR_tilde", R, R.shape)
    # dc/dA_n = beta_n dR_tilde for every n; loop over n to avoid (N, ...)
    # temporaries (binarize_activations_backward is the stacked form).
    thresholds = activation_thresholds(v)
    # Masks are written as 0/1 floats into reused buffers so that the sums
    # are BLAS dot products (bool-indexed sums are several times slower).
    one = R.dtype.type(1)
    flat_grad = dR_tilde.ravel()
    total = dR_tilde.sum()
    slope = np.zeros_like(R)  # sum_n beta_n mask_n
    mask = np.empty_like(R)
    upper = np.empty_like(R)
    dv = np.empty_like(v)
    dbeta = np.empty_like(beta)
    for n in range(v.shape[0]):
        # sum(dR_tilde * A_n) = 2 * (sum where A_n = +1) - (sum everywhere)
        np.greater_equal(R, thresholds[n], out=mask)
        dbeta[n] = 2 * np.dot(mask.ravel(), flat_grad) - total
        np.greater_equal(R, -v[n], out=mask)  # window -v_n <= R <= 1 - v_n
        np.less_equal(R, one - v[n], out=upper)
        mask *= upper
        dv[n] = beta[n] * np.dot(mask.ravel(), flat_grad)
        mask *= beta[n]
        slope += mask
    return dR_tilde * slope, dv, dbeta


def _gauss_pdf(x):
    return np.exp(-0.5 * np.square(x)) / np.sqrt(2 * np.pi)


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
    dtype : numpy dtype
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
    p = np.arange(1, N + 1) / (N + 1)
    t = scipy.special.ndtri(p)
    c = check_real(clip, "clip")
    if c <= 0:
        raise ValueError(f"clip must be > 0, got {clip}")
    gram = 1.0 - 2.0 * np.abs(p[:, None] - p[None, :])
    # E[clip(R) 1[R >= t]], piecewise in t (below, inside, above [-c, c]).
    inside = _gauss_pdf(t) - _gauss_pdf(c) + c * scipy.special.ndtr(-c)
    upper = np.where(t >= c, c * scipy.special.ndtr(-t), inside)
    rhs = 2.0 * np.where(t <= -c, c * scipy.special.ndtr(t), upper)
    beta = scipy.linalg.lstsq(gram, rhs)[0]
    return (0.5 - t).astype(dtype), beta.astype(dtype)
