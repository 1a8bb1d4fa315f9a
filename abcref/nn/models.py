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

Conv kinds
----------
``config["conv"]`` says what every *inner* convolution is. A kind is
registered with :func:`register_conv_kind` and supplies two things:

- ``make_conv(options, in_channels, out_channels, kernel_size, *, stride,
  padding, rng, dtype) -> Module``, the convolution;
- ``make_activation(options, activation) -> Module or None``, the
  nonlinearity that feeds it. A full-precision conv is fed by the model's
  ``activation`` (ReLU by default); an ABC conv with binary activations
  gets None, because :class:`~abcref.nn.abcconv.ABCConv2d` binarises its
  own input R with the N shifted functions ``H_{v_n}`` (eq. 11).

Built in: ``"fp"`` (:class:`~abcref.nn.layers.Conv2d`, no bias) and
``"abc"`` (:class:`~abcref.nn.abcconv.ABCConv2d`; options ``M``, ``N``,
``per_channel``, ``weight_ste``, ``shifts``, ``train_shifts``, ``ddof``,
``ridge``, ``pad_value``; ``N: null`` means full-precision activations, i.e. weight-only
ABC, fed by the model's activation). Other quantisers (BWN, XNOR-Net,
BNN, DoReFa) become another kind; the builders and the trainer need no
change.

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

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from abcref._checks import check_choice, check_int, check_real
from abcref.nn.layers import (
    INITS,
    BasicBlock,
    BatchNorm2d,
    Clip,
    Conv2d,
    Flatten,
    GlobalAvgPool2d,
    Linear,
    MaxPool2d,
    ReLU,
    Unflatten2d,
)
from abcref.nn.module import Module, Sequential

ACTIVATIONS = {"relu": ReLU, "clip": lambda: Clip(0.0, 1.0), "hardtanh": lambda: Clip(-1.0, 1.0)}


# -- conv kinds -----------------------------------------------------------


@dataclass(frozen=True)
class ConvKind:
    """How to build one kind of convolution and what feeds it.

    Attributes
    ----------
    make_conv : callable
        ``make_conv(options, c_in, c_out, k, *, stride, padding, rng,
        dtype) -> Module`` where ``options`` is the conv config without
        ``"kind"``.
    make_activation : callable
        ``make_activation(options, activation_name) -> Module or None``.
    normalise : callable
        ``normalise(options) -> options`` validating and filling defaults
        (so ``model.config`` is complete); raises ValueError/TypeError.
    """

    make_conv: Callable
    make_activation: Callable
    normalise: Callable


CONV_KINDS: dict[str, ConvKind] = {}


def register_conv_kind(
    name: str,
    make_conv: Callable,
    *,
    make_activation: Callable | None = None,
    normalise: Callable | None = None,
) -> None:
    """Make ``{"kind": name, ...}`` usable in any model config.

    ``make_activation`` defaults to "the model's activation" (right for a
    conv with full-precision inputs); a kind that binarises its own input
    returns None from it.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"conv kind name must be a non-empty string, got {name!r}")
    CONV_KINDS[name] = ConvKind(
        make_conv,
        make_activation or (lambda options, activation: ACTIVATIONS[activation]()),
        normalise or (lambda options: dict(options)),
    )


def _fp_make_conv(options, c_in, c_out, k, *, stride, padding, rng, dtype):
    return Conv2d(
        c_in,
        c_out,
        k,
        stride=stride,
        padding=padding,
        bias=False,
        init=options.get("init", "he"),
        rng=rng,
        dtype=dtype,
    )


def _fp_normalise(options):
    if options:
        raise ValueError(f"conv kind 'fp' takes no options, got {sorted(options)}")
    return {}


ABC_OPTIONS = (
    "M",
    "N",
    "per_channel",
    "weight_ste",
    "shifts",
    "train_shifts",
    "ddof",
    "ridge",
    "pad_value",
)


def _abc_normalise(options):
    unknown = sorted(set(options) - set(ABC_OPTIONS))
    if unknown:
        raise ValueError(
            f"conv kind 'abc' got unknown options {unknown}; expected some of {list(ABC_OPTIONS)}"
        )
    out = dict(options)
    out["M"] = check_int(out.get("M", 3), "conv['M']", min_value=1)
    n = out.get("N", 3)
    out["N"] = None if n is None else check_int(n, "conv['N']", min_value=1)
    out.setdefault("per_channel", False)
    if not isinstance(out["per_channel"], bool):
        raise TypeError(f"conv['per_channel'] must be a bool, got {out['per_channel']!r}")
    out.setdefault("weight_ste", "paper")
    return out


def _abc_make_conv(options, c_in, c_out, k, *, stride, padding, rng, dtype):
    from abcref.nn.abcconv import ABCConv2d  # the binarization task's layer

    kwargs = dict(options)
    if kwargs.get("shifts") is not None:
        kwargs["shifts"] = np.asarray(kwargs["shifts"], dtype=dtype)
    return ABCConv2d(
        c_in, c_out, k, stride=stride, padding=padding, rng=rng, dtype=dtype, **kwargs
    )


def _abc_make_activation(options, activation):
    # Binary activations are made inside ABCConv2d; only weight-only ABC
    # (N is None) keeps a full-precision activation in front.
    return ACTIVATIONS[activation]() if options["N"] is None else None


register_conv_kind("fp", _fp_make_conv, normalise=_fp_normalise)
register_conv_kind(
    "abc", _abc_make_conv, make_activation=_abc_make_activation, normalise=_abc_normalise
)


def abc_conv(M: int = 3, N: int | None = 3, **options) -> dict:
    """Conv config of kind ``"abc"``: ``{"kind": "abc", "M": M, "N": N, ...}``."""
    return {"kind": "abc", "M": M, "N": N, **options}


def _normalise_conv(conv, name: str = "conv") -> dict:
    if isinstance(conv, str):
        conv = {"kind": conv}
    if not isinstance(conv, dict) or "kind" not in conv:
        raise TypeError(f"{name} must be a kind name or a dict with a 'kind', got {conv!r}")
    kind = conv["kind"]
    check_choice(kind, f"{name}['kind']", set(CONV_KINDS))
    options = {k: v for k, v in conv.items() if k != "kind"}
    return {"kind": kind, **CONV_KINDS[kind].normalise(options)}


class _Builder:
    """Shared plumbing of the builders: rng, dtype, kinds, BN options."""

    def __init__(self, config: dict) -> None:
        self.rng = np.random.default_rng(config["seed"])
        self.dtype = np.dtype(config["dtype"])
        self.activation = config["activation"]
        self.init = config["init"]
        self.bn_options = {
            "momentum": config["bn_momentum"],
            "eps": config["bn_eps"],
            "dtype": self.dtype,
        }
        self.inner = config["conv"]
        self.outer = self.inner if not config["first_last_fp"] else {"kind": "fp"}

    def conv(self, spec, c_in, c_out, k, *, stride=1, padding=0) -> Module:
        kind = CONV_KINDS[spec["kind"]]
        options = {k_: v for k_, v in spec.items() if k_ != "kind"}
        if spec["kind"] == "fp":
            options["init"] = self.init
        return kind.make_conv(
            options, c_in, c_out, k, stride=stride, padding=padding, rng=self.rng, dtype=self.dtype
        )

    def conv_factory(self, spec):
        def factory(c_in, c_out, k, *, stride, padding, rng, dtype):
            return self.conv(spec, c_in, c_out, k, stride=stride, padding=padding)

        return factory

    def activation_for(self, spec) -> Module | None:
        options = {k: v for k, v in spec.items() if k != "kind"}
        return CONV_KINDS[spec["kind"]].make_activation(options, self.activation)

    def activation_factory(self, spec):
        return lambda: self.activation_for(spec)

    def bn(self, c) -> BatchNorm2d:
        return BatchNorm2d(c, **self.bn_options)

    def classifier(self, c_in, num_classes) -> Module:
        """Final layer on pooled (N, C) features (see module docstring)."""
        if self.outer["kind"] == "fp":
            return Linear(c_in, num_classes, init=self.init, rng=self.rng, dtype=self.dtype)
        layers = {}
        act = self.activation_for(self.outer)
        if act is not None:
            layers["act"] = act
        layers["unflatten"] = Unflatten2d()
        layers["conv"] = self.conv(self.outer, c_in, num_classes, 1)
        layers["flatten"] = Flatten()
        return Sequential(**layers)


# -- common config handling -------------------------------------------------

_COMMON_DEFAULTS = {
    "in_channels": 1,
    "num_classes": 10,
    "conv": {"kind": "abc", "M": 3, "N": 3},
    "first_last_fp": True,
    "activation": "relu",
    "init": "he",
    "bn_momentum": 0.1,
    "bn_eps": 1e-5,
    "dtype": "float32",
    "seed": 0,
}


def _normalise_common(config: dict, defaults: dict) -> dict:
    allowed = set(_COMMON_DEFAULTS) | set(defaults) | {"arch"}
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise ValueError(
            f"unknown model config keys {unknown} for arch {config.get('arch')!r}; "
            f"expected some of {sorted(allowed)}"
        )
    out = {**_COMMON_DEFAULTS, **defaults, **copy.deepcopy(config)}
    out["in_channels"] = check_int(out["in_channels"], "in_channels", min_value=1)
    out["num_classes"] = check_int(out["num_classes"], "num_classes", min_value=2)
    out["conv"] = _normalise_conv(out["conv"])
    if not isinstance(out["first_last_fp"], bool):
        raise TypeError(f"first_last_fp must be a bool, got {out['first_last_fp']!r}")
    check_choice(out["activation"], "activation", set(ACTIVATIONS))
    check_choice(out["init"], "init", set(INITS))
    out["bn_momentum"] = check_real(out["bn_momentum"], "bn_momentum")
    out["bn_eps"] = check_real(out["bn_eps"], "bn_eps")
    check_choice(out["dtype"], "dtype", {"float32", "float64"})
    out["seed"] = check_int(out["seed"], "seed", min_value=0)
    return out


def _finish(model: Module, config: dict) -> Module:
    # JSON round trip: the stored config is exactly what a checkpoint holds.
    model.config = json.loads(json.dumps(config))
    return model


# -- small CNN --------------------------------------------------------------

_SMALL_CNN_DEFAULTS = {"widths": [32, 64, 64, 64], "pool_after": None}


def small_cnn(**options) -> Module:
    """A plain CNN for small images such as the 8x8 digits.

    With the defaults (modelled on ``experiments.md``)::

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
        ...}``; see :func:`abc_conv`). Default ABC with M = N = 3.
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
    config = _normalise_common({"arch": "small_cnn", **options}, _SMALL_CNN_DEFAULTS)
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

    b = _Builder(config)
    layers: dict[str, Module] = {}
    c_in = config["in_channels"]
    for i, c_out in enumerate(widths):
        k = i + 1
        spec = b.outer if i == 0 else b.inner
        act = b.activation_for(spec) if i > 0 or spec["kind"] != "fp" else None
        if act is not None:
            layers[f"act{k}"] = act
        layers[f"conv{k}"] = b.conv(spec, c_in, c_out, 3, padding=1)
        if i in config["pool_after"]:
            layers[f"pool{k}"] = MaxPool2d(2)
        layers[f"bn{k}"] = b.bn(c_out)
        c_in = c_out
    layers["gap"] = GlobalAvgPool2d()
    layers["fc"] = b.classifier(c_in, config["num_classes"])
    return _finish(Sequential(**layers), config)


# -- CIFAR-style ResNet -----------------------------------------------------

_RESNET_DEFAULTS = {"depth": 20, "width": 16, "in_channels": 3, "binary_shortcut": False}


def cifar_resnet(**options) -> Module:
    """A CIFAR-style ResNet (He et al., 2016, §4.2) for small images.

    ::

        conv1  FP 3x3 in->w, bn1
        layer1 n BasicBlocks, w channels,   stride 1
        layer2 n BasicBlocks, 2w channels,  first stride 2 (projection)
        layer3 n BasicBlocks, 4w channels,  first stride 2 (projection)
        gap, fc FP linear 4w->classes

    with ``depth = 6 n + 2``. Each block is
    :class:`~abcref.nn.layers.BasicBlock` with the inner conv kind on
    its main path; there is no max-pool (strided convs downsample).

    Parameters
    ----------
    depth : int
        6n + 2 (8, 14, 20, 32, ...).
    width : int
        Channels of the first stage.
    binary_shortcut : bool
        Projection shortcuts use the inner kind too (default False: they
        stay full-precision 1x1 convs, as in most binary ResNets).
    conv, in_channels, num_classes, first_last_fp, activation, init,
    bn_momentum, bn_eps, dtype, seed
        As in :func:`small_cnn`.
    """
    config = _normalise_common({"arch": "cifar_resnet", **options}, _RESNET_DEFAULTS)
    depth = check_int(config["depth"], "depth", min_value=8)
    if (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 (8, 14, 20, ...), got {depth}")
    width = check_int(config["width"], "width", min_value=1)
    if not isinstance(config["binary_shortcut"], bool):
        raise TypeError(f"binary_shortcut must be a bool, got {config['binary_shortcut']!r}")
    n = (depth - 2) // 6

    b = _Builder(config)
    layers: dict[str, Module] = {}
    if b.outer["kind"] != "fp":
        act = b.activation_for(b.outer)
        if act is not None:
            layers["act1"] = act
    layers["conv1"] = b.conv(b.outer, config["in_channels"], width, 3, padding=1)
    layers["bn1"] = b.bn(width)
    shortcut_spec = b.inner if config["binary_shortcut"] else {"kind": "fp"}
    c_in = width
    for stage in range(3):
        c_out = width * 2**stage
        blocks = []
        for j in range(n):
            stride = 2 if (stage > 0 and j == 0) else 1
            blocks.append(
                BasicBlock(
                    c_in,
                    c_out,
                    stride=stride,
                    conv=b.conv_factory(b.inner),
                    activation=b.activation_factory(b.inner),
                    shortcut_conv=b.conv_factory(shortcut_spec),
                    bn_momentum=config["bn_momentum"],
                    bn_eps=config["bn_eps"],
                    rng=b.rng,
                    dtype=b.dtype,
                )
            )
            c_in = c_out
        layers[f"layer{stage + 1}"] = Sequential(*blocks)
    layers["gap"] = GlobalAvgPool2d()
    layers["fc"] = b.classifier(c_in, config["num_classes"])
    return _finish(Sequential(**layers), config)


# -- dispatch ---------------------------------------------------------------

ARCHITECTURES: dict[str, Callable[..., Module]] = {
    "small_cnn": small_cnn,
    "cifar_resnet": cifar_resnet,
}
# ImageNet-style ResNet-18/34/50 (Table 2) live in their own module, built on this one.
from abcref.nn.resnet_imagenet import IMAGENET_ARCHITECTURES  # noqa: E402

ARCHITECTURES.update(IMAGENET_ARCHITECTURES)


def build_model(config: dict) -> Module:
    """Build a model from a JSON-serialisable config.

    Parameters
    ----------
    config : dict
        ``{"arch": "small_cnn" | "cifar_resnet" | "resnet18" | "resnet34" |
        "resnet50", ...}``; the other keys are the builder's keyword
        options (see :func:`small_cnn`, :func:`cifar_resnet`,
        :func:`abcref.nn.resnet_imagenet.imagenet_resnet`). Missing keys
        take the builder's defaults.

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
