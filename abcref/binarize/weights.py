"""M binary weight bases fitted by least squares: paper section 3.1, eqs. (1)-(7).

A real weight tensor ``W`` is approximated by ``W_tilde = sum_m alpha_m B_m``
with every ``B_m`` in {-1, +1}. The bases are fixed functions of ``W``
(eq. 2), the scales ``alpha`` solve a (ridge) least-squares problem
(eq. 3), and the backward pass goes straight through the sign (eq. 7).

==============================  ==========================================
eq. (2)  B_i = F_{u_i}(W)       :func:`weight_bases` (:func:`weight_shifts`
                                gives the paper's u_i)
eqs. (1), (3)  alpha            :func:`fit_alphas`
eqs. (4)-(5)  B, then alpha     :func:`approximate_weights`
W_tilde = sum_m alpha_m B_m     :func:`combine_bases`
eq. (7)  dc/dW                  :func:`approximate_weights_backward`
==============================  ==========================================

Each public function checks its arguments once, then calls the kernel of
the same name with a leading underscore, which holds the equation.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from abcref._checks import (
    check_array,
    check_bool,
    check_choice,
    check_dout,
    check_float_dtype,
    check_int,
    check_real,
    check_signs,
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


# -- eq. (2): shifts, statistics, bases ------------------------------------------


def weight_shifts(M: int, dtype=np.float64) -> np.ndarray:
    """The paper's shifts ``u_i = -1 + (i - 1) * 2 / (M - 1)``, i = 1..M (eq. 2).

    Parameters
    ----------
    M : int
        Number of binary bases, ``M >= 1``.
    dtype : float32 or float64

    Returns
    -------
    u : ndarray, shape (M,)
        Evenly spaced over [-1, 1]. ``M = 1`` gives ``u = [0]``: the
        formula divides by ``M - 1``, and zero shift is the plain
        ``sign(W - mean)`` base (conventions row 4).
    """
    M = check_int(M, "M", min_value=1)
    dtype = check_float_dtype(dtype)
    if M == 1:
        return np.zeros(1, dtype=dtype)
    i = np.arange(1, M + 1)
    return (-1 + (i - 1) * 2 / (M - 1)).astype(dtype)


def weight_statistics(W: np.ndarray, *, ddof: int = 0, per_channel: bool = False):
    """``mean(W)`` and ``std(W)`` of eq. (2), shaped to broadcast against ``W``.

    Parameters
    ----------
    W : ndarray, shape (C_out, ...)
        Real weights, float32 or float64.
    ddof : int
        Delta degrees of freedom of the std: 0 = population std (default,
        conventions row 3), 1 = ``torch.std``'s unbiased estimate.
    per_channel : bool
        Statistics of each output channel ``W[c]`` (section 3.1.2) instead
        of the whole tensor (section 3.1.1).

    Returns
    -------
    mean, std : ndarray, shape (1, ..., 1) or (C_out, 1, ..., 1)
        dtype of ``W``. A constant fit (every weight equal to c) gets
        exactly ``mean = c`` and ``std = 0``, so all its bases are -1.
    """
    _check_weights(W, per_channel, ddof=ddof)
    return _weight_statistics(W, ddof, per_channel)


def _weight_statistics(W, ddof, per_channel):
    axes = tuple(range(1, W.ndim)) if per_channel else None
    mean = W.mean(axis=axes, keepdims=True)
    std = W.std(axis=axes, ddof=ddof, keepdims=True)
    # A rounded mean of K copies of c is often not c, which would leave a
    # constant W with std ~1e-17 and bases of either sign: pin it exactly.
    low = W.min(axis=axes, keepdims=True)
    constant = low == W.max(axis=axes, keepdims=True)
    return np.where(constant, low, mean), np.where(constant, 0, std).astype(W.dtype)


def weight_bases(W, M, *, shifts=None, ddof=0, per_channel=False) -> np.ndarray:
    """Binary bases ``B_i = sign(W - mean(W) + u_i std(W))``, eq. (2).

    Parameters
    ----------
    W : ndarray, shape (C_out, ...)
        Real weights (float32 or float64), e.g. OIHW conv weights.
    M : int
        Number of bases, ``M >= 1``.
    shifts : array_like of shape (M,), optional
        The ``u_i``; default :func:`weight_shifts`.
    ddof : int
        Delta degrees of freedom of ``std`` (default 0, population std).
    per_channel : bool
        Mean and std per output channel (section 3.1.2).

    Returns
    -------
    B : ndarray, shape (M, *W.shape), dtype of ``W``
        Only +1 and -1: ``sign(0) = -1`` (section 5.1, conventions row 1).
        With ``std(W) = 0`` (constant W) every base is -1.
    """
    u = _check_weight_args(W, M, shifts, ddof, per_channel)
    return _weight_bases(W, u, ddof, per_channel)


def _weight_bases(W, u, ddof, per_channel):
    return _bases(W, u, *_weight_statistics(W, ddof, per_channel))


def _bases(W, u, mean, std):
    W_bar = W - mean
    return np.stack([binary_sign(W_bar + u_i * std) for u_i in u])


# -- eqs. (1), (3): alpha by least squares -----------------------------------------


def fit_alphas(W, B, *, ridge=DEFAULT_RIDGE, per_channel=False) -> np.ndarray:
    """Scales ``alpha = argmin ||w - B alpha||^2 + ridge ||alpha||^2``, eq. (3).

    Parameters
    ----------
    W : ndarray, shape (C_out, ...)
        Real weights.
    B : ndarray, shape (M, *W.shape)
        Bases holding exactly +1 and -1 (e.g. from :func:`weight_bases`),
        dtype of ``W``.
    ridge : float
        ``lambda >= 0``, the l2 term that section 3.3 suggests against
        rank deficiency; default :data:`DEFAULT_RIDGE` (see its comment).
    per_channel : bool
        One regression per output channel (section 3.1.2).

    Returns
    -------
    alphas : ndarray, shape (M,) or (C_out, M), dtype of ``W``

    Notes
    -----
    ``B = [vec(B_1), ..., vec(B_M)]`` and ``w = vec(W)`` as in eq. (1);
    the ridge problem is the least-squares problem of the augmented system
    ``[B; sqrt(lambda) I] alpha = [w; 0]``, solved by ``scipy.linalg.lstsq``
    in float64 (conventions row 5).
    """
    _check_weights(W, per_channel)
    check_signs(check_array(B, "B"), "B")
    if B.ndim != W.ndim + 1 or B.shape[1:] != W.shape:
        raise ValueError(f"B must have shape (M, *{W.shape}), got shape {B.shape}")
    if B.dtype != W.dtype:
        raise TypeError(f"B and W must share one dtype, got B: {B.dtype}, W: {W.dtype}")
    return _fit_alphas(W, B, _check_ridge(ridge), per_channel)


def _fit_alphas(W, B, ridge, per_channel):
    M = B.shape[0]
    if not per_channel:
        return _ridge_lstsq(B.reshape(M, -1).T, W.ravel(), ridge).astype(W.dtype)
    per_fit = [_ridge_lstsq(B[:, c].reshape(M, -1).T, W[c].ravel(), ridge) for c in range(len(W))]
    return np.stack(per_fit).astype(W.dtype)


def _ridge_lstsq(B, w, ridge):
    """``argmin ||w - B alpha||^2 + ridge ||alpha||^2`` for B (K, M), w (K,), in float64."""
    M = B.shape[1]
    augmented = np.vstack([B, np.sqrt(ridge) * np.eye(M)])  # [B; sqrt(lambda) I]
    target = np.concatenate([w, np.zeros(M)])  # [w; 0]
    # NumPy's rank cutoff eps * max(rows, cols): scipy's default keeps singular
    # values of ~1e-16 that are rounding noise, so with ridge=0 a rank-deficient
    # system (a constant W) would not give the minimum-norm solution.
    cutoff = np.finfo(np.float64).eps * max(augmented.shape)
    return scipy.linalg.lstsq(augmented, target, cond=cutoff, check_finite=False)[0]


# -- eqs. (4)-(5) and W_tilde ----------------------------------------------------------


def approximate_weights(
    W, M, *, shifts=None, ddof=0, ridge=DEFAULT_RIDGE, per_channel=False
) -> tuple[np.ndarray, np.ndarray]:
    """The bases and their scales, ``W ~ sum_m alpha_m B_m``: eqs. (4)-(5).

    Parameters
    ----------
    W : ndarray, shape (C_out, ...)
        Real weights (float32 or float64), finite.
    M : int
        Number of binary bases, ``M >= 1``.
    shifts : array_like of shape (M,), optional
        Shift parameters ``u_i`` (default :func:`weight_shifts`).
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

    Examples
    --------
    >>> W = np.random.default_rng(0).normal(size=(4, 3, 3, 3))
    >>> B, alphas = approximate_weights(W, 3)
    >>> B.shape, alphas.shape
    ((3, 4, 3, 3, 3), (3,))
    """
    u = _check_weight_args(W, M, shifts, ddof, per_channel)
    ridge = _check_ridge(ridge)
    B = _weight_bases(W, u, ddof, per_channel)  # eq. (4)
    return B, _fit_alphas(W, B, ridge, per_channel)  # eq. (5): solve (3) for alpha


def combine_bases(B: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """``W_tilde = sum_m alpha_m B_m``, the approximation of eq. (1).

    Parameters
    ----------
    B : ndarray, shape (M, C_out, ...)
    alphas : ndarray, shape (M,) or (C_out, M)

    Returns
    -------
    W_tilde : ndarray, shape ``B.shape[1:]``
    """
    check_array(B, "B")
    check_array(alphas, "alphas")
    if alphas.shape not in ((B.shape[0],), (B.shape[1], B.shape[0])):
        raise ValueError(
            f"alphas must have shape ({B.shape[0]},) or ({B.shape[1]}, {B.shape[0]}) "
            f"for B of shape {B.shape}, got shape {alphas.shape}"
        )
    return _combine_bases(B, alphas)


def _combine_bases(B, alphas):
    return sum(
        alpha_m * B_m for alpha_m, B_m in zip(_per_base(alphas, B.ndim - 1), B, strict=True)
    )


def _per_base(alphas, ndim):
    """``alpha_m`` for m = 1..M, shaped to scale a tensor of ``ndim`` axes.

    Whole-layer ``alphas`` (M,) gives scalars; channel-wise (C_out, M) gives
    one (C_out, 1, ..., 1) column per base.
    """
    if alphas.ndim == 1:
        return list(alphas)
    return [alphas[:, m].reshape((-1,) + (1,) * (ndim - 1)) for m in range(alphas.shape[1])]


# -- eq. (7): the straight-through backward ---------------------------------------------


def weight_ste_scale(alphas: np.ndarray, weight_ste: str, ndim: int) -> np.ndarray:
    """The factor ``s`` of ``dc/dW = s * G``, ``G = dc/dW_tilde``, for a reading of eq. (7).

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
        ``W.ndim``; channel-wise factors are shaped to broadcast over W.

    Returns
    -------
    scale : ndarray, shape () or (C_out, 1, ..., 1)

    Notes
    -----
    Conventions row 7. alpha is a constant in backward (the paper
    backpropagates through the B's only). ``s`` acts as a per-layer
    learning-rate factor under SGD (Adam is insensitive to it), and under
    ``"paper"`` (``s`` about 1e-3) weight decay of W outweighs the data
    gradient, so ``abcref.train``'s optimizers allow only decoupled decay
    under Adam there (tutorial 3, sections 5 and 6).
    """
    check_array(alphas, "alphas")
    check_choice(weight_ste, "weight_ste", WEIGHT_STE_READINGS)
    return _weight_ste_scale(alphas, weight_ste, check_int(ndim, "ndim", min_value=1))


def _weight_ste_scale(alphas, weight_ste, ndim):
    scale = {
        "paper": lambda: np.sum(alphas * alphas, axis=-1),
        "sum": lambda: np.sum(alphas, axis=-1),
        "identity": lambda: np.ones_like(alphas[..., 0]),
    }[weight_ste]()
    return scale.reshape((-1,) + (1,) * (ndim - 1)) if alphas.ndim == 2 else scale


def approximate_weights_forward(
    W,
    M,
    *,
    shifts=None,
    ddof=0,
    ridge=DEFAULT_RIDGE,
    per_channel=False,
    weight_ste="paper",
    train_shifts=False,
) -> tuple[np.ndarray, dict]:
    """Forward of eqs. (4)-(5): ``W_tilde = sum_m alpha_m B_m``.

    Parameters
    ----------
    W, M, shifts, ddof, ridge, per_channel
        As in :func:`approximate_weights`.
    weight_ste : {"paper", "sum", "identity"}
        The reading of eq. (7) the backward uses (:func:`weight_ste_scale`).
    train_shifts : bool
        The backward also returns ``du`` (then ``shifts`` must be given:
        they are a trained parameter).

    Returns
    -------
    W_tilde : ndarray, shape and dtype of W
    cache : dict
        ``B``, ``alphas``, ``std``, ``weight_ste``, ``train_shifts``.
    """
    u, ridge = check_weight_options(
        W,
        M,
        shifts=shifts,
        ddof=ddof,
        ridge=ridge,
        per_channel=per_channel,
        weight_ste=weight_ste,
        train_shifts=train_shifts,
    )
    return _approximate_weights_forward(W, u, ddof, ridge, per_channel, weight_ste, train_shifts)


def _approximate_weights_forward(W, u, ddof, ridge, per_channel, weight_ste, train_shifts):
    mean, std = _weight_statistics(W, ddof, per_channel)
    B = _bases(W, u, mean, std)
    alphas = _fit_alphas(W, B, ridge, per_channel)
    cache = {
        "B": B,
        "alphas": alphas,
        "std": std,
        "weight_ste": weight_ste,
        "train_shifts": train_shifts,
    }
    return _combine_bases(B, alphas), cache


def approximate_weights_backward(dW_tilde: np.ndarray, cache: dict):
    """The straight-through backward of eq. (7) (and of trained shifts).

    Parameters
    ----------
    dW_tilde : ndarray, shape of W
        ``G = dc/dW_tilde``.
    cache : dict
        From :func:`approximate_weights_forward`.

    Returns
    -------
    dW : ndarray, shape of W
        ``sum_m alpha_m dc/dB_m`` with ``dc/dB_m = alpha_m G`` (the paper's
        reading; see :func:`weight_ste_scale` for the other two).
    du : ndarray, shape (M,), or None unless ``train_shifts``
        ``du_i = alpha_i std(W) sum(G)``, summed over channels per channel.

    Notes
    -----
    Eq. (7) replaces ``dB_m/dW`` by the identity. For the shifts the same
    STE gives ``dB_i/du_i = std(W)`` elementwise (``B_i = sign(W_bar + u_i
    std)``), so ``dc/du_i = sum(dc/dB_i * std) = alpha_i std sum(G)``.
    alpha, mean and std are constants in backward.
    """
    B = cache["B"]
    check_dout(dW_tilde, B.shape[1:], B.dtype, "dW_tilde", like="W")
    return _approximate_weights_backward(dW_tilde, cache)


def _approximate_weights_backward(G, cache):
    alphas = _per_base(cache["alphas"], G.ndim)
    if cache["weight_ste"] == "identity":
        dW = G  # the plain STE through W_tilde ~ W
    else:
        # dc/dB_m = alpha_m G ("paper"), or G without its alpha ("sum")
        dB = [alpha_m * G if cache["weight_ste"] == "paper" else G for alpha_m in alphas]
        dW = sum(alpha_m * dB_m for alpha_m, dB_m in zip(alphas, dB, strict=True))  # eq. (7)
    if not cache["train_shifts"]:
        return dW, None
    du = [np.sum(alpha_m * cache["std"] * G) for alpha_m in alphas]
    return dW, np.array(du, dtype=G.dtype)


# -- argument checks (once per public call) ----------------------------------------------


def _check_weights(W, per_channel, *, ddof=0) -> None:
    check_array(W, "W")
    _check_weight_layout(W, per_channel, ddof)


def _check_weight_layout(W, per_channel, ddof) -> None:
    """What eq. (2) needs of an array already checked: weights, a channel axis, ddof."""
    if W.size == 0:
        raise ValueError(f"W must not be empty, got shape {W.shape}")
    if check_bool(per_channel, "per_channel") and W.ndim < 2:
        raise ValueError(
            f"W must have an output-channel axis (ndim >= 2) when per_channel=True, "
            f"got shape {W.shape}"
        )
    per_fit = W[0].size if per_channel else W.size
    if check_int(ddof, "ddof", min_value=0) >= per_fit:
        raise ValueError(
            f"ddof must be smaller than the number of weights per fit ({per_fit}), got ddof={ddof}"
        )


def _check_weight_args(W, M, shifts, ddof, per_channel) -> np.ndarray:
    """Check the arguments of eq. (2) and return the shifts u (M,) in W's dtype."""
    _check_weights(W, per_channel, ddof=ddof)
    return check_shifts(shifts, check_int(M, "M", min_value=1), W.dtype)


def check_shifts(shifts, M: int, dtype) -> np.ndarray:
    """``shifts`` as a finite (M,) array of ``dtype``; None gives :func:`weight_shifts`."""
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


def check_weight_options(
    W,
    M,
    *,
    shifts=None,
    ddof=0,
    ridge=DEFAULT_RIDGE,
    per_channel=False,
    weight_ste="paper",
    train_shifts=False,
):
    """Check ``W`` and every option of the weight approximation at once (eqs. 2-7).

    Returns
    -------
    u : ndarray, shape (M,)
        The shifts in the dtype of ``W`` (:func:`weight_shifts` if None).
    ridge : float
    """
    check_array(W, "W")
    return _check_weight_options(W, M, shifts, ddof, ridge, per_channel, weight_ste, train_shifts)


def _check_weight_options(W, M, shifts, ddof, ridge, per_channel, weight_ste, train_shifts):
    """:func:`check_weight_options` for a ``W`` already checked as an array."""
    _check_weight_layout(W, per_channel, ddof)
    u = check_shifts(shifts, check_int(M, "M", min_value=1), W.dtype)
    check_choice(weight_ste, "weight_ste", WEIGHT_STE_READINGS)
    if check_bool(train_shifts, "train_shifts") and shifts is None:
        raise ValueError("shifts must be given (the trained u, shape (M,)) when train_shifts=True")
    return u, _check_ridge(ridge)


def _check_ridge(ridge) -> float:
    ridge = check_real(ridge, "ridge")
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    return ridge
