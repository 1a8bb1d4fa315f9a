"""Max pooling by a running maximum over the window offsets.

The fast twin of :func:`abcref.ops.maxpool2d_forward` / ``_backward``:
instead of stacking every window offset into a ``(kh*kw, N, C, Ho, Wo)``
array and taking ``argmax`` and ``take_along_axis`` over it, the
maximum runs offset by offset over strided views of the input, and the
winner's offset is kept in a small integer array. A later offset
replaces the maximum only when it is strictly greater, so ties go to the
first maximum in row-major window order, exactly as in the reference
(tests check bitwise equality of the output and the gradient). Arguments
are trusted: ``x`` a finite float (N, C, H, W) array whose spatial size
fits the kernel, ``kernel`` and ``stride`` pairs.
"""

from __future__ import annotations

import numpy as np

from abcref._checks import output_size


def _window(a, i, j, stride, out_hw):
    """View of the elements at offset (i, j) of every window."""
    (sh, sw), (ho, wo) = stride, out_hw
    return a[:, :, i : i + sh * ho : sh, j : j + sw * wo : sw]


def maxpool2d_forward(x, *, kernel, stride):
    """:func:`abcref.ops.maxpool2d_forward` by a running maximum.

    Returns
    -------
    out : ndarray, shape (N, C, Ho, Wo)
    cache : dict
        ``"argmax"``: uint8 (int64 for windows over 255 elements) array
        (N, C, Ho, Wo), the flat offset ``i * kw + j`` of each window's
        first maximum; ``"x_shape"``, ``"kernel"``, ``"stride"``.
    """
    kh, kw = kernel
    out_hw = (output_size(x.shape[2], kh, stride[0], 0), output_size(x.shape[3], kw, stride[1], 0))
    # Select by bit masks on the float's bits: exact (a -0.0 tie keeps the
    # first zero, as the reference) and several times faster than
    # np.where or a masked copy, which branch per element.
    bits = x.view(np.uint32 if x.itemsize == 4 else np.uint64)
    out = np.array(_window(x, 0, 0, stride, out_hw))
    out_bits = out.view(bits.dtype)
    argmax = np.zeros(out.shape, dtype=np.uint8 if kh * kw <= 255 else np.int64)
    better = np.empty(out.shape, dtype=bool)
    mask = np.empty(out.shape, dtype=bits.dtype)
    for k in range(1, kh * kw):
        i, j = divmod(k, kw)
        # strict: a tie keeps the first maximum
        np.greater(_window(x, i, j, stride, out_hw), out, out=better)
        np.negative(better, out=mask, dtype=mask.dtype, casting="unsafe")  # all ones where better
        # out ^= (out ^ candidate) & mask: the candidate's bits where better
        flip = np.bitwise_xor(out_bits, _window(bits, i, j, stride, out_hw))
        flip &= mask
        out_bits ^= flip
        # argmax += better * (k - argmax), exact in the unsigned wrap-around
        argmax += better * (argmax.dtype.type(k) - argmax)
    cache = {"argmax": argmax, "x_shape": x.shape, "kernel": kernel, "stride": stride}
    return out, cache


def maxpool2d_backward(dout, cache):
    """Gradient of :func:`maxpool2d_forward` (``dout`` trusted); returns ``dx``.

    The reference's own sum, in the same order: ``dx`` starts at zero and
    each window offset adds ``dout`` where it won.
    """
    argmax, (kh, kw), stride = cache["argmax"], cache["kernel"], cache["stride"]
    out_hw = argmax.shape[2:]
    dx = np.zeros(cache["x_shape"], dtype=dout.dtype)
    for k in range(kh * kw):
        _window(dx, k // kw, k % kw, stride, out_hw)[...] += dout * (argmax == k)
    return dx
