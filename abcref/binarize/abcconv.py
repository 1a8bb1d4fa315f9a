"""The ABC convolution: eq. (6) and eq. (12), written as the paper's sums.

- ApproxConv (Figure 1, left), binary weights on a real input ``A``::

      O = sum_m alpha_m Conv(B_m, A)                                  (6)

- The ABC convolution (Figure 1, right), binary weights and activations::

      Conv(W, R) ~ sum_m sum_n alpha_m beta_n Conv(B_m, A_n)          (12)

  with ``A_n = H_{v_n}(R)`` (eq. 11): M x N convolutions of +-1 tensors.

Both are computed here term by term, each binary convolution by
:mod:`abcref.ops.conv`, and differentiated term by term: the weight
gradient goes through eq. (7), the activation gradient through eq. (10).
:mod:`abcref.fast.abcconv` computes the same with one float convolution
of ``W_tilde = sum alpha_m B_m`` and ``R_tilde = sum beta_n A_n``.

Padding (conventions row 10): the binary activations ``A_n`` are padded
with ``pad_value`` (0: the ordinary zero padding of the float training
graph; +1 or -1: what a packed-bit engine can store). No bias inside the
sum (conventions row 14).
"""

from __future__ import annotations

import numpy as np

from abcref._checks import check_conv_args, check_dout
from abcref.binarize.activations import (
    _binarize_activations,
    _binarize_activations_backward,
    check_activation_params,
)
from abcref.binarize.weights import (
    DEFAULT_RIDGE,
    _approximate_weights_backward,
    _approximate_weights_forward,
    _check_weight_options,
)
from abcref.ops.conv import _conv2d_backward, _conv2d_forward

# -- eq. (6): binary weights, real input ------------------------------------------------


def approx_conv2d_forward(
    A,
    W,
    *,
    M,
    stride=1,
    padding=0,
    shifts=None,
    ddof=0,
    ridge=DEFAULT_RIDGE,
    per_channel=False,
    weight_ste="paper",
    pad_value=0.0,
    train_shifts=False,
):
    """``O = sum_m alpha_m Conv(B_m, A)``: ApproxConv, eq. (6).

    Parameters
    ----------
    A : ndarray, shape (B, C_in, H, W)
        Real input, float32 or float64.
    W : ndarray, shape (C_out, C_in, KH, KW)
        Latent real weights, dtype of ``A``.
    M : int
        Number of weight bases.
    stride, padding : int or (int, int)
    shifts, ddof, ridge, per_channel
        The weight approximation (see ``approximate_weights``).
    weight_ste : {"paper", "sum", "identity"}
        The reading of eq. (7) the backward uses.
    pad_value : float
        Value padded around ``A``.
    train_shifts : bool
        The backward also returns ``"u"`` (``shifts`` required).

    Returns
    -------
    O : ndarray, shape (B, C_out, H_out, W_out)
        ``H_out = (H + 2 ph - KH) // sh + 1`` (likewise W_out).
    cache : dict
    """
    w_args, geometry = _check_args(
        A,
        W,
        "A",
        M,
        stride,
        padding,
        pad_value,
        shifts=shifts,
        ddof=ddof,
        ridge=ridge,
        per_channel=per_channel,
        weight_ste=weight_ste,
        train_shifts=train_shifts,
    )
    return _approx_conv2d_forward(A, W, w_args, geometry)


def _approx_conv2d_forward(A, W, w_args, geometry):
    _, w_cache = _approximate_weights_forward(W, *w_args)  # eqs. (4)-(5)
    alphas = _alphas_over_outputs(w_cache["alphas"])
    convs = [_conv2d_forward(A, B_m, None, *geometry) for B_m in w_cache["B"]]
    terms = zip(alphas, convs, strict=True)
    O = sum(alpha_m * conv_m for alpha_m, (conv_m, _) in terms)  # noqa: E741  eq. (6)
    return O, {"w": w_cache, "convs": [cache for _, cache in convs]}


def approx_conv2d_backward(dO, cache):
    """Backward of :func:`approx_conv2d_forward`.

    Returns
    -------
    grads : dict
        ``"A"``: ``sum_m`` of each binary conv's input gradient (exact);
        ``"W"``: eq. (7) in the chosen reading, from ``dc/dB_m = alpha_m G``
        with ``G`` the filter gradient of ``Conv(., A)``; ``"u"`` when the
        shifts are trained.
    """
    _check_dout_of(dO, cache["convs"][0])
    return _approx_conv2d_backward(dO, cache)


def _approx_conv2d_backward(dO, cache):
    alphas = _alphas_over_outputs(cache["w"]["alphas"])
    dA = sum(
        _conv2d_backward(alpha_m * dO, conv_m)[0]
        for alpha_m, conv_m in zip(alphas, cache["convs"], strict=True)
    )
    G = _conv2d_backward(dO, cache["convs"][0])[1]  # dc/dB_m = alpha_m G for every m
    dW, du = _approximate_weights_backward(G, cache["w"])  # eq. (7)
    grads = {"A": dA, "W": dW}
    if du is not None:
        grads["u"] = du
    return grads


# -- eq. (12): binary weights and binary activations ------------------------------------------


def abc_conv2d_forward(
    R,
    W,
    v,
    beta,
    *,
    M,
    stride=1,
    padding=0,
    shifts=None,
    ddof=0,
    ridge=DEFAULT_RIDGE,
    per_channel=False,
    weight_ste="paper",
    pad_value=0.0,
    train_shifts=False,
):
    """``sum_m sum_n alpha_m beta_n Conv(B_m, A_n)``: the ABC convolution, eq. (12).

    Parameters
    ----------
    R : ndarray, shape (B, C_in, H, W)
        Real input (typically batch-normalised), float32 or float64.
    W : ndarray, shape (C_out, C_in, KH, KW)
        Latent real weights.
    v, beta : ndarray of shape (N,), or both None
        Activation shifts and scales. Both None: full-precision input,
        which is eq. (6) (:func:`approx_conv2d_forward`, paper Table 1).
    M : int
        Number of weight bases.
    stride, padding : int or (int, int)
    shifts, ddof, ridge, per_channel
        The weight approximation (see ``approximate_weights``).
    weight_ste : {"paper", "sum", "identity"}
        The reading of eq. (7) the backward uses (``weight_ste_scale``).
    pad_value : float
        Value of each padded binary activation ``A_n`` (0, +1 or -1;
        with full-precision input, the value padded around ``R``).
    train_shifts : bool
        The backward also returns ``"u"`` (``shifts`` required).

    Returns
    -------
    out : ndarray, shape (B, C_out, H_out, W_out)
        ``H_out = (H + 2 ph - KH) // sh + 1`` (likewise W_out).
    cache : dict
        Everything :func:`abc_conv2d_backward` needs.

    Notes
    -----
    Conventions rows 7, 8, 10 and 14.
    """
    w_args, geometry = _check_args(
        R,
        W,
        "R",
        M,
        stride,
        padding,
        pad_value,
        shifts=shifts,
        ddof=ddof,
        ridge=ridge,
        per_channel=per_channel,
        weight_ste=weight_ste,
        train_shifts=train_shifts,
    )
    if _full_precision_input(v, beta):
        out, cache = _approx_conv2d_forward(R, W, w_args, geometry)
        return out, {**cache, "act": None}
    check_activation_params(v, beta, R.dtype)  # R: checked with W above
    if geometry[2] not in (0.0, 1.0, -1.0):  # a padded A_n is 0 (zero padding) or a sign
        raise ValueError(
            f"pad_value must be 0, +1 or -1 with binary activations, got {geometry[2]:g}"
        )
    _, w_cache = _approximate_weights_forward(W, *w_args)  # eqs. (4)-(5)
    A = _binarize_activations(R, v)  # eq. (11)
    convs = {
        (m, n): _conv2d_forward(A_n, B_m, None, *geometry)
        for m, B_m in enumerate(w_cache["B"])
        for n, A_n in enumerate(A)
    }
    alphas = _alphas_over_outputs(w_cache["alphas"])
    out = sum(alphas[m] * beta[n] * conv for (m, n), (conv, _) in convs.items())  # eq. (12)
    cache = {"w": w_cache, "act": {"R": R, "v": v, "beta": beta}, "convs": convs}
    return out, cache


def abc_conv2d_backward(dout, cache):
    """Backward of :func:`abc_conv2d_forward`, term by term.

    Parameters
    ----------
    dout : ndarray, shape (B, C_out, H_out, W_out)
    cache : dict

    Returns
    -------
    grads : dict
        ``"R"``: ``dc/dA_n = sum_m alpha_m beta_n Conv_x^T(dout, B_m)``
        through the STE of eq. (10) (mask ``1[0 <= R + v_n <= 1]``), or
        the exact gradient for full-precision input; ``"W"``: eq. (7) in
        the chosen reading, from ``dc/dB_m = alpha_m G`` with
        ``G = sum_n beta_n Conv_w^T(dout, A_n)``; ``"v"`` with the same
        mask; ``"beta"``: ``sum_m alpha_m <dout, Conv(B_m, A_n)>`` (padding
        included); ``"u"`` when the shifts are trained. ``"v"`` and
        ``"beta"`` are None for full-precision input.
    """
    first = cache["convs"][0, 0][1] if cache["act"] else cache["convs"][0]
    _check_dout_of(dout, first)
    if cache["act"] is None:
        grads = _approx_conv2d_backward(dout, cache)
        return {"R": grads.pop("A"), **grads, "v": None, "beta": None}
    R, v, beta = cache["act"]["R"], cache["act"]["v"], cache["act"]["beta"]
    alphas = _alphas_over_outputs(cache["w"]["alphas"])
    convs = cache["convs"]
    dA = np.zeros((len(v), *R.shape), dtype=R.dtype)
    dbeta = np.zeros_like(beta)
    for (m, n), (conv, conv_cache) in convs.items():
        dA[n] += _conv2d_backward(alphas[m] * beta[n] * dout, conv_cache)[0]  # dc/dA_n
        dbeta[n] += np.sum(alphas[m] * conv * dout)  # out is linear in beta_n
    # G = dc/dW_tilde, so that dc/dB_m = alpha_m G: the filter gradient of
    # sum_n beta_n Conv(., A_n), the same for every base m.
    G = sum(beta[n] * _conv2d_backward(dout, convs[0, n][1])[1] for n in range(len(v)))
    dR, dv = _binarize_activations_backward(dA, R, v)  # eq. (10)
    dW, du = _approximate_weights_backward(G, cache["w"])  # eq. (7)
    grads = {"R": dR, "W": dW, "v": dv, "beta": dbeta}
    if du is not None:
        grads["u"] = du
    return grads


def _check_args(x, W, x_name, M, stride, padding, pad_value, **options):
    """Check a conv of ``x`` by the approximated ``W`` once; return the kernels' arguments."""
    stride, padding, pad_value, _ = check_conv_args(
        x, W, stride=stride, padding=padding, pad_value=pad_value, names=(x_name, "W", "b")
    )
    ddof, per_channel = options["ddof"], options["per_channel"]
    weight_ste, train_shifts = options["weight_ste"], options["train_shifts"]
    u, ridge = _check_weight_options(  # W itself: checked as an array above
        W, M, options["shifts"], ddof, options["ridge"], per_channel, weight_ste, train_shifts
    )
    return (u, ddof, ridge, per_channel, weight_ste, train_shifts), (stride, padding, pad_value)


def _alphas_over_outputs(alphas):
    """``alpha_m`` for m = 1..M, shaped to scale a conv output (B, C_out, H, W)."""
    return list(alphas) if alphas.ndim == 1 else [a_m[None, :, None, None] for a_m in alphas.T]


def _full_precision_input(v, beta) -> bool:
    if (v is None) != (beta is None):
        raise ValueError(
            "v and beta must both be arrays (binary activations) or both be None "
            f"(full-precision activations), got v={'None' if v is None else 'array'}, "
            f"beta={'None' if beta is None else 'array'}"
        )
    return v is None


def _check_dout_of(dout, conv_cache) -> None:
    windows, w = conv_cache["windows"], conv_cache["w"]
    check_dout(dout, (windows.shape[0], w.shape[0], *windows.shape[2:4]), w.dtype)
