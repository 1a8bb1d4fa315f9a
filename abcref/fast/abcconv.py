"""Eqs. (6) and (12) with ONE float convolution: the trainer's ABC conv.

By bilinearity of the convolution::

    sum_m sum_n alpha_m beta_n Conv(B_m, A_n) = Conv(W_tilde, R_tilde),
    W_tilde = sum_m alpha_m B_m,   R_tilde = sum_n beta_n A_n,

so the M x N binary convolutions of :func:`abcref.binarize.abc_conv2d_forward`
(what hardware computes) cost one float convolution here, and the backward
one conv backward: ``dc/dA_n = beta_n dc/dR_tilde`` for every n, so the v
and beta gradients all come from the single ``dR_tilde``. Tests tie both
directions to the reference to a float64 bound.

Padding (conventions row 10): the *binary* activations ``A_n`` are padded
with ``pad_value``, so the padded ``R_tilde`` holds ``pad_value * sum(beta)``
on its border, which also contributes to ``dc/dbeta``.

Arguments are trusted (the layer checks them): ``R`` (B, C, H, W) and ``W``
(O, C, KH, KW) of one float dtype, ``v`` and ``beta`` (N,) of that dtype or
both None, ``stride`` and ``padding`` pairs, ``shifts`` (M,) or None.
"""

from __future__ import annotations

import numpy as np

from abcref.binarize.weights import (
    DEFAULT_RIDGE,
    _approximate_weights_backward,
    _approximate_weights_forward,
    weight_shifts,
)
from abcref.fast.activations import (
    approximate_activations_backward,
    approximate_activations_forward,
)
from abcref.fast.conv import conv2d_backward, conv2d_forward


def abc_conv2d_forward(
    R,
    W,
    v,
    beta,
    *,
    M,
    stride=(1, 1),
    padding=(0, 0),
    shifts=None,
    ddof=0,
    ridge=DEFAULT_RIDGE,
    per_channel=False,
    weight_ste="paper",
    pad_value=0.0,
    train_shifts=False,
):
    """:func:`abcref.binarize.abc_conv2d_forward` as ``Conv(W_tilde, R_tilde)``.

    ``v`` and ``beta`` None: full-precision input, eq. (6) as
    ``Conv(W_tilde, R)``. Returns ``(out, cache)``.
    """
    u = weight_shifts(M, W.dtype) if shifts is None else shifts
    W_tilde, w_cache = _approximate_weights_forward(
        W, u, ddof, ridge, per_channel, weight_ste, train_shifts
    )
    if v is None:
        out, conv_cache = conv2d_forward(
            R, W_tilde, stride=stride, padding=padding, pad_value=pad_value
        )
        return out, {"w": w_cache, "conv": conv_cache, "act": None}
    R_tilde, act_cache = approximate_activations_forward(R, v, beta)
    # Padded A_n hold pad_value, so the padded sum holds pad_value * sum(beta).
    border = R.dtype.type(pad_value) * beta.sum()
    out, conv_cache = conv2d_forward(_pad(R_tilde, padding, border), W_tilde, stride=stride)
    cache = {"w": w_cache, "conv": conv_cache, "act": act_cache}
    cache.update(padding=padding, pad_value=R.dtype.type(pad_value))
    return out, cache


def abc_conv2d_backward(dout, cache):
    """The gradients of :func:`abc_conv2d_forward` as a dict (keys as the reference's).

    ``"R"``, ``"W"``, ``"v"``, ``"beta"`` (None for full-precision input),
    and ``"u"`` when the shifts are trained.
    """
    dR_in, G, _ = conv2d_backward(dout, cache["conv"])  # G = dc/dW_tilde
    dW, du = _approximate_weights_backward(G, cache["w"])
    grads = {"W": dW}
    if du is not None:
        grads["u"] = du
    if cache["act"] is None:
        grads.update(R=dR_in, v=None, beta=None)
        return grads
    ph, pw = cache["padding"]
    H, Wd = dR_in.shape[2] - 2 * ph, dR_in.shape[3] - 2 * pw
    dR_tilde = dR_in[:, :, ph : ph + H, pw : pw + Wd]
    dR, dv, dbeta = approximate_activations_backward(dR_tilde, cache["act"])
    if cache["pad_value"] != 0:
        # d(border)/d(beta_n) = pad_value for every n.
        dbeta = dbeta + cache["pad_value"] * _border_sum(dR_in, ph, pw)
    grads.update(R=dR, v=dv, beta=dbeta)
    return grads


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
