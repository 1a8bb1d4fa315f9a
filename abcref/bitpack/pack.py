"""Pack tensors of signs (+1/-1) into 64-bit words, and back.

The format (every other module of :mod:`abcref.bitpack` relies on it)
--------------------------------------------------------------------
- **Word**: ``numpy.uint64`` (64 bits per word).
- **Bit value**: bit 1 means +1, bit 0 means -1.
- **Bit order**: element ``j`` of the packed axis goes to word
  ``j // 64``, bit ``j % 64``, least significant bit first. So element 0
  is ``word & 1`` and element 63 is ``word >> 63``. The words are
  produced by ``np.packbits(..., bitorder="little")`` on the bytes of a
  little-endian ``uint64`` (``"<u8"``), so the layout does not depend on
  the machine's byte order.
- **Tail bits**: when the packed length ``n`` is not a multiple of 64,
  the ``64 * ceil(n / 64) - n`` unused bits of the last word are **0**.
  Two operands packed this way agree on their tail bits, so
  ``a XOR b`` is 0 there and a popcount of the XOR counts only real
  elements. :func:`unpack_signs` rejects words whose tail bits are not 0
  (they would mean the words were not produced by :func:`pack_signs`).

Only exact +1 and -1 are accepted: 0, NaN, 0.5 or any other value is a
``ValueError``. abcref's weight bases never hold 0 (``sign(0) = -1``,
conventions.md row 1) and binary activations are ``+-1`` by eq. (9).
"""

from __future__ import annotations

import numpy as np

from abcref._checks import FLOAT_DTYPES, check_int, check_signs

WORD_BITS = 64
WORD_DTYPE = np.dtype("<u8")


def num_words(length: int) -> int:
    """Number of 64-bit words that hold ``length`` packed signs."""
    length = check_int(length, "length", min_value=0)
    return -(-length // WORD_BITS)


def pack_signs(x: np.ndarray, *, axis: int = -1) -> np.ndarray:
    """Pack a +1/-1 array into ``uint64`` words along one axis.

    Parameters
    ----------
    x : ndarray of shape (..., n, ...)
        Values exactly +1 or -1, float or integer dtype.
    axis : int
        The axis to pack (default: the last).

    Returns
    -------
    words : ndarray of uint64, shape (..., ceil(n / 64), ...)
        ``x`` with the packed axis replaced by its words; bit 1 = +1,
        element ``j`` at word ``j // 64``, bit ``j % 64``, tail bits 0
        (see the module docstring).

    Raises
    ------
    TypeError, ValueError
        If ``x`` is not an array of +1/-1 values, or ``axis`` is out of
        range.

    Examples
    --------
    >>> import numpy as np
    >>> pack_signs(np.array([1.0, -1.0, 1.0, 1.0]))
    array([13], dtype=uint64)
    """
    check_signs(x, "x")
    axis = check_int(axis, "axis")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis must be in [{-x.ndim}, {x.ndim}) for x of shape {x.shape}")
    bits = np.moveaxis(x > 0, axis, -1)
    return np.moveaxis(_pack_last_axis(bits), -1, axis)


def _pack_last_axis(bits: np.ndarray) -> np.ndarray:
    """Pack a bool array along its last axis into little-endian uint64 words.

    No validation: the fast path used by the convolution after checks.
    """
    n = bits.shape[-1]
    n_words = -(-n // WORD_BITS)
    packed_bytes = np.packbits(bits, axis=-1, bitorder="little")
    if packed_bytes.shape[-1] != 8 * n_words:
        pad = [(0, 0)] * (bits.ndim - 1) + [(0, 8 * n_words - packed_bytes.shape[-1])]
        packed_bytes = np.pad(packed_bytes, pad)
    packed_bytes = np.ascontiguousarray(packed_bytes)
    return packed_bytes.view(WORD_DTYPE).astype(np.uint64, copy=False)


def unpack_signs(
    words: np.ndarray, *, length: int, axis: int = -1, dtype=np.float32
) -> np.ndarray:
    """Unpack ``uint64`` words into a +1/-1 array; inverse of :func:`pack_signs`.

    Parameters
    ----------
    words : ndarray of uint64, shape (..., ceil(length / 64), ...)
        Words in the format of the module docstring.
    length : int
        Number of signs along the packed axis (the ``n`` given to
        :func:`pack_signs`).
    axis : int
        The packed axis.
    dtype : dtype
        Output dtype (float32, float64 or a signed integer type).

    Returns
    -------
    x : ndarray of shape (..., length, ...)
        +1 where the bit is 1, -1 where it is 0.

    Raises
    ------
    TypeError
        If ``words`` is not a uint64 array, or ``dtype`` cannot hold -1.
    ValueError
        If the word count does not match ``length`` or a tail bit is 1.
    """
    if not isinstance(words, np.ndarray) or words.dtype != np.uint64:
        got = words.dtype if isinstance(words, np.ndarray) else type(words).__name__
        raise TypeError(f"words must be a numpy.ndarray of dtype uint64, got {got}")
    length = check_int(length, "length", min_value=0)
    axis = check_int(axis, "axis")
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES and dtype.kind != "i":
        raise TypeError(f"dtype must be float32, float64 or a signed integer, got {dtype}")
    if not -words.ndim <= axis < words.ndim:
        raise ValueError(
            f"axis must be in [{-words.ndim}, {words.ndim}) for words of shape {words.shape}"
        )
    n_words = num_words(length)
    if words.shape[axis] != n_words:
        raise ValueError(
            f"words must have {n_words} word(s) along axis {axis} for length {length}, "
            f"got shape {words.shape}"
        )
    w = np.ascontiguousarray(np.moveaxis(words, axis, -1)).astype(WORD_DTYPE, copy=False)
    bits = np.unpackbits(w.view(np.uint8), axis=-1, bitorder="little")
    if bits[..., length:].any():
        raise ValueError(
            f"words have tail bits set beyond length {length}; "
            "pack_signs always leaves them 0 (corrupt or foreign words?)"
        )
    signs = np.where(bits[..., :length].astype(bool), 1, -1).astype(dtype)
    return np.moveaxis(signs, -1, axis)
