"""Model configs: the conv kinds and the plumbing every model builder shares.

A model is described by a plain JSON dict (:func:`abcref.nn.build_model`).
This module holds what :mod:`abcref.nn.models` and :mod:`abcref.nn.resnet`
both need: the conv kinds, the keys every architecture shares, and small
functions that make a conv, the activation that feeds it, a batch norm or
the classifier from a normalised config.

Conv kinds
----------
``config["conv"]`` says what every *inner* convolution is. :data:`CONV_KINDS`
maps a kind name to a :class:`ConvKindSpec`: how to make the layer, which
options it takes (validated and completed without building a layer), and
whether it binarises its own input. A full-precision conv is fed by the
model's ``activation`` (ReLU by default); a conv that binarises (quantizes)
its input gets no activation in front, because the binarisation is its
input nonlinearity: :class:`~abcref.nn.abcconv.ABCConv2d` binarises R with
the N shifted functions ``H_{v_n}`` (eq. 11).

========  ==============================================  =======================
kind      layer                                           binarises its input
========  ==============================================  =======================
fp        ``Conv2d(bias=False)``                          no
abc       ``ABCConv2d(M, N, ...)``                        unless ``N`` is null
bwn       ``QuantConv2d(**PRESETS["bwn"])``               no
xnor      ``XNORConv2d``                                  yes
bnn       ``QuantConv2d(**PRESETS["bnn"])``               yes
dorefa    ``QuantConv2d(**PRESETS["dorefa"])``            yes
kbit      ``QuantConv2d(**PRESETS["kbit"], bits=K)``      yes
========  ==============================================  =======================

A new kind is one more entry in the dict; the builders and the trainer
need no change.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from abcref._checks import check_bool, check_choice, check_int, check_real
from abcref.nn.abcconv import ABCConv2d
from abcref.nn.layers import INITS, BatchNorm2d, Clip, Conv2d, Flatten, Linear, ReLU, Unflatten2d
from abcref.nn.module import Module, Sequential
from abcref.nn.quantconv import PRESETS, QuantConv2d, XNORConv2d, quant_conv_options
from abcref.quantize.xnornet import xnornet_options

ACTIVATIONS = {"relu": ReLU, "clip": lambda: Clip(0.0, 1.0), "hardtanh": lambda: Clip(-1.0, 1.0)}


class ConvKindSpec(NamedTuple):
    """One conv kind of :data:`CONV_KINDS`.

    Attributes
    ----------
    make : callable
        ``make(options, in_channels, out_channels, kernel_size, *, stride,
        padding, init, rng, dtype) -> Module``; ``options`` is the complete
        conv config without ``"kind"``.
    options : callable
        ``options(given) -> complete``: validates the options of a config
        and fills in the defaults (so ``model.config`` is complete);
        raises ValueError/TypeError.
    binarizes_input : callable
        ``binarizes_input(options) -> bool``: True when the layer
        binarises (quantizes) its own input, so no activation feeds it.
    """

    make: Callable
    options: Callable
    binarizes_input: Callable


def _check_names(kind: str, given: dict, allowed) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ValueError(
            f"conv kind {kind!r} got unknown options {unknown}; expected some of {list(allowed)}"
        )


# -- "fp" and "abc" -----------------------------------------------------------


def _fp_make(options, c_in, c_out, k, *, stride, padding, init, rng, dtype):
    return Conv2d(
        c_in, c_out, k, stride=stride, padding=padding, bias=False, init=init, rng=rng, dtype=dtype
    )


def _fp_options(given):
    if given:
        raise ValueError(f"conv kind 'fp' takes no options, got {sorted(given)}")
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


def _abc_options(given):
    _check_names("abc", given, ABC_OPTIONS)
    out = dict(given)
    out["M"] = check_int(out.get("M", 3), "conv['M']", min_value=1)
    n = out.get("N", 3)
    out["N"] = None if n is None else check_int(n, "conv['N']", min_value=1)
    out["per_channel"] = check_bool(out.get("per_channel", False), "conv['per_channel']")
    out.setdefault("weight_ste", "paper")
    return out


def _abc_make(options, c_in, c_out, k, *, stride, padding, init, rng, dtype):
    kwargs = dict(options)
    if kwargs.get("shifts") is not None:
        kwargs["shifts"] = np.asarray(kwargs["shifts"], dtype=dtype)
    return ABCConv2d(
        c_in, c_out, k, stride=stride, padding=padding, rng=rng, dtype=dtype, **kwargs
    )


def abc_conv(M: int = 3, N: int | None = 3, **options) -> dict:
    """Conv config of kind ``"abc"``: ``{"kind": "abc", "M": M, "N": N, ...}``."""
    return {"kind": "abc", "M": M, "N": N, **options}


# -- the comparison systems (Table 3, §5.2) -----------------------------------
# Their config options keep the names the systems' papers use; each kind
# turns them into QuantConv2d keywords on top of its preset.


def _dorefa_keywords(options):
    # weight_bits: null keeps the weights full precision (DoReFa's W-bits = 32).
    fp_weights = options["weight_bits"] is None
    per_channel = options["per_channel"]
    return {
        **PRESETS["dorefa"],
        **options,
        "weights": "fp" if fp_weights else "dorefa",
        "per_channel": None if fp_weights and not per_channel else per_channel,
    }


def _kbit_keywords(options):
    options = dict(options)
    bits = options.pop("K")
    return {**PRESETS["kbit"], **options, "bits": bits}


def _quant_kind(name: str, defaults: dict, keywords: Callable) -> ConvKindSpec:
    """A kind built as ``QuantConv2d(**keywords(options))``."""

    def options(given):
        _check_names(name, given, defaults)
        out = {**defaults, **given}
        if name == "kbit" and out["K"] is None:
            raise ValueError("conv kind 'kbit' needs the number of activation bits 'K'")
        quant_conv_options(**keywords(out))  # the layer's own checks, no layer built
        return out

    def make(options, c_in, c_out, k, *, stride, padding, init, rng, dtype):
        # options passed the layer's checks in options() above: not checked again
        checked = keywords(options)
        return QuantConv2d._from_checked(
            checked, c_in, c_out, k, stride=stride, padding=padding, rng=rng, dtype=dtype
        )

    return ConvKindSpec(make, options, lambda options: keywords(options)["activations"] != "fp")


_XNOR_DEFAULTS = {"weight_ste": "paper", "scale_input": True, "scale_grad": True, "zero_sign": 1}


def _xnor_options(given):
    _check_names("xnor", given, _XNOR_DEFAULTS)
    out = {**_XNOR_DEFAULTS, **given}
    return xnornet_options(**out)


def _xnor_make(options, c_in, c_out, k, *, stride, padding, init, rng, dtype):
    # options passed XNORConv2d's checks in _xnor_options: not checked again
    return XNORConv2d._from_checked(
        options, c_in, c_out, k, stride=stride, padding=padding, rng=rng, dtype=dtype
    )


#: Conv kind name -> how to make it (see the module docstring).
CONV_KINDS: dict[str, ConvKindSpec] = {
    "fp": ConvKindSpec(_fp_make, _fp_options, lambda options: False),
    "abc": ConvKindSpec(_abc_make, _abc_options, lambda options: options["N"] is not None),
    "bwn": _quant_kind(
        "bwn",
        {"weight_ste": "paper", "zero_sign": 1},
        lambda options: {**PRESETS["bwn"], **options},
    ),
    "xnor": ConvKindSpec(_xnor_make, _xnor_options, lambda options: True),
    "bnn": _quant_kind(
        "bnn",
        {"weight_ste": "identity", "clip_weights": True, "zero_sign": 1, "pad_value": 0.0},
        lambda options: {**PRESETS["bnn"], **options},
    ),
    "dorefa": _quant_kind(
        "dorefa",
        {
            "bits": 4,
            "weight_bits": 1,
            "per_channel": False,
            "rounding": "half_even",
            "zero_sign": 1,
        },
        _dorefa_keywords,
    ),
    "kbit": _quant_kind(
        "kbit",
        {"K": None, "weights": "fp", "weight_ste": None, "rounding": "half_even", "zero_sign": 1},
        _kbit_keywords,
    ),
}


def normalise_conv(conv, name: str = "conv") -> dict:
    """A conv config (kind name or dict) validated, with every default filled in."""
    if isinstance(conv, str):
        conv = {"kind": conv}
    if not isinstance(conv, dict) or "kind" not in conv:
        raise TypeError(f"{name} must be a kind name or a dict with a 'kind', got {conv!r}")
    kind = conv["kind"]
    check_choice(kind, f"{name}['kind']", set(CONV_KINDS))
    options = {k: v for k, v in conv.items() if k != "kind"}
    return {"kind": kind, **CONV_KINDS[kind].options(options)}


def conv_layer(
    conv,
    in_channels: int,
    out_channels: int,
    kernel_size,
    *,
    stride=1,
    padding=0,
    init: str = "he",
    rng: np.random.Generator | None = None,
    dtype=np.float32,
) -> Module:
    """Build one convolution of a kind, from the same spec a model config uses.

    Parameters
    ----------
    conv : str or dict
        A kind name (``"fp"``, ``"abc"``, ``"bwn"``, ``"xnor"``, ``"bnn"``,
        ``"dorefa"``, ``"kbit"``) or a dict with a ``"kind"`` and options,
        e.g. ``{"kind": "dorefa", "bits": 4}``.
    in_channels, out_channels : int
    kernel_size, stride, padding : int or (int, int)
    init : {"he", "pytorch"}
        Initialisation of a full-precision conv (the others use PyTorch's).
    rng : numpy.random.Generator, optional
    dtype : float32 or float64

    Examples
    --------
    >>> layer = conv_layer({"kind": "dorefa", "bits": 4}, 16, 32, 3, padding=1)
    >>> type(layer).__name__, layer.resolved_options["bits"]
    ('QuantConv2d', 4)
    """
    spec = normalise_conv(conv)
    check_choice(init, "init", INITS)
    return _make(spec, in_channels, out_channels, kernel_size, stride, padding, init, rng, dtype)


def _make(spec, c_in, c_out, k, stride, padding, init, rng, dtype) -> Module:
    options = {key: v for key, v in spec.items() if key != "kind"}
    return CONV_KINDS[spec["kind"]].make(
        options, c_in, c_out, k, stride=stride, padding=padding, init=init, rng=rng, dtype=dtype
    )


# -- config keys shared by every architecture ----------------------------------

COMMON_DEFAULTS = {
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


def normalise_config(config: dict, defaults: dict) -> dict:
    """Validate the shared keys of a model config and fill in every default.

    ``defaults`` are the architecture's own keys (checked by its builder).
    """
    allowed = set(COMMON_DEFAULTS) | set(defaults) | {"arch"}
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise ValueError(
            f"unknown model config keys {unknown} for arch {config.get('arch')!r}; "
            f"expected some of {sorted(allowed)}"
        )
    out = {**COMMON_DEFAULTS, **defaults, **copy.deepcopy(config)}
    out["in_channels"] = check_int(out["in_channels"], "in_channels", min_value=1)
    out["num_classes"] = check_int(out["num_classes"], "num_classes", min_value=2)
    out["conv"] = normalise_conv(out["conv"])
    check_bool(out["first_last_fp"], "first_last_fp")
    check_choice(out["activation"], "activation", set(ACTIVATIONS))
    check_choice(out["init"], "init", set(INITS))
    out["bn_momentum"] = check_real(out["bn_momentum"], "bn_momentum")
    out["bn_eps"] = check_real(out["bn_eps"], "bn_eps")
    check_choice(out["dtype"], "dtype", {"float32", "float64"})
    out["seed"] = check_int(out["seed"], "seed", min_value=0)
    return out


def finish(model: Module, config: dict) -> Module:
    """Set ``model.config`` to the complete config and return the model."""
    # JSON round trip: the stored config is exactly what a checkpoint holds.
    model.config = json.loads(json.dumps(config))
    return model


# -- building blocks from a normalised config ----------------------------------
# ``spec`` is a normalised conv config: config["conv"] for the inner convs,
# outer_spec(config) for the first conv and the classifier.


def outer_spec(config: dict) -> dict:
    """The kind of the first conv and the classifier (FP unless first_last_fp is off)."""
    return {"kind": "fp"} if config["first_last_fp"] else config["conv"]


def make_conv(spec, config, rng, c_in, c_out, k, *, stride=1, padding=0) -> Module:
    """A conv of kind ``spec`` with the config's init and dtype."""
    dtype = np.dtype(config["dtype"])
    return _make(spec, c_in, c_out, k, stride, padding, config["init"], rng, dtype)


def conv_factory(spec, config, rng) -> Callable[..., Module]:
    """``factory(c_in, c_out, k, *, stride, padding, rng, dtype)`` for residual blocks."""

    def factory(c_in, c_out, k, *, stride, padding, rng=rng, dtype=None):
        return make_conv(spec, config, rng, c_in, c_out, k, stride=stride, padding=padding)

    return factory


def input_activation(spec, config) -> Module | None:
    """The nonlinearity feeding a conv of kind ``spec`` (None if it binarises its input)."""
    options = {k: v for k, v in spec.items() if k != "kind"}
    if CONV_KINDS[spec["kind"]].binarizes_input(options):
        return None
    return ACTIVATIONS[config["activation"]]()


def batchnorm(c: int, config) -> BatchNorm2d:
    """A batch norm with the config's momentum, eps and dtype."""
    return BatchNorm2d(
        c, momentum=config["bn_momentum"], eps=config["bn_eps"], dtype=np.dtype(config["dtype"])
    )


def classifier(c_in: int, config, rng) -> Module:
    """The final layer on pooled (N, C) features.

    A full-precision ``Linear`` with bias; with ``first_last_fp=False``
    ``[activation] -> unflatten -> 1x1 conv of the inner kind -> flatten``
    (an ABC conv has no bias, so neither has this classifier).
    """
    spec = outer_spec(config)
    num_classes = config["num_classes"]
    if spec["kind"] == "fp":
        dtype = np.dtype(config["dtype"])
        return Linear(c_in, num_classes, init=config["init"], rng=rng, dtype=dtype)
    layers = {}
    act = input_activation(spec, config)
    if act is not None:
        layers["act"] = act
    layers["unflatten"] = Unflatten2d()
    layers["conv"] = make_conv(spec, config, rng, c_in, num_classes, 1)
    layers["flatten"] = Flatten()
    return Sequential(**layers)
