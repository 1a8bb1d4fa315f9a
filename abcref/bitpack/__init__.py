"""Inference with bits: packed +-1 tensors, xnor/popcount convolution, ABC engine.

- :mod:`abcref.bitpack.pack`: the packed format (uint64 words, bit 1 = +1,
  LSB first, tail bits 0) and ``pack_signs`` / ``unpack_signs``.
- :mod:`abcref.bitpack.conv`: ``xnor_conv2d``, exactly the float
  convolution of +-1 tensors, zero padding included.
- :mod:`abcref.bitpack.thresholds`: comparators, batch norm folded into
  their thresholds for every sign of the scale (section 5.3).
- :mod:`abcref.bitpack.engine`: compiled ABC layers and models (eq. 12).
- :mod:`abcref.bitpack.summary`: parameters, memory and operations of a
  model, float vs packed.

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
from abcref.bitpack.engine import (
    ActivationComparator,
    BitABCConv2d,
    CompiledABCConv2d,
    compile_abc_conv,
    compile_abcconv,
    compile_model,
    fold_batchnorm_into_thresholds,
)
from abcref.bitpack.pack import WORD_BITS, num_words, pack_signs, unpack_signs
from abcref.bitpack.summary import LayerSummary, format_summary, model_summary

__all__ = [
    "WORD_BITS",
    "ActivationComparator",
    "BitABCConv2d",
    "CompiledABCConv2d",
    "LayerSummary",
    "compile_abc_conv",
    "compile_abcconv",
    "compile_model",
    "fold_batchnorm_into_thresholds",
    "format_summary",
    "model_summary",
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
