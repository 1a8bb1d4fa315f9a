"""Convolution of +-1 tensors with xnor and popcount, exact to the last integer.

The identity
------------
Let ``a, b`` be two +-1 vectors of length ``K`` and ``a', b'`` their bits
(bit 1 = +1, bit 0 = -1, see :mod:`abcref.bitpack.pack`). A product
``a_k b_k`` is +1 where the bits agree and -1 where they differ, and the
bits differ exactly where ``a'_k XOR b'_k = 1``. With
``p = popcount(a' XOR b')`` differing positions and ``K - p`` agreeing
ones::

    dot(a, b) = (K - p) * (+1) + p * (-1) = K - 2 * popcount(a' XOR b').

(XNOR counts agreements, ``K - p``; counting XOR differences is the same
thing with one operation less.) Tail bits of the last word are 0 in both
operands, so their XOR is 0 and they add nothing to ``p``; ``K`` is the
real number of elements, never the number of bits in the words.

Written here as the identity itself: every window of the input and every
filter packed into words along ``K``, then ``K - 2 * popcount(XOR)`` per
output value. :func:`xnor_conv2d_naive` does it one output value at a
time; ``abcref.fast.xnor`` lays the words out for a blocked, threaded
popcount GEMM.

Padding
-------
A packed bit can only mean +1 or -1, so the border needs care
(conventions.md row 10):

- ``pad_value = +1`` or ``-1`` (as hardware engines pad): the border is
  packed as that sign and the formula above is exact as it stands.
- ``pad_value = 0`` (ordinary zero padding, the float training graph): a
  zero adds nothing to a dot product, so a window's border taps must not
  be counted at all. :func:`xnor_conv2d` masks them out: with ``inside``
  the bits of the taps that lie in the image, ``dot = popcount(inside) -
  2 * popcount((a XOR b) AND inside)``. The fast path instead packs the
  border as +1 and subtracts what it added, :func:`zero_padding_correction`.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from abcref._checks import check_conv_args, check_pair, check_signs, output_size
from abcref.bitpack.pack import _pack_last_axis, pack_signs

__all__ = ["xnor_conv2d", "xnor_conv2d_naive", "zero_padding_correction"]

_NAMES = ("a", "b", "bias")  # how check_conv_args names the operands


def xnor_conv2d(a: np.ndarray, b: np.ndarray, *, stride=1, padding=0, pad_value=0) -> np.ndarray:
    """Convolution (cross-correlation, as PyTorch) of +-1 tensors by xnor/popcount.

    Parameters
    ----------
    a : ndarray of shape (N, C, H, W)
        Activations, exactly +1 or -1 (float or integer dtype).
    b : ndarray of shape (O, C, kh, kw)
        Filters, exactly +1 or -1.
    stride : int or (int, int)
    padding : int or (int, int)
    pad_value : {0, 1, -1}
        Value of the border: 0 is ordinary zero padding (its taps are left
        out of the count), +-1 pads with that sign.

    Returns
    -------
    out : ndarray of int64, shape (N, O, Ho, Wo)
        Exactly the float convolution of the same +-1 arrays, with
        ``Ho = (H + 2 ph - kh) // sh + 1`` and likewise ``Wo``.

    Raises
    ------
    TypeError, ValueError
        Values other than +-1, wrong ndim, channel mismatch, non-integer
        or non-positive stride, negative padding, a kernel that does not
        fit, a pad_value other than 0 and +-1.

    Notes
    -----
    One binary convolution ``Conv(B_m, A_n)`` of eq. (12) of the paper:
    ``dot = K - 2 * popcount(a XOR b)`` with ``K = C * kh * kw``.
    """
    stride, padding, pad_value, _ = check_conv_args(
        a,
        b,
        stride=stride,
        padding=padding,
        pad_value=pad_value,
        names=_NAMES,
        signs=True,
    )
    return _xnor_conv2d(a, b, stride, padding, int(pad_value))


def _xnor_conv2d(a, b, stride, padding, pad_value):
    n, o = a.shape[0], b.shape[0]
    # Every window's K = C*kh*kw signs as bits (True = +1), packed into words;
    # the filters likewise, in the same (C, kh, kw) order.
    border_bit = pad_value >= 0  # zero padding: any bit, the mask below drops it
    windows = _windows(a > 0, b.shape[2:], stride, padding, border_bit)  # (N, Ho, Wo, K)
    patches = _pack_last_axis(windows)
    filters = _pack_last_axis((b > 0).reshape(o, -1))
    # The taps that count: all of them, or with zero padding those inside the image.
    image = np.ones((1, *a.shape[1:]), dtype=bool)
    inside = _pack_last_axis(_windows(image, b.shape[2:], stride, padding, pad_value != 0))[0]
    k_inside = np.bitwise_count(inside).sum(axis=-1, dtype=np.int64)  # (Ho, Wo)
    out = np.empty((n, o, *inside.shape[:2]), dtype=np.int64)
    for i, filter_words in enumerate(filters):
        # dot = (agreeing taps) - (differing taps) = K - 2 * popcount(a XOR b)
        differ = np.bitwise_count((patches ^ filter_words) & inside).sum(axis=-1, dtype=np.int64)
        out[:, i] = k_inside - 2 * differ
    return out


def _windows(bits, kernel, stride, padding, fill):
    """Every ``kh x kw`` window of the padded bool NCHW tensor, flattened: (N, Ho, Wo, K)."""
    (ph, pw), (sh, sw) = padding, stride
    padded = np.pad(bits, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=bool(fill))
    windows = sliding_window_view(padded, tuple(kernel), axis=(2, 3))[:, :, ::sh, ::sw]
    n, c, ho, wo, kh, kw = windows.shape
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n, ho, wo, c * kh * kw)


def xnor_conv2d_naive(a: np.ndarray, b: np.ndarray, *, stride=1, padding=0, pad_value=0):
    """Looped reference for :func:`xnor_conv2d`: one popcount per output value.

    For every output value it takes the receptive field, keeps the taps
    that lie inside the image (all taps when ``pad_value`` is +-1, the
    border then holding that sign), packs patch and filter with
    :func:`~abcref.bitpack.pack.pack_signs` and applies
    ``K - 2 * popcount(XOR)``. Slow; for tests and for reading.
    """
    stride, padding, pad_value, (ho, wo) = check_conv_args(
        a,
        b,
        stride=stride,
        padding=padding,
        pad_value=pad_value,
        names=_NAMES,
        signs=True,
    )
    pad_value = int(pad_value)
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, w = a.shape
    n_out, _, kh, kw = b.shape
    fill = 1 if pad_value == 0 else pad_value
    padded = np.pad(a.astype(np.int8), ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    inside = np.zeros((c, h + 2 * ph, w + 2 * pw), dtype=bool)
    inside[:, ph : ph + h, pw : pw + w] = True
    if pad_value != 0:
        inside[:] = True
    out = np.empty((n, n_out, ho, wo), dtype=np.int64)
    for y in range(ho):
        for x in range(wo):
            window = (slice(None), slice(y * sh, y * sh + kh), slice(x * sw, x * sw + kw))
            keep = inside[window]
            k = int(keep.sum())
            for i in range(n):
                patch_words = pack_signs(padded[i][window][keep])
                for o in range(n_out):
                    filt_words = pack_signs(b[o][keep])
                    differ = np.bitwise_count(patch_words ^ filt_words)
                    out[i, o, y, x] = k - 2 * int(differ.sum(dtype=np.int64))
    return out


def zero_padding_correction(b: np.ndarray, in_hw, *, stride=1, padding=0) -> np.ndarray:
    """What a +1-packed border adds to a zero-padded convolution.

    A packed bit cannot hold 0, so a fast engine packs the border as +1
    and subtracts the surplus. For output pixel ``(y, x)`` the +1 border
    taps added ``sum_{(i, j) padded} sum_c b[o, c, i, j] * (+1)``, so::

        conv_zero[n, o, y, x] = conv_plus1[n, o, y, x] - corr[o, y, x]
        corr[o, y, x] = sum_{i, j} wsum[o, i, j] * border[y*sh + i, x*sw + j]

    with ``wsum[o, i, j] = sum_c b[o, c, i, j]`` and ``border`` the 0/1
    mask of the padded image's border: a small integer convolution,
    independent of the batch and non-zero only near the edges. All terms
    are integers, so the result is exact.

    Parameters
    ----------
    b : ndarray of shape (O, C, kh, kw)
        +-1 filters (float or integer dtype, values exactly +1 or -1; only
        their channel sums are used).
    in_hw : (int, int)
        Unpadded input height and width.
    stride, padding : int or (int, int)

    Returns
    -------
    corr : ndarray of int64, shape (O, Ho, Wo)
        ``corr`` above; subtract it from the +1-padded convolution.
    """
    # 0 (e.g. np.sign output) would be counted as -1: accept exact signs only.
    check_signs(b, "b")
    if b.ndim != 4:
        raise ValueError(f"b must be 4-dimensional (O, C, kh, kw), got shape {b.shape}")
    stride = check_pair(stride, "stride", min_value=1)
    padding = check_pair(padding, "padding", min_value=0)
    in_hw = check_pair(tuple(in_hw), "in_hw", min_value=1)
    return _padding_correction(_channel_sums(b), in_hw, stride, padding)


def _channel_sums(b):
    """``sum_c b[o, c, i, j]`` = (#plus - #minus) over channels, in int64: exact for any C."""
    return 2 * np.count_nonzero(b > 0, axis=1).astype(np.int64) - b.shape[1]


def padding_correction_from_sums(wsum: np.ndarray, in_hw, *, stride=1, padding=0) -> np.ndarray:
    """:func:`zero_padding_correction` from channel sums ``wsum`` (O, kh, kw), int64.

    The engine keeps only these sums (not the unpacked bases) for the
    correction.
    """
    stride = check_pair(stride, "stride", min_value=1)
    padding = check_pair(padding, "padding", min_value=0)
    in_hw = check_pair(tuple(in_hw), "in_hw", min_value=1)
    return _padding_correction(wsum, in_hw, stride, padding)


def _padding_correction(wsum, in_hw, stride, padding):
    (sh, sw), (ph, pw) = stride, padding
    _, kh, kw = wsum.shape
    ho, wo = output_size(in_hw[0], kh, sh, ph), output_size(in_hw[1], kw, sw, pw)
    border = np.ones((in_hw[0] + 2 * ph, in_hw[1] + 2 * pw), dtype=np.int64)
    border[ph : ph + in_hw[0], pw : pw + in_hw[1]] = 0
    windows = np.lib.stride_tricks.sliding_window_view(border, (kh, kw))[::sh, ::sw][:ho, :wo]
    # An integer convolution done by BLAS in float64: every product and partial sum
    # is an integer of magnitude <= C*kh*kw < 2**53, so it is exact.
    corr = np.tensordot(wsum.astype(np.float64), windows.astype(np.float64), ([1, 2], [2, 3]))
    return corr.astype(np.int64)  # (O, Ho, Wo)
