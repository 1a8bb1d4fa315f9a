"""The ABC convolution: M weight bases times N activation bases (eq. 12).

``Conv(W, R) ~ Conv(sum_m alpha_m B_m, sum_n beta_n A_n)
             = sum_m sum_n alpha_m beta_n Conv(B_m, A_n)``.

The fast path builds ``W_tilde = sum alpha_m B_m`` and
``R_tilde = sum beta_n A_n`` and runs ONE float convolution; by
bilinearity it equals the M x N sum of binary convolutions that hardware
computes, which :func:`abc_conv2d_naive` writes out (tests tie the two).
The backward also needs just one conv backward: ``dc/dA_n`` is
``beta_n dc/dR_tilde`` for every n, so the v and beta gradients all come
from the single ``dR_tilde``.

Padding (conventions row 10): the *binary* activations ``A_n`` are padded
with ``pad_value`` (0 = ordinary zero padding of the float training
graph; +1 or -1 = what a packed-bit engine can store). Then the padded
``R_tilde`` holds ``pad_value * sum(beta)`` on its border, which also
contributes to ``dc/dbeta``. No bias inside the sum (conventions row 14).
"""

from __future__ import annotations

import numpy as np

from abcref._checks import check_array, check_pair, check_real, check_same_dtype
from abcref.binarize.weights import (
    DEFAULT_RIDGE,
    approximate_weights_backward,
    approximate_weights_forward,
)
from abcref.fast.activations import (
    approximate_activations_backward,
    approximate_activations_forward,
)
from abcref.fast.conv import conv2d_backward, conv2d_forward


def _check_conv_inputs(x, W, v, beta):
    x = check_array(x, "x", ndim=4)
    W = check_array(W, "W", ndim=4)
    if (v is None) != (beta is None):
        raise ValueError(
            "v and beta must both be arrays (binary activations) or both be None "
            f"(full-precision activations), got v={'None' if v is None else 'array'}, "
            f"beta={'None' if beta is None else 'array'}"
        )
    if v is not None:  # arrays first: a list would fail inside the dtype check
        check_array(v, "v", ndim=1)
        check_array(beta, "beta", ndim=1)
    check_same_dtype(x=x, W=W, v=v, beta=beta)
    if x.shape[1] != W.shape[1]:
        raise ValueError(
            f"x has {x.shape[1]} input channels but W (OIHW, shape {W.shape}) expects {W.shape[1]}"
        )
    return x, W


def _pad(x: np.ndarray, padding: tuple[int, int], value) -> np.ndarray:
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _border_sum(padded: np.ndarray, ph: int, pw: int):
    """Sum over the padding border only (summed directly, not as a difference)."""
    H, Wd = padded.shape[2], padded.shape[3]
    rows = padded[:, :, :ph].sum() + padded[:, :, H - ph :].sum()
    middle = padded[:, :, ph : H - ph]
    return rows + middle[..., :pw].sum() + middle[..., Wd - pw :].sum()


def abc_conv2d_forward(
    x: np.ndarray,
    W: np.ndarray,
    v: np.ndarray | None,
    beta: np.ndarray | None,
    *,
    M: int,
    stride=1,
    padding=0,
    shifts=None,
    ddof: int = 0,
    ridge: float = DEFAULT_RIDGE,
    per_channel: bool = False,
    weight_ste: str = "paper",
    pad_value: float = 0.0,
    train_shifts: bool = False,
) -> tuple[np.ndarray, dict]:
    """ABC-Net convolution, eq. (12) (eq. 6 for full-precision input).

    Parameters
    ----------
    x : ndarray, shape (B, C_in, H, W)
        Real input ``R`` (typically batch-normalised), float32/float64.
    W : ndarray, shape (C_out, C_in, KH, KW)
        Latent real weights.
    v, beta : ndarray of shape (N,), or both None
        Activation shifts and scales; None means full-precision input
        (weight-only ABC, eq. 6; paper Table 1).
    M : int
        Number of weight bases.
    stride, padding : int or (int, int)
        As ``abcref.ops.conv2d_forward``.
    shifts, ddof, ridge, per_channel
        Weight approximation, see ``approximate_weights``.
    weight_ste : {"paper", "sum", "identity"}
        Reading of eq. (7), see ``weight_ste_scale``.
    pad_value : float
        Value of each padded binary activation ``A_n`` (0, +1 or -1;
        with full-precision input, the value padded into ``x``).
    train_shifts : bool
        Also return ``"u"`` from the backward (``shifts`` required).

    Returns
    -------
    out : ndarray, shape (B, C_out, H_out, W_out)
        ``H_out = (H + 2 ph - KH) // sh + 1`` (likewise W_out).
    cache : dict
        Everything :func:`abc_conv2d_backward` needs.

    Notes
    -----
    Eq. (12) computed as ``Conv(W_tilde, R_tilde)``; conventions rows
    7, 8, 10, 14.
    """
    x, W = _check_conv_inputs(x, W, v, beta)
    pad = check_pair(padding, "padding", min_value=0)
    stride = check_pair(stride, "stride", min_value=1)
    pad_value = check_real(pad_value, "pad_value")
    W_tilde, w_cache = approximate_weights_forward(
        W,
        M,
        shifts=shifts,
        ddof=ddof,
        ridge=ridge,
        per_channel=per_channel,
        weight_ste=weight_ste,
        train_shifts=train_shifts,
    )
    if v is None:
        out, conv_cache = conv2d_forward(
            x, W_tilde, stride=stride, padding=pad, pad_value=pad_value
        )
        return out, {"w": w_cache, "conv": conv_cache, "act": None}
    x_tilde, act_cache = approximate_activations_forward(x, v, beta)
    # Padded A_n hold pad_value, so the padded sum holds pad_value*sum(beta).
    border = x.dtype.type(pad_value) * beta.sum()
    out, conv_cache = conv2d_forward(_pad(x_tilde, pad, border), W_tilde, stride=stride)
    cache = {"w": w_cache, "conv": conv_cache, "act": act_cache}
    cache.update(padding=pad, pad_value=x.dtype.type(pad_value))
    return out, cache


def abc_conv2d_backward(dout: np.ndarray, cache: dict) -> dict:
    """Backward of :func:`abc_conv2d_forward`.

    Parameters
    ----------
    dout : ndarray, shape (B, C_out, H_out, W_out)
    cache : dict

    Returns
    -------
    grads : dict
        ``"x"`` (STE of eq. 10 with mask ``1[0 <= x + v_n <= 1]``, or the
        exact gradient for full-precision input), ``"W"`` (STE of eq. 7
        in the chosen reading), ``"v"`` and ``"beta"`` (None for
        full-precision input), and ``"u"`` when ``train_shifts``.
    """
    dx_in, dW_tilde, _ = conv2d_backward(dout, cache["conv"])
    dW, du = approximate_weights_backward(dW_tilde, cache["w"])
    grads = {"W": dW}
    if du is not None:
        grads["u"] = du
    if cache["act"] is None:
        grads.update(x=dx_in, v=None, beta=None)
        return grads
    ph, pw = cache["padding"]
    H, Wd = dx_in.shape[2] - 2 * ph, dx_in.shape[3] - 2 * pw
    dx_tilde = dx_in[:, :, ph : ph + H, pw : pw + Wd]
    dx, dv, dbeta = approximate_activations_backward(dx_tilde, cache["act"])
    if cache["pad_value"] != 0:
        # d(border)/d(beta_n) = pad_value for every n.
        dbeta = dbeta + cache["pad_value"] * _border_sum(dx_in, ph, pw)
    grads.update(x=dx, v=dv, beta=dbeta)
    return grads
