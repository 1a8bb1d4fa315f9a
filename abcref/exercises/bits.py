"""Checkers for tutorial 4 (bits): the xnor/popcount dot product, the zero-padding correction."""

from __future__ import annotations

import numpy as np

from abcref.bitpack import num_words, pack_signs, zero_padding_correction
from abcref.exercises._verdict import Wrong, answer_array, checker

__all__ = ["check_padding_correction", "check_xnor_dot"]

# Lengths K: within one word, exactly one and two words, and tails of every size.
_DOT_LENGTHS = (10, 64, 70, 100, 128, 3, 200, 1)


def _dot_cases():
    rng = np.random.default_rng(4)
    for k in _DOT_LENGTHS:
        for _ in range(3):
            a = np.where(rng.random(k) < 0.5, -1.0, 1.0)
            b = np.where(rng.random(k) < 0.5, -1.0, 1.0)
            yield k, a, b


def _as_integer(value, k):
    try:
        number = float(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError):
        raise Wrong(
            f"your function should return one number (a . b), got {type(value).__name__}"
        ) from None
    if number >= 2.0**63:  # unsigned arithmetic wrapped below zero
        raise Wrong(
            f"your function returned {number:.4g} for K = {k}: popcounts come back unsigned, "
            f"and an unsigned subtraction that goes below 0 wraps round to a huge number; "
            f"make the count a Python int (or a signed integer) before subtracting"
        )
    if number != round(number):
        raise Wrong(
            f"a . b of +-1 vectors is an integer; your function returned {number} (K = {k})"
        )
    return round(number)


# Typical mistakes, as functions of (K, p = popcount(a' XOR b'), bits = 64 * words).
_DOT_MISTAKES = (
    (
        lambda k, p, bits: k - p,
        "your result counts the agreeing positions only: each disagreeing position "
        "contributes -1 to a . b, not 0",
    ),
    (
        lambda k, p, bits: 2 * p - k,
        "your result has the opposite sign: popcount(a' XOR b') counts the positions "
        "where the signs differ, and each of those is a product of -1",
    ),
    (
        lambda k, p, bits: bits - 2 * p,
        "right when K is a multiple of 64, off otherwise: the last word's unused tail bits "
        "are not elements. Count only the K real positions (an XNOR sets the tail bits "
        "to 1, so they look like agreements)",
    ),
    (
        lambda k, p, bits: k - 2 * p + 2 * (bits - k),
        "right when K is a multiple of 64, off otherwise: the XNOR of the tail bits is 1, "
        "so they were counted as agreements. Mask them out (or count the disagreements)",
    ),
    (
        lambda k, p, bits: p,
        "you returned the number of differing positions; a . b sums the products "
        "(+1 where the signs agree, -1 where they differ)",
    ),
)


@checker("xnor dot product")
def check_xnor_dot(call):
    """Check ``xnor_dot(a_words, b_words, K)``: a . b of two +-1 vectors from their packed bits.

    The learner's function takes ``a_words, b_words`` (uint64 arrays of
    shape ``(ceil(K / 64),)``, the format of
    :func:`abcref.bitpack.pack_signs`: bit 1 = +1, tail bits 0) and the
    length ``K`` (int), and returns the dot product ``a . b`` of the two
    +-1 vectors (an integer), using bit operations on the words. Tested
    on K from 1 to 200, with and without a partial last word.

    Returns
    -------
    Verdict
    """
    got, want, facts = [], [], []
    for k, a, b in _dot_cases():
        wa, wb = pack_signs(a), pack_signs(b)
        value = _as_integer(call(wa.copy(), wb.copy(), k), k)
        got.append(value)
        want.append(round(float(a @ b)))
        facts.append((k, int(np.count_nonzero(a != b)), 64 * num_words(k)))
    if got == want:
        return True, f"a . b is exact on all {len(got)} pairs, K from 1 to 200"
    for formula, message in _DOT_MISTAKES:
        if all(g == formula(*f) for g, f in zip(got, facts, strict=True)):
            return False, message
    i = next(i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w)
    return False, (
        f"for K = {facts[i][0]} your function returned {got[i]} where a . b = {want[i]}: "
        f"count how many of the K positions agree and how many differ"
    )


# (out channels, in channels, kernel, height, width, padding)
_PAD_CASES = ((3, 4, 3, 5, 6, 1), (2, 5, 3, 4, 4, 2), (2, 3, 5, 7, 6, 2), (2, 3, 3, 5, 5, 0))


def _interior(k, h, w, pad):
    """Output pixels whose window lies wholly inside the image (no border tap)."""
    ho, wo = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    mask = np.zeros((ho, wo), dtype=bool)
    ys = [y for y in range(ho) if y >= pad and y + k <= h + pad]
    xs = [x for x in range(wo) if x >= pad and x + k <= w + pad]
    mask[np.ix_(ys, xs)] = True
    return mask


@checker("zero-padding correction")
def check_padding_correction(call):
    """Check ``padding_correction(filters, height, width, padding)``, stride 1.

    The learner's function takes ``filters`` (float64 array of +-1, shape
    ``(O, C, k, k)``), the unpadded input ``height`` and ``width`` and the
    ``padding`` (int), and returns the correction ``corr`` of shape
    ``(O, Ho, Wo)`` such that a convolution whose border is packed as +1,
    minus ``corr``, equals the zero-padded convolution of the same input
    (what :func:`abcref.bitpack.zero_padding_correction` computes).

    Returns
    -------
    Verdict
    """
    rng = np.random.default_rng(40)
    for o, c, k, h, w, pad in _PAD_CASES:
        filters = np.where(rng.random((o, c, k, k)) < 0.5, -1.0, 1.0)
        want = zero_padding_correction(filters, (h, w), padding=pad).astype(np.float64)
        shape = want.shape
        got = answer_array(call(filters.copy(), h, w, pad), shape, "your correction")
        if np.array_equal(got, want):
            continue
        where = f"(filters {filters.shape}, image {h}x{w}, padding {pad})"
        if np.array_equal(got, -want):
            return False, (
                f"your correction has the wrong sign {where}: the +1 border added its "
                f"weights to the convolution, and corr is what must be taken away"
            )
        interior = _interior(k, h, w, pad)
        if np.any(got[:, interior] != 0):
            return False, (
                f"your correction is non-zero at output pixels whose window never touches "
                f"the border {where}: only the taps on the padded border differ between "
                f"the +1 and the zero padding"
            )
        border_taps = zero_padding_correction(np.ones((1, 1, k, k)), (h, w), padding=pad)[0]
        if np.array_equal(got, c * border_taps[None].repeat(o, 0)) or np.array_equal(
            got, border_taps[None].repeat(o, 0)
        ):
            return False, (
                f"your correction counts border taps but ignores the filters' signs {where}: "
                f"a +1 border tap adds +1 times its weight, and the weights are +-1"
            )
        return False, (
            f"your correction is wrong near the edges {where}: at output pixel (y, x), "
            f"add up the filter weights (over all channels) of the taps that fall on the border"
        )
    return True, "exact on every case, padding 0 to 2, kernels 3x3 and 5x5"
