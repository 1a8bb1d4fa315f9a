"""From a trained float model to inference with bits (bitpack over nn).

- :mod:`abcref.compiler.packed`: :func:`pack_abc_conv`, an ABC convolution
  given as arrays, packed once into a :class:`PackedABCConv2d` and run as
  M x N xnor/popcount convolutions (eq. 12).
- :mod:`abcref.compiler.compile`: :func:`compile_layer` (a trained
  ``ABCConv2d`` to a ``PackedABCConv2d``) and :func:`compile_model` (a
  model with :class:`BitABCConv2d` layers), batch norms folded into
  thresholds (section 5.3) wherever only binary ABC convs read them
  (:func:`fold_plan`, residual blocks included).
- :mod:`abcref.compiler.check`: float model vs compiled model predictions.
- :mod:`abcref.compiler.summary`: parameters, memory and operations of the
  float model and of its packed form (:func:`summary`, as Larq's).

See ``docs/bitpack.md``.
"""

from abcref.compiler.check import bits_check, format_bits_check
from abcref.compiler.compile import (
    BitABCConv2d,
    FoldedBatchNorm,
    batchnorm_affine,
    compile_layer,
    compile_model,
    fold_plan,
)
from abcref.compiler.packed import PackedABCConv2d, pack_abc_conv
from abcref.compiler.summary import (
    LayerSummary,
    format_summary,
    model_summary,
    summary,
    summary_totals,
)

__all__ = [
    "BitABCConv2d",
    "FoldedBatchNorm",
    "LayerSummary",
    "PackedABCConv2d",
    "batchnorm_affine",
    "bits_check",
    "compile_layer",
    "compile_model",
    "fold_plan",
    "format_bits_check",
    "format_summary",
    "model_summary",
    "pack_abc_conv",
    "summary",
    "summary_totals",
]
