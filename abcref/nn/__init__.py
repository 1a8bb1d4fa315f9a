"""Stateful layers, ABC-Net convolution and model builders.

See ``docs/training.md``. Layers subclass :class:`Module` and call the
pure functions of :mod:`abcref.ops` and :mod:`abcref.binarize`.
"""

# Importing the comparison systems registers their conv kinds ("bwn",
# "xnor", "bnn", "dorefa", "kbit") with build_model, so a checkpoint of
# any kind can be rebuilt however abcref was imported.
from abcref.nn import baselines as _baselines  # noqa: F401
from abcref.nn.abcconv import ABCConv2d
from abcref.nn.layers import (
    AvgPool2d,
    BasicBlock,
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
from abcref.nn.models import (
    ARCHITECTURES,
    CONV_KINDS,
    abc_conv,
    build_model,
    cifar_resnet,
    register_conv_kind,
    small_cnn,
)
from abcref.nn.module import Module, Sequential
from abcref.nn.resnet_imagenet import Bottleneck, resnet18, resnet34, resnet50

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
    "Flatten",
    "GlobalAvgPool2d",
    "Hardtanh",
    "Identity",
    "Linear",
    "MaxPool2d",
    "Module",
    "ReLU",
    "Sequential",
    "Unflatten2d",
    "abc_conv",
    "build_model",
    "cifar_resnet",
    "register_conv_kind",
    "resnet18",
    "resnet34",
    "resnet50",
    "small_cnn",
]
