"""Eq. (11) with its scales, ``R_tilde = sum_n beta_n A_n``, by fused loops.

The fast twin of :func:`abcref.binarize.approximate_activations_forward`
and ``_backward``: one activation base at a time into reused buffers, the
masks written as 0/1 floats so that the sums are BLAS dot products.
"""

from __future__ import annotations

import numpy as np

from abcref._checks import check_array
from abcref.binarize.activations import _check_upstream, _check_v, activation_thresholds


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
