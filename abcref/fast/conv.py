"""2-D convolution (cross-correlation, as in PyTorch): the fast path.

The fast path is im2col + one matrix product: the padded input is laid
out as ``(C, N, Hp, Wp)`` so that each of the ``kh * kw`` kernel offsets
fills one block of a ``(C*kh*kw, N*Ho*Wo)`` column matrix with a single
strided slice copy; then ``out = W.reshape(O, -1) @ cols``. Backward reuses
the columns for ``dW`` and scatters ``dcols`` back with ``kh * kw`` strided
slice additions (col2im). Column buffers are recycled between calls
(a fresh 50 MB matrix per call costs milliseconds in page faults).
``abcref.ops.conv`` is the reference this is tested against.
"""

from __future__ import annotations

import threading

import numpy as np

from abcref._checks import output_size

__all__ = ["conv2d_forward", "conv2d_backward", "clear_conv_workspace"]


class _ColumnPool:
    """Recycles column buffers between a forward and the next forward.

    A fresh 50 MB column matrix per call costs several milliseconds in page
    faults. A buffer is owned by exactly one cache from ``take`` (forward)
    until ``give`` (end of that cache's backward, which also detaches it
    from the cache), so no live cache ever shares a buffer with another.
    """

    def __init__(self, max_bytes: int = 256 * 2**20) -> None:
        self._free: list[np.ndarray] = []
        # reentrant: a dropped cache may give its buffer back from inside
        # take/give if the garbage collector happens to run there
        self._lock = threading.RLock()
        self.max_bytes = max_bytes

    def take(self, shape: tuple, dtype: np.dtype) -> np.ndarray:
        with self._lock:
            for buf in self._free:
                if buf.shape == shape and buf.dtype == dtype:
                    # remove by identity, not index: a buffer given back by the
                    # garbage collector meanwhile may have shifted the list
                    self._free[:] = [b for b in self._free if b is not buf]
                    return buf
        return np.empty(shape, dtype=dtype)

    def give(self, buf: np.ndarray) -> None:
        with self._lock:
            if any(b is buf for b in self._free):
                return
            self._free.append(buf)
            while sum(b.nbytes for b in self._free) > self.max_bytes:
                self._free.pop(0)

    def clear(self) -> None:
        with self._lock:
            self._free.clear()


_POOL = _ColumnPool()


class _Columns:
    """Holds a cache's column buffer; shared by shallow copies of the cache.

    Backward empties the holder before giving the buffer back to the pool,
    so every copy of the cache sees that the buffer is gone. A cache that
    is dropped without a backward (inference) gives its buffer back when
    the holder is freed: a non-empty holder is the buffer's only owner.
    """

    def __init__(self, array: np.ndarray) -> None:
        self.array: np.ndarray | None = array

    def __del__(self) -> None:
        if self.array is not None:
            _POOL.give(self.array)
            self.array = None


def clear_conv_workspace() -> None:
    """Release the column buffers that :func:`conv2d_forward` keeps for reuse."""
    _POOL.clear()


def _pad_channels_first(x, padding, pad_value):
    """Return the input as ``(C, N, Hp, Wp)`` with a constant border."""
    n, c, h, w = x.shape
    ph, pw = padding
    xp = np.empty((c, n, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    if ph or pw:
        xp.fill(pad_value)
    xp[:, :, ph : ph + h, pw : pw + w] = x.transpose(1, 0, 2, 3)
    return xp


def _im2col(xp, kernel, stride, out_hw, cols):
    """Fill ``cols`` (C, kh, kw, N, Ho, Wo) from ``xp`` (C, N, Hp, Wp)."""
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out_hw
    for i in range(kh):
        for j in range(kw):
            cols[:, i, j] = xp[:, :, i : i + sh * ho : sh, j : j + sw * wo : sw]
    return cols


def conv2d_forward(x, w, b=None, *, stride=(1, 1), padding=(0, 0), pad_value=0.0):
    """:func:`abcref.ops.conv2d_forward`, by im2col into a recycled buffer.

    Arguments are trusted (checked by the caller): ``x`` (N, C, H, W) and
    ``w`` (O, C, kh, kw) of one float dtype, ``b`` (O,) or None, ``stride``
    and ``padding`` as pairs of ints.

    Returns
    -------
    out : ndarray, shape (N, O, Ho, Wo)
    cache : dict
        ``"xp"`` the padded input as (C, N, Hp, Wp); ``"cols"`` a holder of
        the column matrix (C, kh, kw, N, Ho, Wo), released by backward;
        ``"w"``, ``"has_bias"``, ``"x_shape"``, ``"stride"``, ``"padding"``.
    """
    dtype = x.dtype
    n = x.shape[0]
    o, c, kh, kw = w.shape
    ho = output_size(x.shape[2], kh, stride[0], padding[0])
    wo = output_size(x.shape[3], kw, stride[1], padding[1])
    xp = _pad_channels_first(x, padding, pad_value)
    cols = _POOL.take((c, kh, kw, n, ho, wo), dtype)
    _im2col(xp, (kh, kw), stride, (ho, wo), cols)
    out2d = w.reshape(o, -1) @ cols.reshape(c * kh * kw, -1)
    # (O, N, Ho, Wo) -> (N, O, Ho, Wo), contiguous for the next layer.
    out = np.ascontiguousarray(out2d.reshape(o, n, ho, wo).transpose(1, 0, 2, 3))
    if b is not None:
        out += b.reshape(1, o, 1, 1)
    cache = {
        "xp": xp,
        "cols": _Columns(cols),
        "w": w,
        "has_bias": b is not None,
        "x_shape": x.shape,
        "stride": stride,
        "padding": padding,
    }
    return out, cache


def conv2d_backward(dout, cache):
    """Gradients of :func:`conv2d_forward` (``dout`` trusted: (N, O, Ho, Wo), its dtype).

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
    ``dW = dout2 @ cols.T`` and ``dcols = W2.T @ dout2`` with
    ``dout2 = dout`` as (O, N*Ho*Wo); ``dcols`` is written into the
    column buffer (no longer needed after ``dW``) and scattered back by
    ``kh * kw`` strided additions. The buffer is then returned to the
    workspace; calling backward again on the same cache rebuilds it.
    """
    w, xp = cache["w"], cache["xp"]
    o, c, kh, kw = w.shape
    n, _, h, wd = cache["x_shape"]
    (sh, sw), (ph, pw) = cache["stride"], cache["padding"]
    ho = output_size(h, kh, sh, ph)
    wo = output_size(wd, kw, sw, pw)

    cols, cache["cols"].array = cache["cols"].array, None
    if cols is None:  # backward already ran on this cache: rebuild the columns
        cols = _POOL.take((c, kh, kw, n, ho, wo), xp.dtype)
        _im2col(xp, (kh, kw), (sh, sw), (ho, wo), cols)
    cols2d = cols.reshape(c * kh * kw, -1)

    dout2 = np.ascontiguousarray(dout.transpose(1, 0, 2, 3)).reshape(o, -1)
    db = dout.sum(axis=(0, 2, 3)) if cache["has_bias"] else None
    # cols2d @ dout2.T, not dout2 @ cols2d.T: same product, but OpenBLAS
    # threads the latter shape (tiny M and N, huge K) up to 20x slower
    # on 2 busy cores.
    dw = np.ascontiguousarray((cols2d @ dout2.T).T).reshape(w.shape)
    np.matmul(w.reshape(o, -1).T, dout2, out=cols2d)  # cols now holds dcols

    dx = _col2im(cols, xp.shape, (kh, kw), (sh, sw), (ho, wo), (ph, pw), (h, wd))
    _POOL.give(cols)
    return dx, dw, db


#: Output rows shorter than this are scattered channels-last (see _col2im).
_SHORT_ROWS = 12


def _col2im(cols, padded_shape, kernel, stride, out_hw, padding, in_hw):
    """Sum the column matrix (C, kh, kw, N, Ho, Wo) back into dx (N, C, H, W).

    Each padded pixel starts at zero and adds its taps in row-major order.
    With short output rows (the 7x7 maps of a small CNN) NumPy's inner
    loop over ``Wo`` elements costs more than the additions, so the sums
    run channels-last instead (inner loop over C): the same additions in
    the same order, the same bits, about twice as fast there. Long rows
    keep the channels-first layout, whose inner loop is already long.
    """
    (kh, kw), (sh, sw), (ho, wo), (ph, pw), (h, wd) = kernel, stride, out_hw, padding, in_hw
    c, n, hp, wp = padded_shape
    channels_last = wo < _SHORT_ROWS
    dxp = np.zeros((n, hp, wp, c) if channels_last else padded_shape, dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            rows, columns = slice(i, i + sh * ho, sh), slice(j, j + sw * wo, sw)
            if channels_last:
                dxp[:, rows, columns] += cols[:, i, j].transpose(1, 2, 3, 0)
            else:
                dxp[:, :, rows, columns] += cols[:, i, j]
    if channels_last:
        return np.ascontiguousarray(dxp[:, ph : ph + h, pw : pw + wd].transpose(0, 3, 1, 2))
    return np.ascontiguousarray(dxp[:, :, ph : ph + h, pw : pw + wd].transpose(1, 0, 2, 3))
