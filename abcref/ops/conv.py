"""2-D convolution (cross-correlation, as in PyTorch): the reference.

:func:`conv2d_forward` and :func:`conv2d_backward` are written to be read:
every output value is the dot product of one filter with one window of the
padded input, and NumPy's ``sliding_window_view`` gives all windows at
once, so the whole convolution is one ``tensordot``. :func:`conv2d_naive`
is the same definition as plain loops. ``abcref.fast.conv`` computes the
same thing with recycled buffers for the trainer.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from abcref._checks import check_conv_args, check_dout

__all__ = ["conv2d_forward", "conv2d_backward", "conv2d_naive"]


def conv2d_forward(x, w, b=None, *, stride=1, padding=0, pad_value=0.0):
    """2-D convolution (cross-correlation) of a batch of images.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
        Input activations, float32 or float64.
    w : ndarray, shape (O, C, kh, kw)
        Filters (OIHW), same dtype as ``x``.
    b : ndarray, shape (O,), optional
        Bias, same dtype as ``x``.
    stride : int or (int, int)
        Step of the window, ``>= 1``.
    padding : int or (int, int)
        Border added on each side, ``>= 0``.
    pad_value : float
        Constant the border holds: 0 is ordinary zero padding; +1 or -1
        match hardware binary engines (see ``docs/conventions.md``).

    Returns
    -------
    out : ndarray, shape (N, O, Ho, Wo)
        ``Ho = (H + 2*ph - kh) // sh + 1``, ``Wo = (W + 2*pw - kw) // sw + 1``.
    cache : dict
        ``"windows"`` (N, C, Ho, Wo, kh, kw), a view of the padded input;
        ``"w"``; ``"x_shape"``, ``"stride"``, ``"padding"``, ``"has_bias"``.

    Raises
    ------
    TypeError
        Non-array or non-float input, mixed dtypes, non-integer stride or
        padding.
    ValueError
        Wrong ndim, channel mismatch, bias shape, NaN/Inf, stride < 1,
        padding < 0, kernel larger than the padded input.

    Notes
    -----
    ``out[n, o, y, x] = b[o] + sum_{c,i,j} w[o, c, i, j] *
    xp[n, c, y*sh + i, x*sw + j]``, ``xp`` the padded input. The
    convolutions of eqs. (6) and (12) of the paper are this operation.
    """
    stride, padding, pad_value, _ = check_conv_args(
        x, w, b, stride=stride, padding=padding, pad_value=pad_value
    )
    return _conv2d_forward(x, w, b, stride, padding, pad_value)


def _conv2d_forward(x, w, b, stride, padding, pad_value):
    windows = _windows(x, w.shape[2:], stride, padding, pad_value)
    out = np.tensordot(windows, w, axes=([1, 4, 5], [1, 2, 3]))  # (N, Ho, Wo, O)
    out = out.transpose(0, 3, 1, 2)
    if b is not None:
        out = out + b.reshape(1, -1, 1, 1)
    cache = {
        "windows": windows,
        "w": w,
        "x_shape": x.shape,
        "stride": stride,
        "padding": padding,
        "has_bias": b is not None,
    }
    return np.ascontiguousarray(out), cache


def conv2d_backward(dout, cache):
    """Gradients of :func:`conv2d_forward`.

    Parameters
    ----------
    dout : ndarray, shape (N, O, Ho, Wo)
        Upstream gradient, dtype of the forward input.
    cache : dict
        From :func:`conv2d_forward`.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
        No gradient flows into the constant padding border.
    dw : ndarray, shape (O, C, kh, kw)
    db : ndarray, shape (O,), or None if the forward had no bias.

    Notes
    -----
    ``dw[o, c, i, j] = sum_{n,y,x} dout[n, o, y, x] * window[n, c, y, x, i, j]``;
    each window receives ``sum_o dout[n, o, y, x] * w[o]`` back, and the
    windows overlap, so ``dx`` adds them up tap by tap.
    """
    windows, w = cache["windows"], cache["w"]
    check_dout(dout, (windows.shape[0], w.shape[0], *windows.shape[2:4]), w.dtype)
    return _conv2d_backward(dout, cache)


def _conv2d_backward(dout, cache):
    windows, w = cache["windows"], cache["w"]
    n, c, h, wd = cache["x_shape"]
    (sh, sw), (ph, pw) = cache["stride"], cache["padding"]
    _, _, ho, wo, kh, kw = windows.shape
    dw = np.tensordot(dout, windows, axes=([0, 2, 3], [0, 2, 3]))  # (O, C, kh, kw)
    dwindows = np.tensordot(dout, w, axes=([1], [0]))  # (N, Ho, Wo, C, kh, kw)
    dxp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), dtype=w.dtype)
    for i in range(kh):
        for j in range(kw):
            tap = dwindows[..., i, j].transpose(0, 3, 1, 2)  # (N, C, Ho, Wo)
            dxp[:, :, i : i + sh * ho : sh, j : j + sw * wo : sw] += tap
    dx = dxp[:, :, ph : ph + h, pw : pw + wd]
    db = dout.sum(axis=(0, 2, 3)) if cache["has_bias"] else None
    return np.ascontiguousarray(dx), dw, db


def conv2d_naive(x, w, b=None, *, stride=1, padding=0, pad_value=0.0):
    """Looped reference for :func:`conv2d_forward` (same arguments, checks).

    Returns
    -------
    out : ndarray, shape (N, O, Ho, Wo)
        Computed window by window; slow, for tests and teaching only.
    """
    (sh, sw), (ph, pw), pad_value, (ho, wo) = check_conv_args(
        x, w, b, stride=stride, padding=padding, pad_value=pad_value
    )
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.full((n, c, h + 2 * ph, wd + 2 * pw), pad_value, dtype=x.dtype)
    xp[:, :, ph : ph + h, pw : pw + wd] = x
    out = np.zeros((n, o, ho, wo), dtype=x.dtype)
    for ni in range(n):
        for oi in range(o):
            for y in range(ho):
                for xi in range(wo):
                    window = xp[ni, :, y * sh : y * sh + kh, xi * sw : xi * sw + kw]
                    out[ni, oi, y, xi] = np.sum(window * w[oi])
            if b is not None:
                out[ni, oi] += b[oi]
    return out


def _windows(x, kernel, stride, padding, pad_value):
    """Every ``kh x kw`` window of the padded input: (N, C, Ho, Wo, kh, kw), a view."""
    (ph, pw), (sh, sw) = padding, stride
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)
    return sliding_window_view(xp, tuple(kernel), axis=(2, 3))[:, :, ::sh, ::sw]
