"""Stateful layers, ABC-Net convolution and model builders.

See ``docs/training.md``. Layers subclass :class:`Module` (PyTorch's
names: ``weight``, ``bias``, ``named_parameters()``, ``state_dict()``) and
call the pure functions of :mod:`abcref.ops`, :mod:`abcref.fast` and
:mod:`abcref.quantize`.

- :mod:`abcref.nn.module`: :class:`Module`, :class:`Sequential`.
- :mod:`abcref.nn.layers`: convolution, linear, batch norm, activations,
  pooling.
- :mod:`abcref.nn.abcconv`: :class:`ABCConv2d`, the ABC-Net convolution.
- :mod:`abcref.nn.quantconv`: :class:`QuantConv2d` with the comparison
  systems' :data:`PRESETS`, and :class:`XNORConv2d`.
- :mod:`abcref.nn.config`: :data:`CONV_KINDS` and the config plumbing.
- :mod:`abcref.nn.resnet`: residual blocks, the CIFAR and ImageNet ResNets.
- :mod:`abcref.nn.models`: :func:`small_cnn` and :func:`build_model`.
"""

from abcref.nn.abcconv import ABCConv2d
from abcref.nn.config import CONV_KINDS, ConvKindSpec, abc_conv, conv_layer
from abcref.nn.layers import (
    AvgPool2d,
    BatchNorm2d,
    Clip,
    Conv2d,
    Flatten,
    GlobalAvgPool2d,
    Hardtanh,
    Identity,
    Linear,
    MaxPool2d,
    ReLU,
    Unflatten2d,
)
from abcref.nn.models import ARCHITECTURES, build_model, small_cnn
from abcref.nn.module import IncompatibleKeys, Module, Sequential
from abcref.nn.quantconv import PRESETS, QuantConv2d, XNORConv2d, apply_after_update
from abcref.nn.resnet import BasicBlock, Bottleneck, cifar_resnet, resnet18, resnet34, resnet50

__all__ = [
    "ABCConv2d",
    "ARCHITECTURES",
    "AvgPool2d",
    "BasicBlock",
    "BatchNorm2d",
    "Bottleneck",
    "CONV_KINDS",
    "Clip",
    "Conv2d",
    "ConvKindSpec",
    "Flatten",
    "GlobalAvgPool2d",
    "Hardtanh",
    "Identity",
    "IncompatibleKeys",
    "Linear",
    "MaxPool2d",
    "Module",
    "PRESETS",
    "QuantConv2d",
    "ReLU",
    "Sequential",
    "Unflatten2d",
    "XNORConv2d",
    "abc_conv",
    "apply_after_update",
    "build_model",
    "cifar_resnet",
    "conv_layer",
    "resnet18",
    "resnet34",
    "resnet50",
    "small_cnn",
]
