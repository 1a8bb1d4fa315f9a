"""Bits: packed +-1 tensors, the xnor/popcount convolution, and thresholds.

The reference core of inference with bits, on arrays only (no layers,
no models):

- :mod:`abcref.bitpack.pack`: the packed format (uint64 words, bit 1 = +1,
  LSB first, tail bits 0) and ``pack_signs`` / ``unpack_signs``.
- :mod:`abcref.bitpack.conv`: ``xnor_conv2d``, exactly the float
  convolution of +-1 tensors (``K - 2 * popcount(a XOR b)``), zero
  padding included.
- :mod:`abcref.bitpack.thresholds`: comparators, and batch norm folded
  into their thresholds (section 5.3), for every sign of the scale.

``abcref.fast.xnor`` is the same convolution as a blocked, threaded
popcount GEMM; compiling a trained model on top of these is
:mod:`abcref.compiler`. See ``docs/bitpack.md``.
"""

from abcref.bitpack.conv import xnor_conv2d, xnor_conv2d_naive, zero_padding_correction
from abcref.bitpack.pack import WORD_BITS, num_words, pack_signs, unpack_signs
from abcref.bitpack.thresholds import ActivationComparator, fold_batchnorm, fold_batchnorm_exact

__all__ = [
    "WORD_BITS",
    "ActivationComparator",
    "fold_batchnorm",
    "fold_batchnorm_exact",
    "num_words",
    "pack_signs",
    "unpack_signs",
    "xnor_conv2d",
    "xnor_conv2d_naive",
    "zero_padding_correction",
]
