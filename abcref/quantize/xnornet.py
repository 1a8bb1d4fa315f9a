"""XNOR-Net convolution (Rastegari et al. 2016, §3.2, eq. 11).

``I * W ~ (sign(I) (*) sign(W)) . K alpha``: binary input and binary
weights, the weight scale ``alpha`` per output channel (BWN, eq. 6) and the
input scale ``K = A * k`` per sample and output position, where
``A = mean_c |I|`` and ``k`` is the ``kh x kw`` averaging kernel.

(The name ``xnor_conv2d`` belongs to the bit-packed engine of
:mod:`abcref.bitpack`; these are the float training-graph functions. Their
convolutions are those of the trainer, :mod:`abcref.fast.conv`.)
"""

from __future__ import annotations

import numpy as np

from abcref._checks import (
    check_array,
    check_bool,
    check_choice,
    check_conv_args,
    check_dout,
    check_kernel_fits,
    check_pair,
    output_size,
)
from abcref.fast.conv import conv2d_backward, conv2d_forward
from abcref.ops.sign import check_zero_sign
from abcref.quantize.activations import _masked, _sign_activations_forward
from abcref.quantize.weights import BWN_WEIGHT_STES, _bwn_weights_backward, _bwn_weights_forward

NAMES = ("x", "W", "b")  # how check_conv_args names the arguments


# -- the input scale K -------------------------------------------------------------
def xnornet_input_scale_forward(
    x: np.ndarray, kernel_size, *, stride=1, padding=0
) -> tuple[np.ndarray, dict]:
    """XNOR-Net input scaling factors ``K = A * k``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
        Real-valued conv input (before binarization).
    kernel_size : int or (int, int)
        ``(kh, kw)`` of the convolution the factors belong to.
    stride, padding : int or (int, int)
        Those of that convolution; ``A`` is zero-padded like ``sign(I)``.

    Returns
    -------
    K : ndarray, shape (N, 1, Ho, Wo), dtype of ``x``
        ``K[n, 0, y, x]`` is beta of eq. 10 for the sub-tensor under the
        window at ``(y, x)``: ``mean |I|`` over its ``C kh kw`` entries,
        padded entries counting as 0.
    cache : dict

    Notes
    -----
    Rastegari et al. 2016, §3.2 "Binary Convolution": ``A = sum_c |I_c| / C``,
    ``K = A * k`` with ``k_ij = 1 / (kh kw)``. Backward:
    ``dx = sign(x) / C * conv2d_backward(dK)`` (the subgradient 0 of
    ``|x|`` at ``x = 0``).
    """
    check_array(x, "x", ndim=4)
    kernel = check_pair(kernel_size, "kernel_size", min_value=1)
    stride = check_pair(stride, "stride", min_value=1)
    padding = check_pair(padding, "padding", min_value=0)
    padded = (x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
    check_kernel_fits(padded, kernel, "padded input")
    return _input_scale_forward(x, kernel, stride, padding)


def _input_scale_forward(x, kernel, stride, padding):
    kh, kw = kernel
    A = np.mean(np.abs(x), axis=1, keepdims=True)
    k = np.full((1, 1, kh, kw), 1.0 / (kh * kw), dtype=x.dtype)
    K, conv_cache = conv2d_forward(A, k, stride=stride, padding=padding)
    cache = {"conv": conv_cache, "sign_x": np.sign(x), "channels": x.shape[1], "K_shape": K.shape}
    return K, cache


def xnornet_input_scale_backward(dK: np.ndarray, cache: dict) -> np.ndarray:
    """Gradient of :func:`xnornet_input_scale_forward` with respect to ``x``."""
    check_dout(dK, cache["K_shape"], cache["sign_x"].dtype, name="dK")
    return _input_scale_backward(dK, cache)


def _input_scale_backward(dK, cache):
    dA, _, _ = conv2d_backward(dK, cache["conv"])
    return cache["sign_x"] * (dA / dA.dtype.type(cache["channels"]))


def xnornet_input_scale_naive(x: np.ndarray, kernel_size, *, stride=1, padding=0) -> np.ndarray:
    """Looped reference for :func:`xnornet_input_scale_forward`.

    Computes beta of eq. 10, ``||X||_1 / n``, for each sub-tensor ``X``
    under the window directly (``n = C kh kw``, zero padding included).
    """
    check_array(x, "x", ndim=4)
    kh, kw = check_pair(kernel_size, "kernel_size", min_value=1)
    (sh, sw), (ph, pw) = (
        check_pair(stride, "stride", min_value=1),
        check_pair(padding, "padding", min_value=0),
    )
    n, c, h, w = x.shape
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    xp[:, :, ph : ph + h, pw : pw + w] = x
    ho, wo = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    K = np.zeros((n, 1, ho, wo), dtype=x.dtype)
    for ni in range(n):
        for y in range(ho):
            for xi in range(wo):
                sub = xp[ni, :, y * sh : y * sh + kh, xi * sw : xi * sw + kw]
                K[ni, 0, y, xi] = np.sum(np.abs(sub)) / sub.size
    return K


# -- the XNOR-Net convolution ------------------------------------------------------
def xnornet_conv2d_forward(
    x: np.ndarray,
    W: np.ndarray,
    *,
    stride=1,
    padding=0,
    weight_ste: str = "paper",
    scale_input: bool = True,
    scale_grad: bool = True,
    zero_sign: int = 1,
) -> tuple[np.ndarray, dict]:
    """XNOR-Net convolution ``(sign(x) (*) sign(W)) . K alpha`` (eq. 11).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
        Real-valued input (the BN output); binarized here.
    W : ndarray, shape (O, C, kh, kw)
        Latent float weights, dtype of ``x``.
    stride, padding : int or (int, int)
        ``sign(x)`` and ``A`` are zero-padded (conventions.md point 10).
    weight_ste : {"paper", "exact", "identity"}
        Latent weight gradient rule, see
        :func:`abcref.quantize.bwn_weights_forward`.
    scale_input : bool
        Multiply by ``K`` (True, the paper); False drops ``K`` (the
        paper's ablation "removing beta", Table 1 discussion).
    scale_grad : bool
        Backpropagate through ``K`` into ``x`` (True: ``K`` is an ordinary
        differentiable function of the input); False treats ``K`` as a
        constant. The paper does not say; see docs/baselines.md.
    zero_sign : {1, -1}
        sign(0) for input and weights; +1 as XNOR-Net's eq. 4.

    Returns
    -------
    out : ndarray, shape (N, O, Ho, Wo), dtype of ``x``
    cache : dict

    Notes
    -----
    ``out = conv(sign(x), alpha sign(W)) * K`` (K broadcast over O).
    Backward with ``g = dout``: ``dK = sum_o g * conv(...)``;
    ``conv(...)`` backward of ``g * K`` gives ``dsign(x)`` and ``dW~``;
    ``dx = dsign(x) 1[|x| <= 1]`` (+ the path through ``K`` when
    ``scale_grad``); ``dW`` from ``dW~`` by ``weight_ste``.
    """
    stride, padding, _, _ = check_conv_args(x, W, stride=stride, padding=padding, names=NAMES)
    options = xnornet_options(
        weight_ste=weight_ste, scale_input=scale_input, scale_grad=scale_grad, zero_sign=zero_sign
    )
    return _xnornet_conv2d(x, W, stride, padding, **options)


def xnornet_options(
    *, weight_ste: str = "paper", scale_input: bool = True, scale_grad: bool = True, zero_sign=1
) -> dict:
    """Validate the options of :func:`xnornet_conv2d_forward`; return them, checked."""
    return {
        "weight_ste": check_choice(weight_ste, "weight_ste", BWN_WEIGHT_STES),
        "scale_input": check_bool(scale_input, "scale_input"),
        "scale_grad": check_bool(scale_grad, "scale_grad"),
        "zero_sign": check_zero_sign(zero_sign),
    }


def _xnornet_conv2d(x, W, stride, padding, *, weight_ste, scale_input, scale_grad, zero_sign):
    """The kernel of :func:`xnornet_conv2d_forward`: arguments and options checked."""
    W_q, w_cache = _bwn_weights_forward(W, weight_ste=weight_ste, zero_sign=zero_sign)
    x_b, a_cache = _sign_activations_forward(x, zero_sign=zero_sign)
    binary_out, conv_cache = conv2d_forward(x_b, W_q, stride=stride, padding=padding)
    cache = {
        "w": w_cache,
        "a": a_cache,
        "conv": conv_cache,
        "K": None,
        "scale_grad": scale_grad,
        "out_shape": binary_out.shape,
        "dtype": x.dtype,
    }
    if not scale_input:
        return binary_out, cache
    K, k_cache = _input_scale_forward(x, W.shape[2:], stride, padding)
    cache.update(K=K, k_cache=k_cache, binary_out=binary_out)
    return binary_out * K, cache


def xnornet_conv2d_backward(dout: np.ndarray, cache: dict) -> dict:
    """Gradients of :func:`xnornet_conv2d_forward`.

    Returns
    -------
    grads : dict
        ``"x"`` (N, C, H, W) and ``"W"`` (O, C, kh, kw).
    """
    check_dout(dout, cache["out_shape"], cache["dtype"])
    K = cache["K"]
    d_binary = dout if K is None else dout * K
    dx_b, dW_q, _ = conv2d_backward(d_binary, cache["conv"])
    dx = _masked(dx_b, cache["a"])  # the clipped STE of sign(x)
    if K is not None and cache["scale_grad"]:
        dK = np.sum(dout * cache["binary_out"], axis=1, keepdims=True)
        dx += _input_scale_backward(dK, cache["k_cache"])
    return {"x": dx, "W": _bwn_weights_backward(dW_q, cache["w"])}


def xnornet_conv2d_naive(
    x: np.ndarray,
    W: np.ndarray,
    *,
    stride=1,
    padding=0,
    scale_input: bool = True,
    zero_sign: int = 1,
) -> np.ndarray:
    """Looped reference for :func:`xnornet_conv2d_forward` (forward only).

    For each output: ``alpha_o * beta * sum(sign(X) sign(W_o))`` with
    ``beta = ||X||_1 / n`` of the window's sub-tensor ``X`` (eqs. 6, 10, 11).
    """
    (sh, sw), (ph, pw), _, _ = check_conv_args(x, W, stride=stride, padding=padding, names=NAMES)
    zero_sign = check_zero_sign(zero_sign)

    def sgn(a):
        return np.where(a >= 0 if zero_sign == 1 else a > 0, 1.0, -1.0).astype(a.dtype)

    n, c, h, w = x.shape
    o, _, kh, kw = W.shape
    ho, wo = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    xp[:, :, ph : ph + h, pw : pw + w] = x
    inside = np.zeros(xp.shape, dtype=bool)  # the zero border stays 0 after sign
    inside[:, :, ph : ph + h, pw : pw + w] = True
    signs = np.where(inside, sgn(xp), 0).astype(x.dtype)
    out = np.zeros((n, o, ho, wo), dtype=x.dtype)
    for ni in range(n):
        for oi in range(o):
            alpha = np.sum(np.abs(W[oi])) / W[oi].size
            for y in range(ho):
                for xi in range(wo):
                    win = (
                        ni,
                        slice(None),
                        slice(y * sh, y * sh + kh),
                        slice(xi * sw, xi * sw + kw),
                    )
                    beta = np.sum(np.abs(xp[win])) / xp[win].size if scale_input else 1.0
                    out[ni, oi, y, xi] = alpha * beta * np.sum(signs[win] * sgn(W[oi]))
    return out
