"""Multiple binary weight bases: shifts, bases, ridge least squares, STE.

Paper section 3.1, eqs. (1)-(7). A real weight tensor ``W`` is
approximated by ``W_tilde = sum_m alpha_m B_m`` with every ``B_m`` in
{-1, +1}. The bases are fixed functions of ``W`` (eq. 2), the scales
``alpha`` solve a (ridge) least-squares problem (eq. 3), and the backward
pass goes straight through the sign (eq. 7).

Public names
------------
weight_shifts        default shifts u_i, evenly spaced in [-1, 1] (eq. 2)
weight_statistics    mean(W) and std(W), whole-layer or per output channel
weight_bases         B_i = sign(W - mean + u_i std), sign(0) = -1 (eq. 2)
fit_alphas           alpha by scipy.linalg.lstsq on [B; sqrt(ridge) I] (eq. 3)
approximate_weights  (B, alphas) in one call (eqs. 2-5)
combine_bases        W_tilde = sum_m alpha_m B_m
weight_ste_scale     the factor of the chosen reading of eq. (7)
approximate_weights_forward / approximate_weights_backward
                     the (out, cache) / backward(dout, cache) pair
approximate_weights_naive
                     looped reference for the vectorised path
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from abcref._checks import (
    check_array,
    check_choice,
    check_float_dtype,
    check_int,
    check_real,
    check_shape,
)
from abcref.ops.sign import binary_sign

#: Default ridge strength lambda of ``[B; sqrt(lambda) I] alpha = [w; 0]``.
#: B^T B has integer entries of size up to K (the number of weights per
#: fit), so 1e-6 shifts alpha by at most ~1e-6 relative on any basis
#: direction that the data determines, i.e. below float32 resolution
#: for real layers, while making the system full column rank. That keeps
#: the solution unique and continuous when bases coincide (constant W,
#: tiny layers, M large, repeated shifts), and sqrt(1e-6) = 1e-3 stays
#: far above lstsq's singular-value cutoff (eps * rows * sigma_max) for
#: any realistic K, so lstsq returns the ridge minimiser, not a
#: truncated one. ``ridge=0`` gives plain (minimum-norm) least squares.
DEFAULT_RIDGE = 1e-6

#: The three readings of eq. (7); see :func:`weight_ste_scale`.
WEIGHT_STE_READINGS = ("paper", "sum", "identity")


def weight_shifts(M: int, dtype=np.float64) -> np.ndarray:
    """Default shift parameters ``u_i`` of eq. (2).

    Parameters
    ----------
    M : int
        Number of binary bases, ``M >= 1``.
    dtype : numpy dtype
        dtype of the result.

    Returns
    -------
    u : ndarray, shape (M,)
        ``u_i = -1 + (i - 1) * 2 / (M - 1)``, i.e. evenly spaced over
        [-1, 1]; ``M = 1`` gives ``u = [0]`` (the formula divides by
        ``M - 1``; zero shift is the plain ``sign(W - mean)`` base).

    Notes
    -----
    Eq. (2) of the paper; conventions row 4.
    """
    M = check_int(M, "M", min_value=1)
    dtype = check_float_dtype(dtype)
    if M == 1:
        return np.zeros(1, dtype=dtype)
    return np.linspace(-1.0, 1.0, M).astype(dtype)


def check_shifts(shifts, M: int, dtype) -> np.ndarray:
    """Return ``shifts`` as a finite (M,) array of ``dtype`` (default if None)."""
    if shifts is None:
        return weight_shifts(M, dtype)
    u = np.asarray(shifts)
    if u.dtype.kind not in "iuf":
        raise TypeError(f"shifts must be real numbers, got dtype {u.dtype}")
    if u.shape != (M,):
        raise ValueError(f"shifts must have shape ({M},) for M={M}, got shape {u.shape}")
    if not np.isfinite(u).all():
        raise ValueError(f"shifts must be finite, got {u.tolist()}")
    return u.astype(dtype, copy=False)


def _check_weight(W, per_channel: bool) -> np.ndarray:
    W = check_array(W, "W")
    # A truthy string such as "no" would silently switch to channel-wise fits.
    if not isinstance(per_channel, (bool, np.bool_)):
        raise TypeError(f"per_channel must be a bool, got {per_channel!r}")
    if W.size == 0:
        raise ValueError(f"W must not be empty, got shape {W.shape}")
    if per_channel and W.ndim < 2:
        raise ValueError(
            f"W must have an output-channel axis (ndim >= 2) when per_channel=True, "
            f"got shape {W.shape}"
        )
    return W


def _as_rows(W: np.ndarray, per_channel: bool) -> np.ndarray:
    """View W as (fits, K): one row per regression problem."""
    return W.reshape(W.shape[0], -1) if per_channel else W.reshape(1, -1)


def weight_statistics(
    W: np.ndarray, *, ddof: int = 0, per_channel: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation used by eq. (2).

    Parameters
    ----------
    W : ndarray, shape (C_out, ...)
        Real weights (float32 or float64).
    ddof : int
        Delta degrees of freedom of the std: 0 = population std (default,
        conventions row 3), 1 = ``torch.std``'s unbiased estimate.
    per_channel : bool
        Statistics over each output channel ``W[c]`` (section 3.1.2) instead
        of the whole tensor (section 3.1.1).

    Returns
    -------
    mean, std : ndarray, shape (fits, 1)
        ``fits = C_out`` per channel, else 1; dtype of ``W``. A constant
        fit (all weights equal to c) gets exactly ``mean = c``, ``std = 0``
        (a floating-point mean of K copies of c is not always c), so all
        its bases are -1.
    """
    W = _check_weight(W, per_channel)
    ddof = check_int(ddof, "ddof", min_value=0)
    rows = _as_rows(W, per_channel)
    if ddof >= rows.shape[1]:
        raise ValueError(
            f"ddof must be smaller than the number of weights per fit ({rows.shape[1]}), "
            f"got ddof={ddof}"
        )
    mean = rows.mean(axis=1, keepdims=True)
    std = rows.std(axis=1, ddof=ddof, keepdims=True)
    # A rounded mean of K copies of c is often not c, which would leave a
    # constant W with std ~1e-17 and bases of either sign; pin it exactly.
    low = rows.min(axis=1, keepdims=True)
    constant = low == rows.max(axis=1, keepdims=True)
    if constant.any():
        mean = np.where(constant, low, mean)
        std = np.where(constant, std.dtype.type(0), std)
    return mean, std


def weight_bases(
    W: np.ndarray,
    M: int,
    *,
    shifts=None,
    ddof: int = 0,
    per_channel: bool = False,
) -> np.ndarray:
    """Binary bases ``B_i = sign(W - mean(W) + u_i std(W))`` of eq. (2).

    Parameters
    ----------
    W : ndarray, shape (C_out, ...)
        Real weights (float32 or float64), e.g. OIHW conv weights.
    M : int
        Number of bases, ``M >= 1``.
    shifts : array_like of shape (M,), optional
        The ``u_i``; default :func:`weight_shifts` (evenly spaced in
        [-1, 1], 0 for M = 1).
    ddof : int
        Delta degrees of freedom of ``std`` (default 0, population std).
    per_channel : bool
        Mean and std per output channel (section 3.1.2).

    Returns
    -------
    B : ndarray, shape (M, *W.shape), dtype of ``W``
        Only +1 and -1; ``sign(0) = -1`` (conventions row 1).

    Notes
    -----
    Eq. (2). With ``std(W) = 0`` (constant W) every base is constant -1.
    """
    W = _check_weight(W, per_channel)
    M = check_int(M, "M", min_value=1)
    u = check_shifts(shifts, M, W.dtype)
    mean, std = weight_statistics(W, ddof=ddof, per_channel=per_channel)
    rows = _as_rows(W, per_channel)
    # (M, fits, K): base i of fit c is sign(w_c - mean_c + u_i std_c).
    arg = (rows - mean)[None] + u[:, None, None] * std[None]
    return binary_sign(arg).reshape((M, *W.shape))


def _ridge_lstsq(design: np.ndarray, target: np.ndarray, ridge: float) -> np.ndarray:
    """Solve ``min ||target - design a||^2 + ridge ||a||^2`` with lstsq.

    The ridge term is written as extra rows ``sqrt(ridge) I`` so that one
    ``scipy.linalg.lstsq`` call (LAPACK gelsd, SVD based) solves it; with
    ``ridge = 0`` that is the minimum-norm least-squares solution.
    """
    M = design.shape[1]
    augmented = np.vstack([design, np.sqrt(ridge) * np.eye(M)])
    rhs = np.concatenate([target, np.zeros(M)])
    solution, _, _, _ = scipy.linalg.lstsq(
        augmented, rhs, cond=_rank_cutoff(augmented), check_finite=False
    )
    return solution


def _rank_cutoff(matrix: np.ndarray) -> float:
    """Relative singular-value cutoff ``eps * max(rows, cols)`` (NumPy's rule).

    scipy's default cutoff keeps singular values of ~1e-16 that are pure
    rounding noise, so with ``ridge=0`` a rank-deficient system (e.g. a
    constant W, whose bases all coincide) would not return the
    minimum-norm solution. With this cutoff it does, as numpy and torch do.
    """
    return float(np.finfo(np.float64).eps * max(matrix.shape))


def fit_alphas(
    W: np.ndarray,
    B: np.ndarray,
    *,
    ridge: float = DEFAULT_RIDGE,
    per_channel: bool = False,
) -> np.ndarray:
    """Scales ``alpha`` minimising ``||w - B alpha||^2 + ridge ||alpha||^2``.

    Parameters
    ----------
    W : ndarray, shape (C_out, ...)
        Real weights.
    B : ndarray, shape (M, *W.shape)
        Binary bases from :func:`weight_bases`, dtype of ``W``.
    ridge : float
        ``lambda >= 0`` of the augmented system ``[B; sqrt(lambda) I] alpha
        = [w; 0]``; default :data:`DEFAULT_RIDGE` (1e-6, see its comment).
    per_channel : bool
        One regression per output channel (section 3.1.2).

    Returns
    -------
    alphas : ndarray, shape (M,) or (C_out, M), dtype of ``W``

    Notes
    -----
    Eq. (3), with the l2 regularisation of section 3.3 against rank
    deficiency (conventions row 5). Solved by ``scipy.linalg.lstsq`` in
    float64 (B is exactly representable, so only the solve is more
    precise) and returned in the dtype of ``W``; per channel, one lstsq
    call per output channel.
    """
    W = _check_weight(W, per_channel)
    B = check_array(B, "B")
    if B.ndim != W.ndim + 1 or B.shape[1:] != W.shape:
        raise ValueError(f"B must have shape (M, *{W.shape}), got shape {B.shape}")
    if B.dtype != W.dtype:
        raise TypeError(f"B and W must share one dtype, got B: {B.dtype}, W: {W.dtype}")
    ridge = check_real(ridge, "ridge")
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    M = B.shape[0]
    rows = _as_rows(W, per_channel).astype(np.float64)
    bases = B.reshape(M, rows.shape[0], rows.shape[1]).astype(np.float64)
    alphas = np.empty((rows.shape[0], M), dtype=np.float64)
    for c in range(rows.shape[0]):
        alphas[c] = _ridge_lstsq(bases[:, c, :].T, rows[c], ridge)
    alphas = alphas.astype(W.dtype)
    return alphas if per_channel else alphas[0]


def approximate_weights(
    W: np.ndarray,
    M: int,
    *,
    shifts=None,
    ddof: int = 0,
    ridge: float = DEFAULT_RIDGE,
    per_channel: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Binary bases and their scales, ``W ~ sum_m alpha_m B_m``.

    Parameters
    ----------
    W : ndarray, shape (C_out, ...)
        Real weights (float32 or float64), finite.
    M : int
        Number of binary bases, ``M >= 1``.
    shifts : array_like of shape (M,), optional
        Shift parameters ``u_i`` (default evenly spaced in [-1, 1]).
    ddof : int
        Delta degrees of freedom of ``std(W)`` (default 0).
    ridge : float
        Ridge strength ``lambda`` (default :data:`DEFAULT_RIDGE`).
    per_channel : bool
        Channel-wise approximation (section 3.1.2) instead of whole-layer.

    Returns
    -------
    B : ndarray, shape (M, *W.shape)
        Only +1 / -1, dtype of ``W``.
    alphas : ndarray, shape (M,), or (C_out, M) when ``per_channel``

    Notes
    -----
    Eqs. (2)-(5): bases by eq. (2), then eq. (3) solved for alpha.

    Examples
    --------
    >>> W = np.random.default_rng(0).normal(size=(4, 3, 3, 3))
    >>> B, alphas = approximate_weights(W, 3)
    >>> B.shape, alphas.shape
    ((3, 4, 3, 3, 3), (3,))
    """
    B = weight_bases(W, M, shifts=shifts, ddof=ddof, per_channel=per_channel)
    return B, fit_alphas(W, B, ridge=ridge, per_channel=per_channel)


def combine_bases(B: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """``W_tilde = sum_m alpha_m B_m`` (alphas (M,) or (C_out, M))."""
    if alphas.ndim == 1:
        return np.tensordot(alphas, B, axes=(0, 0))
    # per channel: W_tilde[c] = sum_m alphas[c, m] B[m, c]
    flat = B.reshape(B.shape[0], B.shape[1], -1)
    return np.einsum("cm,mck->ck", alphas, flat).reshape(B.shape[1:])


def weight_ste_scale(alphas: np.ndarray, weight_ste: str, ndim: int) -> np.ndarray:
    """Factor ``s`` with ``dc/dW = s * G``, ``G = dc/dW_tilde`` (eq. 7).

    Parameters
    ----------
    alphas : ndarray, shape (M,) or (C_out, M)
    weight_ste : {"paper", "sum", "identity"}
        - ``"paper"``: eq. (7) literally, ``dc/dB_m = alpha_m G`` and
          ``dc/dW = sum_m alpha_m dc/dB_m = (sum_m alpha_m^2) G``.
        - ``"sum"``: ``dc/dB_m`` read as the gradient at the m-th binary
          conv's output without its alpha, ``= G``, so
          ``dc/dW = (sum_m alpha_m) G``.
        - ``"identity"``: the plain STE through ``W_tilde ~ W``,
          ``dc/dW = G``.
    ndim : int
        ``W.ndim``; per-channel factors are shaped to broadcast over W.

    Returns
    -------
    scale : ndarray, shape () or (C_out, 1, ..., 1)
        Per output channel when ``alphas`` is (C_out, M).

    Notes
    -----
    Conventions row 7. alpha is treated as a constant in backward.
    """
    check_choice(weight_ste, "weight_ste", WEIGHT_STE_READINGS)
    if weight_ste == "paper":
        scale = np.sum(alphas * alphas, axis=-1)
    elif weight_ste == "sum":
        scale = np.sum(alphas, axis=-1)
    else:
        scale = np.ones_like(alphas[..., 0])
    if alphas.ndim == 2:
        scale = scale.reshape((-1,) + (1,) * (ndim - 1))
    return scale


def approximate_weights_forward(
    W: np.ndarray,
    M: int,
    *,
    shifts=None,
    ddof: int = 0,
    ridge: float = DEFAULT_RIDGE,
    per_channel: bool = False,
    weight_ste: str = "paper",
    train_shifts: bool = False,
) -> tuple[np.ndarray, dict]:
    """Forward of eqs. (4)-(5): ``W_tilde = sum_m alpha_m B_m``.

    Parameters
    ----------
    W, M, shifts, ddof, ridge, per_channel
        As in :func:`approximate_weights`.
    weight_ste : {"paper", "sum", "identity"}
        Reading of eq. (7) used by the backward (see
        :func:`weight_ste_scale`).
    train_shifts : bool
        If True the backward also returns ``du`` (then ``shifts`` must be
        given explicitly: they are a trained parameter).

    Returns
    -------
    W_tilde : ndarray, shape of W, dtype of W
    cache : dict
        ``B``, ``alphas``, ``std``, ``scale`` (the STE factor),
        ``per_channel``, ``train_shifts``.
    """
    check_choice(weight_ste, "weight_ste", WEIGHT_STE_READINGS)
    if not isinstance(train_shifts, (bool, np.bool_)):
        raise TypeError(f"train_shifts must be a bool, got {train_shifts!r}")
    if train_shifts and shifts is None:
        raise ValueError("shifts must be given (the trained u, shape (M,)) when train_shifts=True")
    B, alphas = approximate_weights(
        W, M, shifts=shifts, ddof=ddof, ridge=ridge, per_channel=per_channel
    )
    _, std = weight_statistics(W, ddof=ddof, per_channel=per_channel)
    cache = {
        "B": B,
        "alphas": alphas,
        "std": std[:, 0],
        "scale": weight_ste_scale(alphas, weight_ste, W.ndim).astype(W.dtype),
        "per_channel": per_channel,
        "train_shifts": bool(train_shifts),
    }
    return combine_bases(B, alphas), cache


def approximate_weights_backward(
    dW_tilde: np.ndarray, cache: dict
) -> tuple[np.ndarray, np.ndarray | None]:
    """Straight-through backward of eq. (7) (and of trainable shifts).

    Parameters
    ----------
    dW_tilde : ndarray, shape of W
        ``G = dc/dW_tilde``.
    cache : dict
        From :func:`approximate_weights_forward`.

    Returns
    -------
    dW : ndarray, shape of W
        ``scale * G`` with the scale of the chosen ``weight_ste``.
    du : ndarray, shape (M,), or None unless ``train_shifts``
        ``du_i = sum_c alpha_{c,i} std_c sum_{j in c} G_{c,j}``
        (whole layer: one c with all elements).

    Notes
    -----
    Shift STE: ``B_i = sign(W_bar + u_i std)``; with sign replaced by the
    identity (as eq. 7 does for W), ``dB_i/du_i = std`` elementwise, and
    ``dc/dB_i = alpha_i G`` exactly (``W_tilde = sum alpha_i B_i``), so
    ``dc/du_i = alpha_i std sum(G)``. alpha, mean and std are constants
    in backward, as in eq. (7). This rule does not depend on weight_ste.
    """
    # A broadcastable shape (e.g. (1, ...) against per-channel scales) would
    # silently give a gradient of the right shape from the wrong input.
    B = cache["B"]
    check_array(dW_tilde, "dW_tilde")
    if dW_tilde.dtype != B.dtype:
        raise TypeError(f"dW_tilde must have dtype {B.dtype} like W, got {dW_tilde.dtype}")
    check_shape(dW_tilde, "dW_tilde", B.shape[1:])
    dW = cache["scale"] * dW_tilde
    if not cache["train_shifts"]:
        return dW, None
    alphas = cache["alphas"]
    if cache["per_channel"]:
        g_sum = dW_tilde.reshape(dW_tilde.shape[0], -1).sum(axis=1)  # (C,)
        du = np.einsum("cm,c->m", alphas, cache["std"] * g_sum)
    else:
        du = alphas * (cache["std"][0] * dW_tilde.sum())
    return dW, du.astype(dW_tilde.dtype)


def approximate_weights_naive(
    W: np.ndarray,
    M: int,
    *,
    shifts=None,
    ddof: int = 0,
    ridge: float = DEFAULT_RIDGE,
    per_channel: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Looped reference of :func:`approximate_weights` (for tests).

    One output channel (or the whole tensor) and one base at a time,
    statistics from their definitions, the design matrix written out.
    """
    W = _check_weight(W, per_channel)
    u = check_shifts(shifts, check_int(M, "M", min_value=1), W.dtype)
    groups = [W[c] for c in range(W.shape[0])] if per_channel else [W]
    B = np.empty((M, *W.shape), dtype=W.dtype)
    alphas = np.empty((len(groups), M), dtype=W.dtype)
    for c, group in enumerate(groups):
        w = group.ravel()
        mean = w.sum() / w.size
        std = np.sqrt(((w - mean) ** 2).sum() / (w.size - ddof))
        if w.min() == w.max():  # constant: exact statistics
            mean, std = w[0], 0.0
        design = np.empty((w.size, M))
        for i in range(M):
            base = np.array([1.0 if x - mean + u[i] * std > 0 else -1.0 for x in w])
            design[:, i] = base
            target = B[i, c] if per_channel else B[i]
            target[...] = base.reshape(group.shape)
        augmented = np.vstack([design, np.sqrt(ridge) * np.eye(M)])
        rhs = np.concatenate([w.astype(np.float64), np.zeros(M)])
        alphas[c] = scipy.linalg.lstsq(augmented, rhs, cond=_rank_cutoff(augmented))[0]
    return B, (alphas if per_channel else alphas[0])
