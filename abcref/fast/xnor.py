"""The xnor/popcount convolution, fast: blocked, threaded popcount GEMM.

Computes exactly :func:`abcref.bitpack.xnor_conv2d` (tests check equality).

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
returns ``uint8``: the counts of at most 3 words, at most 192, are summed
in ``uint8``, which moves less memory, then widened by the accumulating
add); each finished block is written as ``K - 2 * count`` in int64
straight into the NCHW output. Blocks run on a thread pool, handed out
one at a time: the ufuncs release the GIL. Each filter word is repeated
along a block's rows once per call: NumPy's XOR runs 2.5x slower when an
operand repeats one value along its inner loop (a stride-0 broadcast).

Zero padding
------------
The border is packed as +1 and what it added is subtracted afterwards:
:func:`abcref.bitpack.conv.zero_padding_correction`, non-zero only on the
output pixels whose window reaches into the border.

Arguments are trusted (checked by the caller), except at
:func:`xnor_popcount_conv2d_packed`, the entry point for words packed by
the user, which checks them.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from abcref._checks import check_int, check_pair, check_real, check_signs, output_size
from abcref.bitpack.conv import _channel_sums, _padding_correction
from abcref.bitpack.pack import _pack_last_axis, pack_signs

#: Filters times output pixels per block: 2**16 uint64 temporaries = 512 KiB
#: (measured flat between 2**15 and 2**17 on the benchmark layer).
_BLOCK_ELEMENTS = 1 << 16

#: Largest filter operand repeated along the rows of a block (see _popcount_xor_matmul).
_REPEATED_FILTER_BYTES = 8 << 20

#: Words whose counts are summed in uint8 before the widening add:
#: 3 * 64 = 192 < 256, and a uint8 add moves less memory than a uint16 one.
_WORDS_PER_PARTIAL = 3


def xnor_conv2d(a, b, *, stride=(1, 1), padding=(0, 0), pad_value=0, num_threads=None):
    """:func:`abcref.bitpack.xnor_conv2d`, by the blocked popcount GEMM.

    ``a`` (N, C, H, W) and ``b`` (O, C, kh, kw) hold exactly +-1;
    ``stride`` and ``padding`` are pairs; ``pad_value`` is 0, 1 or -1;
    ``num_threads`` defaults to ``os.cpu_count()``. Returns int64
    (N, O, Ho, Wo).
    """
    a_words = pack_bits_nchw(a > 0, padding=padding, fill_bit=pad_value >= 0)
    b_words = _pack_last_axis(np.transpose(b > 0, (0, 2, 3, 1)))
    k = b.shape[1] * b.shape[2] * b.shape[3]
    dot = packed_conv2d(a_words, b_words, stride=stride, num_threads=num_threads, dot_length=k)
    if pad_value == 0 and (padding[0] or padding[1]):
        corr = _padding_correction(_channel_sums(b), a.shape[2:], stride, padding)
        subtract_border_correction(dot, corr, a.shape[2:], b.shape[2:], stride, padding)
    return dot


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
    ``filt`` is (Kw, O, 1), or (Kw, O, rows) with each word repeated
    along the rows (see :func:`_popcount_xor_matmul`).
    """
    n_pix = out.shape[2]
    r0, r1 = n0 * n_pix + p0, (n1 - 1) * n_pix + p1
    shape = (filt.shape[1], r1 - r0)
    xor = np.empty(shape, dtype=np.uint64)
    count = np.empty(shape, dtype=np.uint8)
    partial = np.empty(shape, dtype=np.uint8)
    acc = np.zeros(shape, dtype=acc_dtype)
    n_words = cols.shape[0]
    for k0 in range(0, n_words, _WORDS_PER_PARTIAL):
        for k in range(k0, min(n_words, k0 + _WORDS_PER_PARTIAL)):
            # Rows innermost: long inner loops, where NumPy's broadcasting overhead vanishes.
            np.bitwise_xor(filt[k, :, : r1 - r0], cols[k, None, r0:r1], out=xor)
            np.bitwise_count(xor, out=partial if k == k0 else count)
            if k > k0:
                partial += count  # at most 3 * 64 = 192: exact in uint8
        np.add(acc, partial, out=acc)  # widening add, once per 3 words
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
    if filt.shape[0] != n_words:
        raise ValueError(
            f"filt must have {n_words} words per filter like cols, got shape {filt.shape}"
        )
    n_images = check_int(n_images, "n_images", min_value=1)
    if n_rows % n_images:
        raise ValueError(f"cols has {n_rows} rows, not a multiple of n_images={n_images}")
    if num_threads is not None:
        check_int(num_threads, "num_threads", min_value=1)
    return _popcount_xor_matmul(cols, filt, num_threads, dot_length, n_images)


def _popcount_xor_matmul(cols, filt, num_threads, dot_length, n_images):
    n_words, n_rows = cols.shape
    n_filt = filt.shape[1]
    if num_threads is None:
        num_threads = os.cpu_count() or 1
    acc_dtype = np.uint16 if 64 * n_words < 2**16 else np.uint32
    if 64 * n_words >= 2**32:
        acc_dtype = np.uint64
    n_pix = n_rows // n_images
    out = np.empty((n_images, n_filt, n_pix), dtype=np.int64)
    cols = np.ascontiguousarray(cols)
    filt = np.ascontiguousarray(filt)
    blocks = _blocks(n_images, n_pix, max(1, _BLOCK_ELEMENTS // max(n_filt, 1)))
    rows = max(p1 - p0 + (n1 - n0 - 1) * n_pix for n0, n1, p0, p1 in blocks)
    if filt.nbytes * rows <= _REPEATED_FILTER_BYTES:
        # An XOR whose broadcast operand repeats along the inner loop runs
        # at 2.5x the time of one over two full operands: repeat each
        # filter word along the rows once per call, for every block.
        filt = np.repeat(filt[:, :, None], rows, axis=2)
    else:
        filt = filt[:, :, None]

    def run(chunk):
        for n0, n1, p0, p1 in chunk:
            _popcount_block(cols, filt, out, n0, n1, p0, p1, acc_dtype, dot_length)

    n_workers = min(num_threads, len(blocks))
    if n_workers <= 1:
        run(blocks)
        return out
    # Blocks are handed out one at a time to whichever thread is free (a
    # thread slowed by other processes takes fewer); each block writes a
    # disjoint part of out with exact integers, so the result does not
    # depend on which thread ran it.
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        for done in pool.map(run, [[block] for block in blocks]):
            del done
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
    :func:`xnor_conv2d` and the compiled engine; ``stride`` a pair.
    """
    n_out, kh, kw, _ = b_words.shape
    ho = output_size(a_words.shape[1], kh, stride[0], 0)
    wo = output_size(a_words.shape[2], kw, stride[1], 0)
    cols = _gather_patch_words(a_words, (kh, kw), stride, (ho, wo))
    filt = b_words.reshape(n_out, -1).T
    n = a_words.shape[0]
    p = _popcount_xor_matmul(cols, filt, num_threads, dot_length, n)
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
    stride = _check_packed(a_words, b_words, stride)
    if num_threads is not None:
        check_int(num_threads, "num_threads", min_value=1)
    n_out, kh, kw, _ = b_words.shape
    if kh > a_words.shape[1] or kw > a_words.shape[2]:
        raise ValueError(
            f"kernel ({kh}, {kw}) is larger than the padded input {a_words.shape[1:3]}"
        )
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
