"""Residual networks: the CIFAR ResNet and the ImageNet ResNet-18, -34 and -50 of Table 2.

Blocks
------
:class:`BasicBlock` (two 3x3 convs) and :class:`Bottleneck` (1x1, 3x3, 1x1)
take any conv factory, so their residual path can be ABC-Net's (or any
conv kind of :mod:`abcref.nn.config`). A conv's input nonlinearity belongs
to the conv: a full-precision (or BWN, weight-only ABC) conv is fed by the
model's activation (ReLU), a binarising conv (ABC with N, XNOR, BNN,
DoReFa, K-bit) binarises its own input. Inside a block every conv but the
first reads a BN output; the first reads the block input, which is a sum
of BN outputs (the previous block's last BN plus its shortcut), or the
stem's ``bn1``. There is no activation after the residual sum.

CIFAR ResNet (He et al., 2016, §4.2)
------------------------------------
::

    conv1  FP 3x3 in->w, bn1
    layer1 n BasicBlocks, w channels,   stride 1
    layer2 n BasicBlocks, 2w channels,  first stride 2 (projection)
    layer3 n BasicBlocks, 4w channels,  first stride 2 (projection)
    gap, fc FP linear 4w->classes

with ``depth = 6 n + 2``; strided convs downsample (no max-pool).

ImageNet ResNet-18, -34, -50 (He et al., 2016, Table 1)
-------------------------------------------------------
::

    conv1   7x7/2, 3 -> w (pad 3)            first layer, FP by default
    pool1   3x3/2 max-pool (pad 1)           BEFORE bn1 (ABC-Net §3.3)
    bn1
    layer1  blocks at w channels,  stride 1
    layer2  blocks at 2w channels, first block stride 2 (projection)
    layer3  blocks at 4w channels, first block stride 2 (projection)
    layer4  blocks at 8w channels, first block stride 2 (projection)
    gap     global average pool
    fc      linear -> num_classes              last layer, FP by default

=========  ===========================  =========================
arch       blocks per stage             block
=========  ===========================  =========================
resnet18   [2, 2, 2, 2]                 BasicBlock (3x3, 3x3)
resnet34   [3, 4, 6, 3]                 BasicBlock
resnet50   [3, 4, 6, 3]                 Bottleneck (1x1, 3x3, 1x1), expansion 4
=========  ===========================  =========================

With ``w = 64`` (the default ``width``), 3 input channels and 1000
classes the full-precision models have exactly torchvision's parameter
counts: 11,689,512 / 21,797,672 / 25,557,032 (BN has a weight and a bias,
convs no bias, the classifier a bias). An ABC conv with binary
activations adds its ``v`` and ``beta`` (N each) per conv. The max-pool of
the stem comes right after ``conv1``, before ``bn1`` and before any
binarisation (max-pooling +-1 values would give mostly +1). No extra
batch norm is inserted, so the parameter counts above hold.

Differences from torchvision's graph (same parameters, different order):
``pool1`` precedes ``bn1``; ReLU sits in front of each conv of the main
path rather than after each BN and after the sum, so the shortcut carries
the un-rectified block input. Downsampling in the bottleneck is on the
3x3 conv (torchvision's "ResNet v1.5"); projection shortcuts (1x1 conv +
BN) are used exactly where the shape changes (He et al.'s option B).
"""

from __future__ import annotations

import numpy as np

from abcref import ops
from abcref._checks import check_bool, check_float_dtype, check_int, check_rng
from abcref.nn.config import (
    batchnorm,
    classifier,
    conv_factory,
    finish,
    input_activation,
    make_conv,
    normalise_config,
    outer_spec,
)
from abcref.nn.layers import BatchNorm2d, Conv2d, GlobalAvgPool2d, MaxPool2d, ReLU
from abcref.nn.module import Module, Sequential

# -- blocks ---------------------------------------------------------------------


class ResidualBlock(Module):
    """Shared body of :class:`BasicBlock` and the ImageNet ``Bottleneck``.

    A chain of ``[act_i] -> conv_i -> bn_i`` stages (children named
    ``act1, conv1, bn1, act2, ...``), a shortcut (identity, or a 1x1
    ``shortcut_conv`` + BN projection) and their sum. Subclasses describe
    their stages and call :meth:`_build`; forward and backward are here.
    """

    def _build(
        self, stages, *, stride, conv, activation, shortcut_conv, projection, bn, rng, dtype
    ) -> None:
        """Create the stages ``(c_in, c_out, kernel, stride, padding)`` and the shortcut."""
        for i, (a, b, k, s, p) in enumerate(stages, start=1):
            act = activation() if activation is not None else None
            if act is not None:
                setattr(self, f"act{i}", act)
            setattr(self, f"conv{i}", conv(a, b, k, stride=s, padding=p, rng=rng, dtype=dtype))
            setattr(self, f"bn{i}", BatchNorm2d(b, **bn))
        c_in, c_out = stages[0][0], stages[-1][1]
        if projection is None:
            projection = stride != 1 or c_in != c_out
        if not projection and (stride != 1 or c_in != c_out):
            raise ValueError(
                f"an identity shortcut needs stride=1 and as many output channels as input "
                f"channels, got stride={stride}, {c_in} -> {c_out}"
            )
        if projection:
            sc = shortcut_conv(c_in, c_out, 1, stride=stride, padding=0, rng=rng, dtype=dtype)
            self.shortcut = _SequentialShortcut(sc, BatchNorm2d(c_out, **bn))
        # A list of children: compile_model re-points it at compiled copies.
        self._main = [m for name, m in self.children().items() if name != "shortcut"]

    def forward(self, x):
        """``x`` (N, C_in, H, W) -> main path + shortcut, (N, C_out, Ho, Wo)."""
        main = x
        for layer in self._main:
            main = layer.forward(main)
        short = self.shortcut.forward(x) if "shortcut" in self._modules else x
        out, self._cache = ops.residual_add_forward(main, short)
        return out

    def backward(self, dout):
        """Backward through both paths; returns ``dc/dx``."""
        dmain, dshort = ops.residual_add_backward(dout, self._take_cache())
        for layer in reversed(self._main):
            dmain = layer.backward(dmain)
        if "shortcut" in self._modules:
            dshort = self.shortcut.backward(dshort)
        return dmain + dshort


class BasicBlock(ResidualBlock):
    """Residual block with two 3x3 convolutions (He et al., 2016).

    ::

        main:     [act1] -> conv1 (stride) -> bn1 -> [act2] -> conv2 -> bn2
        shortcut: identity, or 1x1 conv (stride) -> bn  (projection)
        out = main + shortcut

    Parameters
    ----------
    in_channels, out_channels : int
    stride : int
        Of conv1 and of the projection.
    conv : callable
        ``conv(in_channels, out_channels, kernel_size, *, stride, padding,
        rng, dtype) -> Module``: makes conv1 and conv2. Pass an ABC-Net
        factory (e.g. ``functools.partial(ABCConv2d, M=3, N=3)``) to make
        the residual path binary.
    activation : callable or None
        ``activation() -> Module or None``: the nonlinearity in front of
        each conv of the main path. For a full-precision conv this is
        ``ReLU``; for an ABC conv with binary activations it is None,
        because ``ABCConv2d`` binarises its own input (eq. 11).
    shortcut_conv : callable, optional
        Factory for the projection (default: full-precision ``Conv2d``
        without bias). The projection has no activation of its own; an
        ABC factory here binarises the block input inside the conv.
    projection : bool, optional
        Force (True) or forbid (False) the projection; default: only when
        ``stride != 1`` or the channel count changes.
    bn_momentum, bn_eps : float
    rng : numpy.random.Generator, optional
    dtype : float32 or float64

    Notes
    -----
    There is no activation after the sum: the next block's (or the
    classifier's) input nonlinearity is that layer's own (see the module
    docstring), so a full-precision and an ABC block differ only in what
    happens at each conv's input.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        stride: int = 1,
        conv=None,
        activation=ReLU,
        shortcut_conv=None,
        projection: bool | None = None,
        bn_momentum: float = 0.1,
        bn_eps: float = 1e-5,
        rng: np.random.Generator | None = None,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        c_in = check_int(in_channels, "in_channels", min_value=1)
        c_out = check_int(out_channels, "out_channels", min_value=1)
        stride = check_int(stride, "stride", min_value=1)
        rng = check_rng(rng)
        dtype = check_float_dtype(dtype)
        conv = conv or _fp_conv
        shortcut_conv = shortcut_conv or _fp_conv
        bn = {"momentum": bn_momentum, "eps": bn_eps, "dtype": dtype}

        stages = ((c_in, c_out, 3, stride, 1), (c_out, c_out, 3, 1, 1))
        self._build(
            stages,
            stride=stride,
            conv=conv,
            activation=activation,
            shortcut_conv=shortcut_conv,
            projection=projection,
            bn=bn,
            rng=rng,
            dtype=dtype,
        )


class Bottleneck(ResidualBlock):
    """ResNet-50's bottleneck block (He et al., 2016, Fig. 5 right).

    ::

        main:     [act1] -> conv1 1x1 (c_in -> w) -> bn1
                  -> [act2] -> conv2 3x3 (w -> w, stride) -> bn2
                  -> [act3] -> conv3 1x1 (w -> 4w) -> bn3
        shortcut: identity, or 1x1 conv (stride) -> bn  (projection)
        out = main + shortcut

    Parameters
    ----------
    in_channels : int
    width : int
        Channels of the two inner convs; the block outputs
        ``expansion * width`` channels.
    stride : int
        Of the 3x3 conv and of the projection (torchvision's v1.5).
    conv, activation, shortcut_conv, bn_momentum, bn_eps, rng, dtype
        As :class:`BasicBlock`.
    expansion : int
        Output channels per inner channel (default 4).
    projection : bool, optional
        Force or forbid the projection; default: only when the stride or
        the channel count changes.

    Notes
    -----
    No activation after the sum (see the module docstring); conv2 and
    conv3 read BN outputs, conv1 reads the block input.
    """

    def __init__(
        self,
        in_channels: int,
        width: int,
        *,
        stride: int = 1,
        conv=None,
        activation=ReLU,
        shortcut_conv=None,
        expansion: int = 4,
        projection: bool | None = None,
        bn_momentum: float = 0.1,
        bn_eps: float = 1e-5,
        rng: np.random.Generator | None = None,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        c_in = check_int(in_channels, "in_channels", min_value=1)
        w = check_int(width, "width", min_value=1)
        stride = check_int(stride, "stride", min_value=1)
        expansion = check_int(expansion, "expansion", min_value=1)
        c_out = w * expansion
        rng, dtype = check_rng(rng), check_float_dtype(dtype)
        conv = conv or _fp_conv
        shortcut_conv = shortcut_conv or _fp_conv
        bn = {"momentum": bn_momentum, "eps": bn_eps, "dtype": dtype}

        stages = ((c_in, w, 1, 1, 0), (w, w, 3, stride, 1), (w, c_out, 1, 1, 0))
        self._build(
            stages,
            stride=stride,
            conv=conv,
            activation=activation,
            shortcut_conv=shortcut_conv,
            projection=projection,
            bn=bn,
            rng=rng,
            dtype=dtype,
        )


def _fp_conv(in_channels, out_channels, kernel_size, *, stride, padding, rng, dtype):
    return Conv2d(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        padding=padding,
        bias=False,
        rng=rng,
        dtype=dtype,
    )


class _SequentialShortcut(Module):
    """conv -> bn, with children named ``conv`` and ``bn``."""

    def __init__(self, conv: Module, bn: Module) -> None:
        super().__init__()
        self.conv = conv
        self.bn = bn

    def forward(self, x):
        return self.bn.forward(self.conv.forward(x))

    def backward(self, dout):
        return self.conv.backward(self.bn.backward(dout))


# -- the CIFAR ResNet ------------------------------------------------------------

_CIFAR_DEFAULTS = {"depth": 20, "width": 16, "in_channels": 3, "binary_shortcut": False}


def _block_kwargs(config, rng) -> dict:
    """What every block of a model shares: its conv kinds, activation, BN, rng, dtype."""
    inner = config["conv"]
    shortcut = inner if config["binary_shortcut"] else {"kind": "fp"}
    return {
        "conv": conv_factory(inner, config, rng),
        "activation": lambda: input_activation(inner, config),
        "shortcut_conv": conv_factory(shortcut, config, rng),
        "bn_momentum": config["bn_momentum"],
        "bn_eps": config["bn_eps"],
        "rng": rng,
        "dtype": np.dtype(config["dtype"]),
    }


def _stem_activation(layers: dict, config) -> None:
    """``act1`` in front of a non-FP first conv that does not binarise its input."""
    spec = outer_spec(config)
    if spec["kind"] != "fp":
        act = input_activation(spec, config)
        if act is not None:
            layers["act1"] = act


def cifar_resnet(**options) -> Module:
    """A CIFAR-style ResNet (He et al., 2016, §4.2) for small images (module docstring).

    Each block is a :class:`BasicBlock` with the inner conv kind on its
    main path; there is no max-pool (strided convs downsample).

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
        As in :func:`abcref.nn.models.small_cnn`.
    """
    config = normalise_config({"arch": "cifar_resnet", **options}, _CIFAR_DEFAULTS)
    depth = check_int(config["depth"], "depth", min_value=8)
    if (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 (8, 14, 20, ...), got {depth}")
    width = check_int(config["width"], "width", min_value=1)
    check_bool(config["binary_shortcut"], "binary_shortcut")
    n = (depth - 2) // 6

    rng = np.random.default_rng(config["seed"])
    layers: dict[str, Module] = {}
    _stem_activation(layers, config)
    layers["conv1"] = make_conv(
        outer_spec(config), config, rng, config["in_channels"], width, 3, padding=1
    )
    layers["bn1"] = batchnorm(width, config)
    common = _block_kwargs(config, rng)
    c_in = width
    for stage in range(3):
        c_out = width * 2**stage
        blocks = []
        for j in range(n):
            stride = 2 if (stage > 0 and j == 0) else 1
            blocks.append(BasicBlock(c_in, c_out, stride=stride, **common))
            c_in = c_out
        layers[f"layer{stage + 1}"] = Sequential(*blocks)
    layers["gap"] = GlobalAvgPool2d()
    layers["fc"] = classifier(c_in, config, rng)
    return finish(Sequential(**layers), config)


# -- the ImageNet ResNets (Table 2) -------------------------------------------------

#: arch -> (block, blocks per stage).
RESNET_STAGES = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
}

_IMAGENET_DEFAULTS = {
    "in_channels": 3,
    "num_classes": 1000,
    "width": 64,
    "binary_shortcut": False,
}


def imagenet_resnet(arch: str, **options) -> Module:
    """Build ``"resnet18"``, ``"resnet34"`` or ``"resnet50"`` (module docstring).

    Parameters
    ----------
    arch : {"resnet18", "resnet34", "resnet50"}
    width : int
        Channels of the first stage (default 64; stages w, 2w, 4w, 8w,
        times 4 at the output of ResNet-50's blocks). A smaller width
        gives the same topology at laptop size.
    binary_shortcut : bool
        Projection shortcuts of the inner kind (default False: FP 1x1).
    conv, in_channels, num_classes, first_last_fp, activation, init,
    bn_momentum, bn_eps, dtype, seed
        As in :func:`abcref.nn.models.small_cnn`; defaults 3 input
        channels and 1000 classes.

    Returns
    -------
    Sequential
        Children ``conv1``, ``pool1``, ``bn1``, ``layer1`` ... ``layer4``,
        ``gap``, ``fc`` (plus ``act1`` when a non-FP first layer needs an
        activation); ``model.config`` is the complete config.
    """
    config = normalise_config({"arch": arch, **options}, _IMAGENET_DEFAULTS)
    block_kind, stages = RESNET_STAGES[arch]
    width = check_int(config["width"], "width", min_value=1)
    check_bool(config["binary_shortcut"], "binary_shortcut")

    rng = np.random.default_rng(config["seed"])
    layers: dict[str, Module] = {}
    _stem_activation(layers, config)
    layers["conv1"] = make_conv(
        outer_spec(config), config, rng, config["in_channels"], width, 7, stride=2, padding=3
    )
    layers["pool1"] = MaxPool2d(3, stride=2, padding=1)  # before bn1 (§3.3)
    layers["bn1"] = batchnorm(width, config)
    common = _block_kwargs(config, rng)
    c_in = width
    for stage, n_blocks in enumerate(stages):
        stage_width = width * 2**stage
        blocks = []
        for j in range(n_blocks):
            stride = 2 if (stage > 0 and j == 0) else 1
            if block_kind == "basic":
                blocks.append(BasicBlock(c_in, stage_width, stride=stride, **common))
                c_in = stage_width
            else:
                blocks.append(Bottleneck(c_in, stage_width, stride=stride, **common))
                c_in = 4 * stage_width
        layers[f"layer{stage + 1}"] = Sequential(*blocks)
    layers["gap"] = GlobalAvgPool2d()
    layers["fc"] = classifier(c_in, config, rng)
    return finish(Sequential(**layers), config)


def resnet18(**options) -> Module:
    """ImageNet-style ResNet-18 (see :func:`imagenet_resnet`)."""
    return imagenet_resnet("resnet18", **options)


def resnet34(**options) -> Module:
    """ImageNet-style ResNet-34 (see :func:`imagenet_resnet`)."""
    return imagenet_resnet("resnet34", **options)


def resnet50(**options) -> Module:
    """ImageNet-style ResNet-50 with bottleneck blocks (see :func:`imagenet_resnet`)."""
    return imagenet_resnet("resnet50", **options)


#: The residual architectures, by config ``arch`` name.
RESNET_ARCHITECTURES = {
    "cifar_resnet": cifar_resnet,
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
}
