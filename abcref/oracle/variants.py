"""A second, deliberately plain implementation with switchable conventions.

The checker uses it to explain a mismatch: it recomputes a case under an
alternative reading of the paper (``ddof=1``, ``sign(0) = 0``, the eq. (10)
mask ``R - v`` as printed, ...) and looks whether the other
implementation's arrays match that instead. With every switch at its
default it computes what :mod:`abcref.binarize` and :mod:`abcref.bitpack`
compute; ``tests/oracle/test_variants.py`` ties the two together, which
makes this module an independent cross-check as well.

It is written for clarity on tiny inputs, not speed: convolution by
``sliding_window_view`` + ``einsum``, no caches.

Switches (defaults first)
-------------------------
sign_of_zero : -1 | 0 | +1
    Value of a weight base where ``W - mean + u * std == 0``.
activation_tie : "+1" | "-1"
    Value of an activation exactly at the threshold ``R == 0.5 - v``.
threshold_form : "R >= 0.5 - v" | "clip(R + v, 0, 1) >= 0.5" | "exact"
    What decides the activation: abcref's comparator ``R >= fl(0.5 - v)``,
    eq. (9) evaluated in floating point, or eq. (9) in exact arithmetic
    (``R + v >= 0.5`` exactly). They differ within an ulp of the threshold.
ste_mask : "R + v" | "R - v"
    Activation STE mask ``1[0 <= R + v <= 1]`` (abcref) or the printed
    ``1[0 <= R - v <= 1]`` of eq. (10).
alpha_fit : "ridge" | "intercept"
    Ridge least squares ``[B; sqrt(ridge) I] a = [w; 0]``, or the same
    with an extra unpenalised constant column (what a regression library
    with ``fit_intercept=True`` does).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.linalg import lstsq

SWITCH_DEFAULTS = {
    "sign_of_zero": -1,
    "activation_tie": "+1",
    "threshold_form": "R >= 0.5 - v",
    "ste_mask": "R + v",
    "alpha_fit": "ridge",
}


def _pair(v):
    return (v, v) if np.isscalar(v) else tuple(v)


# -- weights: eqs. (2)-(5) ------------------------------------------------------
def even_shifts(M: int) -> np.ndarray:
    """``u_i = -1 + 2 (i - 1) / (M - 1)``; ``u = [0]`` for ``M = 1``."""
    return np.zeros(1) if M == 1 else np.linspace(-1.0, 1.0, M)


def weight_bases(W, M, *, shifts=None, ddof=0, per_channel=False, sign_of_zero=-1):
    """``B_i = sign(W - mean(W) + u_i std(W))``, shape ``(M, *W.shape)``."""
    u = even_shifts(M) if shifts is None else np.asarray(shifts, dtype=np.float64)
    u = u.astype(W.dtype)
    # One row per regression problem, the same float expression as abcref.
    rows = W.reshape(W.shape[0], -1) if per_channel else W.reshape(1, -1)
    mean = rows.mean(axis=1, keepdims=True)
    std = rows.std(axis=1, ddof=ddof, keepdims=True)
    z = ((rows - mean)[None] + u[:, None, None] * std[None]).reshape((M, *W.shape))
    if sign_of_zero == 1:
        B = np.where(z >= 0, 1, -1)
    else:
        B = np.where(z > 0, 1, -1 if sign_of_zero == -1 else np.where(z < 0, -1, 0))
    return B.astype(W.dtype)


def _fit(w, Bmat, ridge, intercept):
    m = Bmat.shape[1]
    design = np.hstack([Bmat, np.ones((len(w), 1))]) if intercept else Bmat
    # Ridge rows sqrt(ridge) I (zero rows for ridge = 0); never on the intercept.
    design = np.vstack([design, np.sqrt(ridge) * np.eye(m, design.shape[1])])
    w = np.concatenate([w, np.zeros(m)])
    # NumPy's/torch's rank cutoff, so that ridge = 0 on a rank-deficient
    # system gives the minimum-norm solution (scipy's default keeps noise).
    coef = lstsq(design, w, cond=np.finfo(np.float64).eps * max(design.shape))[0]
    return coef[:m]


def fit_alphas(W, B, *, ridge, per_channel=False, alpha_fit="ridge"):
    """Solve eq. (3), in float64, for ``(M,)`` or ``(C_out, M)`` alphas."""
    intercept = alpha_fit == "intercept"
    M = B.shape[0]
    if per_channel:
        rows = [
            _fit(
                W[o].ravel().astype(np.float64),
                B[:, o].reshape(M, -1).T.astype(np.float64),
                ridge,
                intercept,
            )
            for o in range(W.shape[0])
        ]
        return np.stack(rows).astype(W.dtype)
    Bmat = B.reshape(M, -1).T.astype(np.float64)
    return _fit(W.ravel().astype(np.float64), Bmat, ridge, intercept).astype(W.dtype)


def approximate_weights(
    W, M, *, shifts=None, ddof=0, ridge, per_channel=False, sign_of_zero=-1, alpha_fit="ridge"
):
    """Bases and alphas under the given switches."""
    B = weight_bases(
        W, M, shifts=shifts, ddof=ddof, per_channel=per_channel, sign_of_zero=sign_of_zero
    )
    alphas = fit_alphas(W, B, ridge=ridge, per_channel=per_channel, alpha_fit=alpha_fit)
    return B, alphas


def combine_bases(B, alphas):
    """``W~ = sum_m alpha_m B_m`` (alphas ``(M,)`` or ``(C_out, M)``)."""
    if alphas.ndim == 1:
        return np.tensordot(alphas, B, axes=(0, 0))
    return np.einsum("om,mo...->o...", alphas, B)


# -- activations: eqs. (8)-(11) --------------------------------------------------
def binarize_activations(R, v, *, activation_tie="+1", threshold_form="R >= 0.5 - v"):
    """``A_n = H_{v_n}(R)``, shape ``(N, *R.shape)``, same dtype as R."""
    out = []
    for vn in v:
        vn = R.dtype.type(vn)
        if threshold_form == "exact":
            on = _exact_sum_at_least_half(R, vn, strict=activation_tie != "+1")
            out.append(np.where(on, 1, -1).astype(R.dtype))
            continue
        if threshold_form == "R >= 0.5 - v":
            lhs, rhs = R, R.dtype.type(0.5) - vn
        else:
            lhs, rhs = np.clip(R + vn, 0, 1), R.dtype.type(0.5)
        on = lhs >= rhs if activation_tie == "+1" else lhs > rhs
        out.append(np.where(on, 1, -1).astype(R.dtype))
    return np.stack(out)


def _exact_sum_at_least_half(R, vn, *, strict=False):
    """``R + vn >= 0.5`` (``> 0.5`` when ``strict``) in exact arithmetic.

    Knuth's TwoSum: ``R + vn == s + err`` exactly, with ``s = fl(R + vn)``;
    since rounding is monotone and 0.5 is a float, the exact sum is above
    0.5 iff ``s > 0.5`` or ``s == 0.5`` and ``err > 0``.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        s = R + vn
        bp = s - R
        err = (R - (s - bp)) + (vn - bp)
    half = R.dtype.type(0.5)
    return (s > half) | ((s == half) & ((err > 0) if strict else (err >= 0)))


def activation_ste_mask(R, vn, ste_mask="R + v"):
    """``1[-v <= R <= 1 - v]`` (or the printed ``1[v <= R <= 1 + v]``) as R's dtype.

    The bounds are rounded once to R's dtype, as the threshold is.
    """
    one, vn = R.dtype.type(1), R.dtype.type(vn)
    low, high = (-vn, one - vn) if ste_mask == "R + v" else (vn, one + vn)
    return ((R >= low) & (R <= high)).astype(R.dtype)


# -- convolution ------------------------------------------------------------------
def _windows(x, kernel_hw, stride, padding, pad_value):
    (ph, pw), (sh, sw) = _pair(padding), _pair(stride)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)
    win = sliding_window_view(xp, kernel_hw, axis=(2, 3))
    return xp, win[:, :, ::sh, ::sw]  # (N, C, Ho, Wo, kh, kw)


def conv2d(x, w, *, stride=1, padding=0, pad_value=0):
    """Cross-correlation, NCHW x OIHW -> NOHW, border holding ``pad_value``."""
    _, win = _windows(x, w.shape[2:], stride, padding, pad_value)
    return np.einsum("nchwij,ocij->nohw", win, w)


def conv2d_grads(dout, x, w, *, stride=1, padding=0, pad_value=0):
    """``(dx, dw)`` of :func:`conv2d`; the border is a constant (no gradient)."""
    (ph, pw), (sh, sw) = _pair(padding), _pair(stride)
    xp, win = _windows(x, w.shape[2:], stride, padding, pad_value)
    dw = np.einsum("nchwij,nohw->ocij", win, dout)
    dxp = np.zeros_like(xp)
    ho, wo = dout.shape[2:]
    for i in range(w.shape[2]):
        for j in range(w.shape[3]):
            dxp[:, :, i : i + sh * ho : sh, j : j + sw * wo : sw] += np.einsum(
                "nohw,oc->nchw", dout, w[:, :, i, j]
            )
    h, wd = x.shape[2:]
    return dxp[:, :, ph : ph + h, pw : pw + wd], dw


# -- the ABC convolution: eq. (12), backward by eqs. (7) and (10) ---------------------
def abc_conv2d(
    x,
    W,
    v=None,
    beta=None,
    dout=None,
    *,
    M,
    stride=1,
    padding=0,
    shifts=None,
    ddof=0,
    ridge,
    per_channel=False,
    weight_ste="paper",
    pad_value=0.0,
    **switches,
):
    """Forward (and, with ``dout``, backward) of the ABC conv under ``switches``.

    Returns a dict with ``"out"`` and, with ``dout``, ``"dx"``, ``"dW"``
    and (with activations binarised) ``"dv"``, ``"dbeta"``.
    """
    sw = {**SWITCH_DEFAULTS, **switches}
    B, alphas = approximate_weights(
        W,
        M,
        shifts=shifts,
        ddof=ddof,
        ridge=ridge,
        per_channel=per_channel,
        sign_of_zero=sw["sign_of_zero"],
        alpha_fit=sw["alpha_fit"],
    )
    Wt = combine_bases(B, alphas)
    conv_kw = {"stride": stride, "padding": padding}
    pad = x.dtype.type(pad_value)  # border of A_n (of x for full-precision input)
    if v is None:
        acts, betas = [x], np.ones(1, dtype=x.dtype)
    else:
        acts = binarize_activations(
            x, v, activation_tie=sw["activation_tie"], threshold_form=sw["threshold_form"]
        )
        betas = beta
    per_act = [conv2d(a, Wt, pad_value=pad, **conv_kw) for a in acts]
    out = sum(b * o for b, o in zip(betas, per_act, strict=True))
    result = {"out": out}
    if dout is None:
        return result
    dxs, dws = zip(
        *(conv2d_grads(dout, a, Wt, pad_value=pad, **conv_kw) for a in acts), strict=True
    )
    G = sum(b * dw for b, dw in zip(betas, dws, strict=True))
    if weight_ste == "paper":
        scale = (alphas**2).sum(axis=-1)
    elif weight_ste == "sum":
        scale = alphas.sum(axis=-1)
    else:
        scale = np.ones_like(alphas[..., 0])
    result["dW"] = (scale.reshape(-1, 1, 1, 1) if per_channel else scale) * G
    if v is None:
        result["dx"] = dxs[0]
        return result
    dA = [b * dx for b, dx in zip(betas, dxs, strict=True)]
    masks = [activation_ste_mask(x, vn, sw["ste_mask"]) for vn in v]
    result["dx"] = sum(d * m for d, m in zip(dA, masks, strict=True))
    result["dv"] = np.array([(d * m).sum() for d, m in zip(dA, masks, strict=True)], x.dtype)
    result["dbeta"] = np.array([(dout * o).sum() for o in per_act], dtype=x.dtype)
    return result


# -- bit-level: xnor conv and BN folding (section 5.3) -----------------------------------
def xnor_conv2d(a, b, *, stride=1, padding=0, pad_value=0):
    """Integer convolution of +-1 arrays (the meaning of the xnor engine)."""
    return conv2d(
        a.astype(np.int64),
        b.astype(np.int64),
        stride=stride,
        padding=padding,
        pad_value=int(pad_value),
    )


def fold_batchnorm(R, a, b, v, *, flip_negative_scale=True):
    """``H_{v_n}(a R + b)`` decided by comparators on R (section 5.3 (2)).

    ``R`` is ``(batch, C, H, W)``; ``a, b`` are ``(C,)``; ``v`` is ``(N,)``.
    Returns ``direction`` (C,) int8, ``thresholds`` (N, C) (the quotient
    ``(0.5 - v - b) / a``, 0 where ``a = 0``), ``constant`` (N, C) bool
    and ``A`` (N, batch, C, H, W) int8. ``flip_negative_scale=False``
    applies the rule as printed, ``+1 iff R >= (0.5 - v - b) / a``, for
    ``a < 0`` too.
    """
    t = (np.asarray(0.5, dtype=v.dtype) - v)[:, None]  # (N, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(a[None] != 0, (t - b[None]) / np.where(a == 0, 1, a)[None], 0)
    direction = np.sign(a).astype(np.int8)  # the output field: sign(a) under either rule
    rule = direction if flip_negative_scale else np.where(a < 0, 1, direction)
    constant = (b[None] >= t) & (direction[None] == 0)
    qt = q[:, None, :, None, None]
    d = rule[None, None, :, None, None]
    decided = np.where(
        d > 0, R[None] >= qt, np.where(d < 0, R[None] <= qt, constant[:, None, :, None, None])
    )
    A = np.where(decided, 1, -1).astype(np.int8)
    return {"direction": direction, "thresholds": q.astype(a.dtype), "constant": constant, "A": A}
