"""From a trained float model to inference with bits (bitpack over nn).

- :mod:`abcref.compiler.packed`: an ABC convolution given as arrays, packed
  once and run as M x N xnor/popcount convolutions (eq. 12).
- :mod:`abcref.compiler.compile`: :func:`compile_model`, layers and models
  to packed layers, batch norms folded into thresholds (section 5.3).
- :mod:`abcref.compiler.check`: float model vs compiled model predictions.
- :mod:`abcref.compiler.summary`: parameters, memory and operations,
  float vs packed.

See ``docs/bitpack.md``.
"""

from abcref.compiler.check import bits_check, format_bits_check
from abcref.compiler.compile import BitABCConv2d, batchnorm_affine, compile_abcconv, compile_model
from abcref.compiler.packed import CompiledABCConv2d, compile_abc_conv
from abcref.compiler.summary import LayerSummary, format_summary, model_summary, summary_totals

__all__ = [
    "BitABCConv2d",
    "CompiledABCConv2d",
    "LayerSummary",
    "batchnorm_affine",
    "bits_check",
    "compile_abc_conv",
    "compile_abcconv",
    "compile_model",
    "format_bits_check",
    "format_summary",
    "model_summary",
    "summary_totals",
]
