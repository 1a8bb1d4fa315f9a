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

Layout of the packed convolution
--------------------------------
The reduction axis of a convolution is ``K = C * kh * kw``. The input is
packed **along channels** once, ``(N, C, Hp, Wp) -> (N, Hp, Wp, Wc)``
with ``Wc = ceil(C / 64)`` words per pixel, and the weights likewise,
``(O, C, kh, kw) -> (O, kh, kw, Wc)``. An output pixel's patch is then
the ``kh * kw * Wc`` words of its receptive field, gathered tap by tap
(an im2col of words, 64x smaller than an im2col of floats). Each tap's
last word has ``64 * Wc - C`` zero tail bits in both operands, so the
count stays exact for any C (1, 7, 63, 65, 130, ...); small C wastes
bits, not correctness.

The kernel loops over the ``kh * kw * Wc`` words; each step computes
``xor -> bitwise_count -> accumulate`` on a cache-sized block of (all
filters) x (output pixels), pixels innermost: long inner loops avoid
NumPy's per-loop overhead on broadcast operands (broadcasting all words
at once is several times slower). Counts are accumulated in ``uint16``
while ``K < 2**16`` and in ``uint32`` beyond (``np.bitwise_count``
returns ``uint8``: it is widened by the accumulating add, never summed
in ``uint8``); each finished block is written as ``K - 2 * count`` in
int64 straight into the NCHW output. Blocks run on a thread pool: the
ufuncs release the GIL.

Padding
-------
A packed bit can only mean +1 or -1, so the border needs care
(conventions.md row 10):

- ``pad_value = +1`` or ``-1`` (as hardware engines pad): the border is
  packed as that sign and the formula above is exact as it stands.
- ``pad_value = 0`` (ordinary zero padding, the float training graph):
  the border is packed as +1 and the surplus is subtracted. For output
  pixel ``(y, x)`` the +1 border taps added
  ``sum_{(i, j) padded} sum_c w[o, c, i, j] * (+1)``, where a tap
  ``(i, j)`` is padded when input pixel ``(y*sh + i, x*sw + j)`` of the
  padded image lies on the border. So::

      conv_zero[n, o, y, x] = conv_plus1[n, o, y, x] - corr[o, y, x]
      corr[o, y, x] = sum_{i, j} wsum[o, i, j] * border[y*sh + i, x*sw + j]

  with ``wsum[o, i, j] = sum_c w[o, c, i, j]`` and ``border`` the 0/1
  mask of the padded image's border: a small integer convolution,
  independent of the batch and non-zero only near the edges (only those
  output pixels are touched). All terms are integers, so the result is
  exact.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from abcref._checks import check_int, check_pair, check_real
from abcref.bitpack.pack import _pack_last_axis, check_signs, pack_signs

#: Filters times output pixels per block: 2**16 uint64 temporaries = 512 KiB
#: (measured flat between 2**15 and 2**17 on the benchmark layer).
_BLOCK_ELEMENTS = 1 << 16


def _check_conv_args(a, b, stride, padding, pad_value):
    check_signs(a, "a")
    check_signs(b, "b")
    if a.ndim != 4:
        raise ValueError(f"a must be 4-dimensional (N, C, H, W), got shape {a.shape}")
    if b.ndim != 4:
        raise ValueError(f"b must be 4-dimensional (O, C, kh, kw), got shape {b.shape}")
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"a has {a.shape[1]} channels but b expects {b.shape[1]} "
            f"(a shape {a.shape}, b shape {b.shape})"
        )
    stride = check_pair(stride, "stride", min_value=1)
    padding = check_pair(padding, "padding", min_value=0)
    pad_value = check_real(pad_value, "pad_value")
    if pad_value not in (0.0, 1.0, -1.0):
        raise ValueError(f"pad_value must be 0, +1 or -1, got {pad_value}")
    out_hw = conv_output_size(a.shape[2:], b.shape[2:], stride, padding)
    return stride, padding, int(pad_value), out_hw


def conv_output_size(in_hw, kernel_hw, stride, padding) -> tuple[int, int]:
    """Output (Ho, Wo) = ((H + 2 ph - kh) // sh + 1, (W + 2 pw - kw) // sw + 1).

    Raises
    ------
    ValueError
        If the kernel does not fit in the padded input.
    """
    out = []
    for size, k, s, p, axis in zip(
        in_hw, kernel_hw, stride, padding, ("height", "width"), strict=True
    ):
        if size + 2 * p < k:
            raise ValueError(
                f"kernel {axis} {k} does not fit in padded input {axis} {size} + 2*{p}"
            )
        out.append((size + 2 * p - k) // s + 1)
    return out[0], out[1]


def pack_conv_input(a: np.ndarray, *, padding=0, pad_value: int = 0) -> np.ndarray:
    """Pad a +-1 NCHW tensor and pack it along channels.

    Parameters
    ----------
    a : ndarray of shape (N, C, H, W)
        Values exactly +1 or -1.
    padding : int or (int, int)
        Border width (ph, pw).
    pad_value : {0, 1, -1}
        0 and +1 both pack the border as +1 (bit 1); for 0 the caller
        subtracts :func:`zero_padding_correction`. -1 packs bit 0.

    Returns
    -------
    words : ndarray of uint64, shape (N, H + 2 ph, W + 2 pw, ceil(C / 64))
    """
    check_signs(a, "a")
    padding = check_pair(padding, "padding", min_value=0)
    if check_real(pad_value, "pad_value") not in (0.0, 1.0, -1.0):
        raise ValueError(f"pad_value must be 0, +1 or -1, got {pad_value}")
    return pack_bits_nchw(a > 0, padding=padding, fill_bit=pad_value >= 0)


def pack_bits_nchw(bits: np.ndarray, *, padding=(0, 0), fill_bit: bool = True) -> np.ndarray:
    """Pad a bool NCHW tensor (True = +1) with ``fill_bit`` and pack it along channels.

    The engine's entry point: its comparators produce bits directly.
    Returns uint64 words of shape (N, H + 2 ph, W + 2 pw, ceil(C / 64)).
    """
    ph, pw = padding
    bits = np.transpose(bits, (0, 2, 3, 1))
    if ph or pw:
        bits = np.pad(bits, ((0, 0), (ph, ph), (pw, pw), (0, 0)), constant_values=bool(fill_bit))
    return _pack_last_axis(bits)


def pack_conv_weights(b: np.ndarray) -> np.ndarray:
    """Pack +-1 OIHW filters along channels: (O, C, kh, kw) -> (O, kh, kw, Wc) uint64."""
    check_signs(b, "b")
    return pack_signs(np.transpose(b, (0, 2, 3, 1)), axis=-1)


def zero_padding_correction(b: np.ndarray, in_hw, *, stride=1, padding=0) -> np.ndarray:
    """What the +1-packed border adds to a zero-padded convolution.

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
        ``sum_{i,j} wsum[o,i,j] * border[y*sh+i, x*sw+j]`` (module
        docstring); subtract it from the +1-padded convolution.
    """
    # 0 (e.g. np.sign output) would be counted as -1: accept exact signs only.
    check_signs(b, "b")
    if b.ndim != 4:
        raise ValueError(f"b must be 4-dimensional (O, C, kh, kw), got shape {b.shape}")
    # wsum = (#plus - #minus) over channels, counted in int64: exact for any dtype and C.
    wsum = 2 * np.count_nonzero(b > 0, axis=1).astype(np.int64) - b.shape[1]
    return padding_correction_from_sums(wsum, in_hw, stride=stride, padding=padding)


def padding_correction_from_sums(wsum: np.ndarray, in_hw, *, stride=1, padding=0) -> np.ndarray:
    """:func:`zero_padding_correction` from channel sums ``wsum`` (O, kh, kw), int64.

    The engine keeps only these sums (not the unpacked bases) for the
    correction.
    """
    sh, sw = check_pair(stride, "stride", min_value=1)
    ph, pw = check_pair(padding, "padding", min_value=0)
    in_hw = check_pair(tuple(in_hw), "in_hw", min_value=1)
    _, kh, kw = wsum.shape
    ho, wo = conv_output_size(in_hw, (kh, kw), (sh, sw), (ph, pw))
    border = np.ones((in_hw[0] + 2 * ph, in_hw[1] + 2 * pw), dtype=np.int64)
    border[ph : ph + in_hw[0], pw : pw + in_hw[1]] = 0
    windows = np.lib.stride_tricks.sliding_window_view(border, (kh, kw))[::sh, ::sw][:ho, :wo]
    # An integer convolution done by BLAS in float64: every product and partial sum
    # is an integer of magnitude <= C*kh*kw < 2**53, so it is exact.
    corr = np.tensordot(wsum.astype(np.float64), windows.astype(np.float64), ([1, 2], [2, 3]))
    return corr.astype(np.int64)  # (O, Ho, Wo)


def _gather_patch_words(a_words, kernel_hw, stride, out_hw):
    """im2col of words: (N, Hp, Wp, Wc) -> (kh*kw*Wc, N*Ho*Wo), contiguous rows per word."""
    n, _, _, wc = a_words.shape
    kh, kw = kernel_hw
    sh, sw = stride
    ho, wo = out_hw
    cols = np.empty((kh, kw, wc, n, ho, wo), dtype=np.uint64)
    for i in range(kh):
        for j in range(kw):
            tap = a_words[:, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw, :]
            cols[i, j] = np.moveaxis(tap, -1, 0)
    return cols.reshape(kh * kw * wc, n * ho * wo)


def _popcount_block(cols, filt, out, n0, n1, p0, p1, acc_dtype, dot_length):
    """Counts for images n0:n1, pixels p0:p1, written into out (N, O, P).

    ``count[o, r] = sum_k popcount(filt[k, o] ^ cols[k, r])`` over the
    block's rows ``r = n * P + p``; with ``dot_length`` K it writes
    ``K - 2 * count`` (the +-1 dot product) while the block is in cache.
    """
    n_pix = out.shape[2]
    r0, r1 = n0 * n_pix + p0, (n1 - 1) * n_pix + p1
    shape = (filt.shape[1], r1 - r0)
    xor = np.empty(shape, dtype=np.uint64)
    count = np.empty(shape, dtype=np.uint8)
    acc = np.zeros(shape, dtype=acc_dtype)
    for k in range(cols.shape[0]):
        # Rows innermost: long inner loops, where NumPy's broadcasting overhead vanishes.
        np.bitwise_xor(filt[k, :, None], cols[k, None, r0:r1], out=xor)
        np.bitwise_count(xor, out=count)
        np.add(acc, count, out=acc)  # widening add: count is uint8
    block = acc.reshape(shape[0], n1 - n0, p1 - p0).transpose(1, 0, 2)  # (images, O, pixels)
    target = out[n0:n1, :, p0:p1]
    if dot_length is None:
        target[...] = block
    else:
        np.multiply(block, -2, out=target, dtype=np.int64)
        target += dot_length


def _blocks(n_images: int, n_pix: int, rows_per_block: int):
    """(n0, n1, p0, p1) blocks of about rows_per_block rows, never splitting
    an image across blocks unless one image alone is larger than a block."""
    if n_pix >= rows_per_block:
        return [
            (n, n + 1, p0, min(n_pix, p0 + rows_per_block))
            for n in range(n_images)
            for p0 in range(0, n_pix, rows_per_block)
        ]
    per = max(1, rows_per_block // n_pix)
    return [(n0, min(n_images, n0 + per), 0, n_pix) for n0 in range(0, n_images, per)]


def popcount_xor_matmul(
    cols: np.ndarray,
    filt: np.ndarray,
    *,
    num_threads=None,
    dot_length=None,
    n_images: int = 1,
) -> np.ndarray:
    """Mismatch counts of every filter against every row (the popcount GEMM).

    Parameters
    ----------
    cols : ndarray of uint64, shape (Kw, R)
        Word ``k`` of row ``r`` at ``cols[k, r]``; rows ordered
        ``r = n * P + p`` for ``n_images`` images of ``P = R / n_images``
        pixels.
    filt : ndarray of uint64, shape (Kw, O)
    num_threads : int, optional
        Threads for blocks of rows (default: ``os.cpu_count()``).
    dot_length : int, optional
        If given (K), return the +-1 dot products ``K - 2 * count``.
    n_images : int
        Lay the result out per image (the NCHW order of a convolution).

    Returns
    -------
    p : ndarray of int64, shape (n_images, O, P)
        ``p[n, o, p] = sum_k popcount(filt[k, o] XOR cols[k, n * P + p])``.
    """
    for name, a in (("cols", cols), ("filt", filt)):
        if not isinstance(a, np.ndarray) or a.dtype != np.uint64 or a.ndim != 2:
            raise TypeError(f"{name} must be a 2-d uint64 ndarray, got {a!r:.80}")
    n_words, n_rows = cols.shape
    n_filt = filt.shape[1]
    if filt.shape[0] != n_words:
        raise ValueError(
            f"filt must have {n_words} words per filter like cols, got shape {filt.shape}"
        )
    n_images = check_int(n_images, "n_images", min_value=1)
    if n_rows % n_images:
        raise ValueError(f"cols has {n_rows} rows, not a multiple of n_images={n_images}")
    if num_threads is None:
        num_threads = os.cpu_count() or 1
    num_threads = check_int(num_threads, "num_threads", min_value=1)
    acc_dtype = np.uint16 if 64 * n_words < 2**16 else np.uint32
    if 64 * n_words >= 2**32:
        acc_dtype = np.uint64
    n_pix = n_rows // n_images
    out = np.empty((n_images, n_filt, n_pix), dtype=np.int64)
    cols = np.ascontiguousarray(cols)
    filt = np.ascontiguousarray(filt)
    blocks = _blocks(n_images, n_pix, max(1, _BLOCK_ELEMENTS // max(n_filt, 1)))

    def run(chunk):
        for n0, n1, p0, p1 in chunk:
            _popcount_block(cols, filt, out, n0, n1, p0, p1, acc_dtype, dot_length)

    n_chunks = min(num_threads, len(blocks))
    if n_chunks <= 1:
        run(blocks)
        return out
    # Consecutive blocks per thread; each writes a disjoint part of out.
    edges = np.linspace(0, len(blocks), n_chunks + 1).astype(int)
    with ThreadPoolExecutor(max_workers=n_chunks) as pool:
        ranges = zip(edges[:-1], edges[1:], strict=True)
        jobs = [pool.submit(run, blocks[lo:hi]) for lo, hi in ranges]
        for job in jobs:
            job.result()
    return out


def _check_packed(a_words, b_words, stride):
    for name, w in (("a_words", a_words), ("b_words", b_words)):
        if not isinstance(w, np.ndarray) or w.dtype != np.uint64 or w.ndim != 4:
            raise TypeError(f"{name} must be a 4-d uint64 ndarray, got {w!r:.80}")
    if a_words.shape[3] != b_words.shape[3]:
        raise ValueError(
            f"a_words has {a_words.shape[3]} words per pixel, b_words {b_words.shape[3]}"
        )
    return check_pair(stride, "stride", min_value=1)


def packed_conv2d(a_words, b_words, *, stride=1, num_threads=None, dot_length=None):
    """Popcount convolution of packed operands, (N, O, Ho, Wo) int64.

    Mismatch counts, or with ``dot_length`` K the +-1 convolution
    ``K - 2 * count``. Shared by :func:`xnor_popcount_conv2d_packed`,
    :func:`xnor_conv2d` and the engine.
    """
    stride = _check_packed(a_words, b_words, stride)
    n_out, kh, kw, _ = b_words.shape
    ho, wo = conv_output_size(a_words.shape[1:3], (kh, kw), stride, (0, 0))
    cols = _gather_patch_words(a_words, (kh, kw), stride, (ho, wo))
    filt = b_words.reshape(n_out, -1).T
    n = a_words.shape[0]
    p = popcount_xor_matmul(cols, filt, num_threads=num_threads, dot_length=dot_length, n_images=n)
    return p.reshape(n, n_out, ho, wo)


def xnor_popcount_conv2d_packed(
    a_words: np.ndarray, b_words: np.ndarray, *, stride=1, num_threads=None
) -> np.ndarray:
    """Popcount convolution of packed operands (no padding: pad before packing).

    Parameters
    ----------
    a_words : ndarray of uint64, shape (N, Hp, Wp, Wc)
        Padded input packed along channels (:func:`pack_conv_input`).
    b_words : ndarray of uint64, shape (O, kh, kw, Wc)
        Filters packed along channels (:func:`pack_conv_weights`).
    stride : int or (int, int)
    num_threads : int, optional

    Returns
    -------
    mismatches : ndarray of int64, shape (N, O, Ho, Wo)
        ``popcount(patch XOR filter)`` summed over the ``kh*kw*Wc``
        words. The +-1 convolution is ``C*kh*kw - 2 * mismatches``.
    """
    return packed_conv2d(a_words, b_words, stride=stride, num_threads=num_threads)


def _touches_padding(size: int, k: int, s: int, p: int, out_size: int) -> np.ndarray:
    """Bool (out_size,): does output index i's window reach into the padding?"""
    starts = np.arange(out_size) * s
    return (starts < p) | (starts + k > p + size)


def subtract_border_correction(dot, corr, in_hw, kernel_hw, stride, padding) -> None:
    """``dot -= corr[None]`` in place, only where the correction can be non-zero.

    ``dot`` (N, O, Ho, Wo), ``corr`` (O, Ho, Wo). Only output pixels whose
    window reaches into the padding have a non-zero correction: a band of
    rows (top/bottom) and, in the other rows, a band of columns - a small
    part of a large image, so no full-size pass is needed.
    """
    ho, wo = corr.shape[1:]
    rows = _touches_padding(in_hw[0], kernel_hw[0], stride[0], padding[0], ho)
    cols = _touches_padding(in_hw[1], kernel_hw[1], stride[1], padding[1], wo)
    dot[:, :, rows, :] -= corr[None, :, rows, :]
    inner_rows = np.flatnonzero(~rows)[:, None]
    band_cols = np.flatnonzero(cols)[None, :]
    dot[:, :, inner_rows, band_cols] -= corr[None, :, inner_rows, band_cols]


def xnor_conv2d(
    a: np.ndarray, b: np.ndarray, *, stride=1, padding=0, pad_value=0, num_threads=None
) -> np.ndarray:
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
        Value of the border: 0 is ordinary zero padding (exact
        correction, module docstring), +-1 pads with that sign.
    num_threads : int, optional
        Threads for the popcount kernel (default ``os.cpu_count()``).

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
    stride, padding, pad_value, _ = _check_conv_args(a, b, stride, padding, pad_value)
    # Operands are checked once above; pack without re-checking.
    a_words = pack_bits_nchw(a > 0, padding=padding, fill_bit=pad_value >= 0)
    b_words = _pack_last_axis(np.transpose(b > 0, (0, 2, 3, 1)))
    k = b.shape[1] * b.shape[2] * b.shape[3]
    dot = packed_conv2d(a_words, b_words, stride=stride, num_threads=num_threads, dot_length=k)
    if pad_value == 0 and (padding[0] or padding[1]):
        corr = zero_padding_correction(b, a.shape[2:], stride=stride, padding=padding)
        subtract_border_correction(dot, corr, a.shape[2:], b.shape[2:], stride, padding)
    return dot


def xnor_conv2d_naive(a: np.ndarray, b: np.ndarray, *, stride=1, padding=0, pad_value=0):
    """Looped reference for :func:`xnor_conv2d`: one popcount per output value.

    For every output value it takes the receptive field, keeps the taps
    that lie inside the image (all taps when ``pad_value`` is +-1, the
    border then holding that sign), packs patch and filter with
    :func:`~abcref.bitpack.pack.pack_signs` and applies
    ``K - 2 * popcount(XOR)``. Zero padding is handled by leaving the
    border taps out, not by the correction of the fast path, so the two
    are independent. Slow; for tests and for reading.
    """
    stride, padding, pad_value, (ho, wo) = _check_conv_args(a, b, stride, padding, pad_value)
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
