"""2-D convolution with stride 1 as one BLAS GEMM per kernel tap (no im2col).

Layout: the padded input is stored channels-last and flattened,
``X (P, C)`` with ``P = N * Hp * Wp`` rows, one per padded pixel. For
stride 1 the output pixel at padded position ``p`` reads ``X[p + s]`` for
the tap ``(i, j)`` at offset ``s = i * Wp + j``, so the convolution is

    Y[p] = sum over taps of  X[p + s_ij] @ W_ij.T      (W_ij = W[:, :, i, j])

for every ``p < L = P - s_last``: ``kh * kw`` GEMMs of contiguous shifted
row blocks of ``X``, accumulated by the GEMM itself (``beta = 1``,
SciPy's BLAS wrapper writing into ``Y`` in place). No column matrix is
built, and no col2im scatter is needed in backward. ``Y`` is computed
at every padded position; the rows at the padding (about ``1 - Ho Wo /
(Hp Wp)`` of them, 15% at 28x28 with padding 1) are discarded.

Backward, with ``dY (P, O)`` holding ``dout`` at the valid positions and
zeros elsewhere:

- ``dW_ij = dY[:L].T @ X[s_ij : s_ij + L]`` (the zeros drop the rest);
- ``dX[s_ij : s_ij + L] += dY[:L] @ W_ij``: the full correlation with the
  flipped kernel, again as GEMMs accumulating in place.

The sums run in another order than :mod:`abcref.fast.conv` (tap by tap,
``C`` terms at a time, instead of one ``C * kh * kw`` dot product), so the
results agree to rounding, not bitwise. Each output element's order is
fixed by the tap loop and does not depend on the BLAS thread count (BLAS
splits the rows and columns of a product among its threads, not the
reduction). ``abcref.ops.conv`` is the reference this is tested against.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg.blas import get_blas_funcs

__all__ = ["taps_conv2d_forward", "taps_conv2d_backward"]


def _gemm(dtype):
    return get_blas_funcs("gemm", dtype=dtype)


def _taps(w):
    """Offsets ``(i, j)`` of the kernel in row-major order."""
    kh, kw = w.shape[2:]
    return [(i, j) for i in range(kh) for j in range(kw)]


def taps_conv2d_forward(x, w, b=None, *, padding=(0, 0), pad_value=0.0):
    """Stride-1 conv2d as one GEMM per tap; ``(out, cache)`` as :mod:`abcref.fast.conv`.

    Arguments are trusted: ``x`` (N, C, H, W) and ``w`` (O, C, kh, kw) of
    one float dtype (float32 or float64), ``b`` (O,) or None, ``padding``
    a pair of ints.

    Returns
    -------
    out : ndarray, shape (N, O, Ho, Wo)
    cache : dict
        ``"X"`` the padded input, channels last, as (P, C); ``"w"``,
        ``"has_bias"``, ``"x_shape"``, ``"padding"``.
    """
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    ph, pw = padding
    hp, wp = h + 2 * ph, wd + 2 * pw
    ho, wo = hp - kh + 1, wp - kw + 1
    X = np.empty((n, hp, wp, c), dtype=x.dtype)
    if ph or pw:
        X.fill(pad_value)
    X[:, ph : ph + h, pw : pw + wd] = x.transpose(0, 2, 3, 1)
    X = X.reshape(-1, c)
    rows = X.shape[0] - ((kh - 1) * wp + kw - 1)
    gemm = _gemm(x.dtype)
    Y = np.empty((X.shape[0], o), dtype=x.dtype)
    # In BLAS's column-major view, Y[:rows] is (O, rows) and X[s:s+rows]
    # is (C, rows): both are passed without a copy.
    Yt = Y[:rows].T
    for t, (i, j) in enumerate(_taps(w)):
        s = i * wp + j
        w_ij = np.asfortranarray(w[:, :, i, j])
        gemm(1.0, w_ij, X[s : s + rows].T, beta=float(t > 0), c=Yt, overwrite_c=1)
    out = Y.reshape(n, hp, wp, o)[:, :ho, :wo].transpose(0, 3, 1, 2)
    out = np.ascontiguousarray(out)
    if b is not None:
        out += b.reshape(1, o, 1, 1)
    cache = {"X": X, "w": w, "has_bias": b is not None, "x_shape": x.shape, "padding": padding}
    return out, cache


def taps_conv2d_backward(dout, cache):
    """Gradients ``(dx, dw, db)`` of :func:`taps_conv2d_forward` (``dout`` trusted).

    ``dout`` (N, O, Ho, Wo) of the forward's dtype; ``db`` is None if the
    forward had no bias. No gradient flows into the constant padding.
    """
    X, w = cache["X"], cache["w"]
    n, c, h, wd = cache["x_shape"]
    ph, pw = cache["padding"]
    o, _, kh, kw = w.shape
    hp, wp = h + 2 * ph, wd + 2 * pw
    ho, wo = hp - kh + 1, wp - kw + 1
    rows = X.shape[0] - ((kh - 1) * wp + kw - 1)
    dtype = X.dtype
    gemm = _gemm(dtype)

    dY = np.zeros((n, hp, wp, o), dtype=dtype)
    dY[:, :ho, :wo] = dout.transpose(0, 2, 3, 1)
    dY = dY.reshape(-1, o)[:rows]
    db = dout.sum(axis=(0, 2, 3)) if cache["has_bias"] else None

    dw = np.empty_like(w)
    dX = np.empty_like(X)
    dX[rows:] = 0  # the first tap (offset 0) writes rows [0, rows)
    for t, (i, j) in enumerate(_taps(w)):
        s = i * wp + j
        dw[:, :, i, j] = dY.T @ X[s : s + rows]
        # dX[s:s+rows] += dY @ W_ij, column-major: (C, rows) += W_ij.T @ dY.T
        w_ij_t = np.ascontiguousarray(w[:, :, i, j]).T
        gemm(1.0, w_ij_t, dY.T, beta=float(t > 0), c=dX[s : s + rows].T, overwrite_c=1)
    dx = dX.reshape(n, hp, wp, c)[:, ph : ph + h, pw : pw + wd].transpose(0, 3, 1, 2)
    return np.ascontiguousarray(dx), dw, db
