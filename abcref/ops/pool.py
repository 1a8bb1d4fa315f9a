"""Pooling: max, average (square or rectangular windows, no padding), global average.

Output size along each axis: ``Ho = (H - kh) // sh + 1`` (windows that
would run past the border are dropped, as in PyTorch with padding 0 and
``ceil_mode=False``). The stride defaults to the kernel size.
"""

from __future__ import annotations

import numpy as np

from abcref._checks import check_array, check_dout, check_kernel_fits, check_pair, output_size

__all__ = [
    "maxpool2d_forward",
    "maxpool2d_backward",
    "maxpool2d_naive",
    "avgpool2d_forward",
    "avgpool2d_backward",
    "avgpool2d_naive",
    "global_avgpool_forward",
    "global_avgpool_backward",
]


def _pool_args(x, kernel, stride):
    check_array(x, "x", ndim=4)
    kernel = check_pair(kernel, "kernel", min_value=1)
    stride = kernel if stride is None else check_pair(stride, "stride", min_value=1)
    check_kernel_fits(x.shape[2:], kernel, "input")
    ho = output_size(x.shape[2], kernel[0], stride[0], 0)
    wo = output_size(x.shape[3], kernel[1], stride[1], 0)
    return kernel, stride, (ho, wo)


def _window(a, i, j, stride, out_hw):
    """View of the elements at offset (i, j) of every window."""
    (sh, sw), (ho, wo) = stride, out_hw
    return a[:, :, i : i + sh * ho : sh, j : j + sw * wo : sw]


def maxpool2d_forward(x, *, kernel, stride=None):
    """Max pooling.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64
    kernel : int or (int, int)
        Window size ``(kh, kw)``.
    stride : int or (int, int), optional
        Defaults to ``kernel``.

    Returns
    -------
    out : ndarray, shape (N, C, Ho, Wo)
        ``Ho = (H - kh) // sh + 1``, ``Wo = (W - kw) // sw + 1``.
    cache : dict
        ``"argmax"``: int array (N, C, Ho, Wo), flat index ``i * kw + j``
        of the winner inside its window; ``"x_shape"``, ``"kernel"``,
        ``"stride"``, ``"dtype"``.

    Notes
    -----
    Ties: the gradient goes to the **first** maximum in row-major window
    order, as PyTorch's CPU kernel does. Overlapping windows
    (stride < kernel) accumulate their gradients.
    """
    (kh, kw), stride, out_hw = _pool_args(x, kernel, stride)
    n, c = x.shape[:2]
    windows = np.empty((kh * kw, n, c) + out_hw, dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            windows[i * kw + j] = _window(x, i, j, stride, out_hw)
    argmax = windows.argmax(axis=0)  # first occurrence on ties
    out = np.take_along_axis(windows, argmax[None], axis=0)[0]
    cache = {"argmax": argmax, "x_shape": x.shape, "kernel": (kh, kw), "stride": stride}
    cache["dtype"] = x.dtype
    return out, cache


def maxpool2d_backward(dout, cache):
    """Gradient of :func:`maxpool2d_forward`; returns ``dx`` (N, C, H, W)."""
    argmax, (kh, kw), stride = cache["argmax"], cache["kernel"], cache["stride"]
    check_dout(dout, argmax.shape, cache["dtype"])
    dx = np.zeros(cache["x_shape"], dtype=dout.dtype)
    for i in range(kh):
        for j in range(kw):
            _window(dx, i, j, stride, argmax.shape[2:])[...] += dout * (argmax == i * kw + j)
    return dx


def maxpool2d_naive(x, *, kernel, stride=None):
    """Looped reference for :func:`maxpool2d_forward`; returns ``(out, argmax)``."""
    (kh, kw), (sh, sw), (ho, wo) = _pool_args(x, kernel, stride)
    n, c = x.shape[:2]
    out = np.empty((n, c, ho, wo), dtype=x.dtype)
    argmax = np.empty((n, c, ho, wo), dtype=np.intp)
    for ni in range(n):
        for ci in range(c):
            for y in range(ho):
                for xi in range(wo):
                    best, where = None, 0
                    for i in range(kh):
                        for j in range(kw):
                            v = x[ni, ci, y * sh + i, xi * sw + j]
                            if best is None or v > best:  # strict: first max wins
                                best, where = v, i * kw + j
                    out[ni, ci, y, xi], argmax[ni, ci, y, xi] = best, where
    return out, argmax


def avgpool2d_forward(x, *, kernel, stride=None):
    """Average pooling over ``kh x kw`` windows (no padding).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64
    kernel : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel``.

    Returns
    -------
    out : ndarray, shape (N, C, Ho, Wo)
        ``Ho = (H - kh) // sh + 1``, ``Wo = (W - kw) // sw + 1``.
    cache : dict
        ``"x_shape"``, ``"kernel"``, ``"stride"``, ``"out_hw"``, ``"dtype"``.
    """
    (kh, kw), stride, out_hw = _pool_args(x, kernel, stride)
    out = np.zeros(x.shape[:2] + out_hw, dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            out += _window(x, i, j, stride, out_hw)
    out /= kh * kw
    cache = {"x_shape": x.shape, "kernel": (kh, kw), "stride": stride, "out_hw": out_hw}
    cache["dtype"] = x.dtype
    return out, cache


def avgpool2d_backward(dout, cache):
    """Gradient of :func:`avgpool2d_forward`; returns ``dx`` (N, C, H, W)."""
    (kh, kw), stride, out_hw = cache["kernel"], cache["stride"], cache["out_hw"]
    check_dout(dout, cache["x_shape"][:2] + out_hw, cache["dtype"])
    dx = np.zeros(cache["x_shape"], dtype=dout.dtype)
    share = dout / dout.dtype.type(kh * kw)
    for i in range(kh):
        for j in range(kw):
            _window(dx, i, j, stride, out_hw)[...] += share
    return dx


def avgpool2d_naive(x, *, kernel, stride=None):
    """Looped reference for :func:`avgpool2d_forward`; returns ``out``."""
    (kh, kw), (sh, sw), (ho, wo) = _pool_args(x, kernel, stride)
    out = np.empty(x.shape[:2] + (ho, wo), dtype=x.dtype)
    for y in range(ho):
        for xi in range(wo):
            out[:, :, y, xi] = x[:, :, y * sh : y * sh + kh, xi * sw : xi * sw + kw].mean(
                axis=(2, 3)
            )
    return out


def global_avgpool_forward(x):
    """Mean over the spatial axes.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64

    Returns
    -------
    out : ndarray, shape (N, C)
    cache : dict
        ``"x_shape"``, ``"dtype"``.
    """
    check_array(x, "x", ndim=4)
    return x.mean(axis=(2, 3)), {"x_shape": x.shape, "dtype": x.dtype}


def global_avgpool_backward(dout, cache):
    """Gradient of :func:`global_avgpool_forward`; returns ``dx`` (N, C, H, W)."""
    n, c, h, w = cache["x_shape"]
    check_dout(dout, (n, c), cache["dtype"])
    dx = np.empty((n, c, h, w), dtype=dout.dtype)
    dx[...] = (dout / dout.dtype.type(h * w))[:, :, None, None]
    return dx
