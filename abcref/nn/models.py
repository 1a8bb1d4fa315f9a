"""Model builders whose whole description is a plain JSON dict.

``build_model(config) -> Module`` builds a model from a config such as::

    {"arch": "small_cnn", "in_channels": 1, "num_classes": 10,
     "widths": [32, 64, 64, 64], "pool_after": [2],
     "conv": {"kind": "abc", "M": 3, "N": 3, "per_channel": false,
              "weight_ste": "paper"},
     "first_last_fp": true, "activation": "relu", "init": "he",
     "bn_momentum": 0.1, "bn_eps": 1e-05, "dtype": "float32", "seed": 0}

and sets ``model.config`` to the complete config (every default filled
in), so a checkpoint's metadata rebuilds exactly the same model, including
its initial weights (``seed`` seeds the initialisation).

Architectures: ``"small_cnn"`` (here), ``"cifar_resnet"``, ``"resnet18"``,
``"resnet34"``, ``"resnet50"`` (:mod:`abcref.nn.resnet`).

Conv kinds
----------
``config["conv"]`` says what every *inner* convolution is: a key of
:data:`CONV_KINDS` (:mod:`abcref.nn.config`), a plain dict of kind name to
how that conv is made. Built in: ``"fp"`` (:class:`~abcref.nn.layers.Conv2d`,
no bias), ``"abc"`` (:class:`~abcref.nn.abcconv.ABCConv2d`; options ``M``,
``N``, ``per_channel``, ``weight_ste``, ``shifts``, ``train_shifts``,
``ddof``, ``ridge``, ``pad_value``; ``N: null`` means full-precision
activations, i.e. weight-only ABC, fed by the model's activation), and
the comparison systems ``"bwn"``, ``"xnor"``, ``"bnn"``, ``"dorefa"``,
``"kbit"`` (:mod:`abcref.nn.quantconv`). A full-precision conv is fed by
the model's ``activation`` (ReLU by default); a conv that binarises its
own input (ABC with N binary activations: eq. 11) gets none.

Fair full-precision baseline
----------------------------
The full-precision model is the same graph with every ABC conv replaced
by ``activation -> Conv2d``: the two differ only at each inner conv's
input (ReLU + float conv versus binarisation + M x N binary convs). In
particular the inputs of the first conv (raw pixels) and of the final
classifier (BN output, globally averaged) get no activation in either.

Layer order (§3.3)
------------------
A block is ``conv -> [max-pool] -> BN -> next conv's input``: the
max-pool comes *before* batch norm and before the activation /
binarisation, as §3.3 prescribes, because max-pooling binary values
returns mostly +1.

First and last layer
--------------------
``first_last_fp=True`` (default, common practice and the convention
table's row 13) keeps the first conv and the final classifier full
precision. With ``False`` they use the inner kind too: the first conv
binarises the raw input, and the classifier becomes a 1x1 conv of that
kind on the pooled features reshaped to (N, C, 1, 1) (an ABC conv has no
bias, so neither has this classifier).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np

from abcref._checks import check_choice, check_int
from abcref.nn.config import (
    ACTIVATIONS,
    CONV_KINDS,
    abc_conv,
    batchnorm,
    classifier,
    finish,
    input_activation,
    make_conv,
    normalise_config,
    outer_spec,
)
from abcref.nn.layers import GlobalAvgPool2d, MaxPool2d
from abcref.nn.module import Module, Sequential
from abcref.nn.resnet import RESNET_ARCHITECTURES

__all__ = ["ACTIVATIONS", "ARCHITECTURES", "CONV_KINDS", "abc_conv", "build_model", "small_cnn"]


# -- small CNN --------------------------------------------------------------

_SMALL_CNN_DEFAULTS = {"widths": [32, 64, 64, 64], "pool_after": None}


def small_cnn(**options) -> Module:
    """A plain CNN for small images such as the 8x8 digits.

    With the defaults::

        conv1  FP 3x3 1->32, pad 1            (first layer, FP)
        bn1
        conv2  ABC 3x3 32->64                 (binarises bn1's output)
        bn2
        conv3  ABC 3x3 64->64 -> pool3 2x2    (max-pool before BN, §3.3)
        bn3
        conv4  ABC 3x3 64->64
        bn4
        gap    global average pool -> (N, 64)
        fc     FP linear 64->10               (last layer, FP)

    With ``conv="fp"`` every inner conv is preceded by the activation
    (``actK`` modules, ReLU by default), giving the fair FP baseline.

    Parameters
    ----------
    widths : list of int
        Output channels of each 3x3 conv (``len(widths)`` convs).
    pool_after : list of int, optional
        0-based indices of the convs followed by a 2x2 max-pool. Default:
        the second-to-last conv (index 2 for the default four convs).
    conv : str or dict
        Inner conv kind (``"fp"``, or ``{"kind": "abc", "M": .., "N": ..,
        ...}``; see :func:`abc_conv`, and :data:`CONV_KINDS` for every
        kind). Default ABC with M = N = 3.
    in_channels, num_classes : int
    first_last_fp : bool
    activation : {"relu", "clip", "hardtanh"}
        Nonlinearity feeding full-precision convs (``"clip"`` is
        ``clip(x, 0, 1)``, i.e. ``h_0`` of eq. 8).
    init : {"he", "pytorch"}
    bn_momentum, bn_eps : float
    dtype : {"float32", "float64"}
    seed : int
        Seeds the initialisation.

    Returns
    -------
    Sequential
        With ``.config`` set (see :func:`build_model`).
    """
    config = normalise_config({"arch": "small_cnn", **options}, _SMALL_CNN_DEFAULTS)
    widths = config["widths"]
    if not isinstance(widths, list) or not widths:
        raise ValueError(f"widths must be a non-empty list of ints, got {widths!r}")
    widths = [check_int(w, f"widths[{i}]", min_value=1) for i, w in enumerate(widths)]
    pools = config["pool_after"]
    if pools is None:  # default: pool after the second-to-last conv
        pools = [len(widths) - 2] if len(widths) >= 2 else []
    if not isinstance(pools, list):
        raise TypeError(f"pool_after must be a list of conv indices, got {pools!r}")
    for i, p in enumerate(pools):
        check_int(p, f"pool_after[{i}]", min_value=0)
        if p >= len(widths):
            raise ValueError(f"pool_after[{i}] = {p} but there are only {len(widths)} convs")
    config["widths"], config["pool_after"] = widths, sorted(set(pools))

    rng = np.random.default_rng(config["seed"])
    layers: dict[str, Module] = {}
    c_in = config["in_channels"]
    for i, c_out in enumerate(widths):
        k = i + 1
        spec = outer_spec(config) if i == 0 else config["conv"]
        act = input_activation(spec, config) if i > 0 or spec["kind"] != "fp" else None
        if act is not None:
            layers[f"act{k}"] = act
        layers[f"conv{k}"] = make_conv(spec, config, rng, c_in, c_out, 3, padding=1)
        if i in config["pool_after"]:
            layers[f"pool{k}"] = MaxPool2d(2)
        layers[f"bn{k}"] = batchnorm(c_out, config)
        c_in = c_out
    layers["gap"] = GlobalAvgPool2d()
    layers["fc"] = classifier(c_in, config, rng)
    return finish(Sequential(**layers), config)


# -- dispatch ---------------------------------------------------------------

#: Config ``arch`` name -> builder.
ARCHITECTURES: dict[str, Callable[..., Module]] = {"small_cnn": small_cnn, **RESNET_ARCHITECTURES}


def build_model(config: dict) -> Module:
    """Build a model from a JSON-serialisable config.

    Parameters
    ----------
    config : dict
        ``{"arch": "small_cnn" | "cifar_resnet" | "resnet18" | "resnet34" |
        "resnet50", ...}``; the other keys are the builder's keyword
        options (see :func:`small_cnn`,
        :func:`abcref.nn.resnet.cifar_resnet`,
        :func:`abcref.nn.resnet.imagenet_resnet`). Missing keys take the
        builder's defaults.

    Returns
    -------
    Module
        With ``model.config`` the complete config:
        ``build_model(model.config)`` builds an identical model.

    Raises
    ------
    ValueError, TypeError
        For an unknown arch, unknown keys, or invalid values.
    """
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {type(config).__name__}")
    arch = config.get("arch")
    check_choice(arch, "config['arch']", set(ARCHITECTURES))
    try:
        json.dumps(config)
    except TypeError as exc:
        raise TypeError(f"config must be JSON-serialisable: {exc}") from None
    options = {k: v for k, v in config.items() if k != "arch"}
    return ARCHITECTURES[arch](**options)
