"""Inference with bits: packed +-1 tensors, xnor/popcount convolution, ABC engine.

- :mod:`abcref.bitpack.pack`: the packed format (uint64 words, bit 1 = +1,
  LSB first, tail bits 0) and ``pack_signs`` / ``unpack_signs``.
- :mod:`abcref.bitpack.conv`: ``xnor_conv2d``, exactly the float
  convolution of +-1 tensors, zero padding included.

See ``docs/bitpack.md``.
"""

from abcref.bitpack.conv import (
    pack_conv_input,
    pack_conv_weights,
    xnor_conv2d,
    xnor_conv2d_naive,
    xnor_popcount_conv2d_packed,
    zero_padding_correction,
)
from abcref.bitpack.pack import WORD_BITS, num_words, pack_signs, unpack_signs

__all__ = [
    "WORD_BITS",
    "num_words",
    "pack_conv_input",
    "pack_conv_weights",
    "pack_signs",
    "unpack_signs",
    "xnor_conv2d",
    "xnor_conv2d_naive",
    "xnor_popcount_conv2d_packed",
    "zero_padding_correction",
]
