"""Residual networks: the CIFAR ResNet and the ImageNet ResNet-18, -34 and -50 of Table 2.

Every binarisation reads a batch-norm output
--------------------------------------------
ABC-Net normalises before it binarises (§3.2: "We apply this
normalization before activation"), and §5.3 folds exactly that batch
norm into the comparators of the binary activations. The blocks are
therefore *pre-activation* blocks (He et al., 2016b) in XNOR-Net's order
``BN -> binarise -> binary conv``, with the shortcut added after. The ABC
network and its full-precision baseline are one graph; they differ only
at the input of each conv of the residual path, where ABC binarises
(inside its conv, eq. 11) and the baseline applies ReLU::

    ABC-Net BasicBlock                        full-precision BasicBlock
    bn1                                       bn1
    conv1 ABC 3x3/s  (binarises bn1's output) act1 ReLU, conv1 3x3/s
    bn2                                       bn2
    conv2 ABC 3x3    (binarises bn2's output) act2 ReLU, conv2 3x3
    out = conv2 + shortcut                    out = conv2 + shortcut

    shortcut: identity, or (stride s or channels change) a projection
              1x1/s conv -> bn, reading the block input x when it is
              full precision (the default); with ``binary_shortcut`` it is
              of the inner kind and reads what conv1 reads (bn1's output,
              so it too binarises a BN output; through act1 for a kind
              that needs an activation).

The bottleneck is the same with three stages, ``bn1 -> [act] -> conv1
1x1 -> bn2 -> [act] -> conv2 3x3/s -> bn3 -> [act] -> conv3 1x1``. ``[act]``
is the model's activation (ReLU) in front of a full-precision or
weight-only conv (FP, BWN, ABC with ``N = None``) and nothing in front of a
conv that binarises its input (ABC with N, XNOR, BNN, DoReFa, K-bit). There
is no activation after the sum. Every binarising conv of a block reads a
BN output, so :func:`abcref.compiler.compile_model` folds every one of
those BNs into thresholds (section 5.3), inside the blocks too.

Stem and head, for both: the first conv (full precision by default) [->
max-pool] feeds the first block, whose ``bn1`` normalises it; the max-pool
comes before any BN and binarisation (§3.3: max-pooling +-1 values gives
mostly +1). After the last block ``bn_final -> gap -> fc``: the classifier
reads a BN output with no activation, as in ``small_cnn``.

CIFAR ResNet (He et al., 2016a, §4.2)
-------------------------------------
::

    conv1     FP 3x3 in->w, pad 1
    layer1    n BasicBlocks, w channels,   stride 1
    layer2    n BasicBlocks, 2w channels,  first stride 2 (projection)
    layer3    n BasicBlocks, 4w channels,  first stride 2 (projection)
    bn_final  4w
    gap, fc   FP linear 4w->classes

with ``depth = 6 n + 2``; strided convs downsample (no max-pool).

ImageNet ResNet-18, -34, -50 (He et al., 2016a, Table 1)
--------------------------------------------------------
::

    conv1     7x7/2, 3 -> w (pad 3)           first layer, FP by default
    pool1     3x3/2 max-pool (pad 1)          before any BN (§3.3)
    layer1    blocks at w channels,  stride 1
    layer2    blocks at 2w channels, first block stride 2 (projection)
    layer3    blocks at 4w channels, first block stride 2 (projection)
    layer4    blocks at 8w channels, first block stride 2 (projection)
    bn_final  the last block's output channels
    gap       global average pool
    fc        linear -> num_classes             last layer, FP by default

=========  ===========================  =========================
arch       blocks per stage             block
=========  ===========================  =========================
resnet18   [2, 2, 2, 2]                 BasicBlock (3x3, 3x3)
resnet34   [3, 4, 6, 3]                 BasicBlock
resnet50   [3, 4, 6, 3]                 Bottleneck (1x1, 3x3, 1x1), expansion 4
=========  ===========================  =========================

Parameter counts and torchvision
--------------------------------
The convs and the classifier are torchvision's, weight for weight: the
same shapes, downsampling on the bottleneck's 3x3 conv (torchvision's
"ResNet v1.5"), projection shortcuts (1x1 conv + BN) exactly where the
shape changes (He et al.'s option B). The batch norms sit elsewhere,
because a pre-activation BN normalises a conv's *input*, not its output:
each block's ``bn_i`` has the input channels of ``conv_i`` (torchvision:
its output channels), the stem has no BN of its own (the first block's
``bn1`` normalises it) and ``bn_final`` is added. The BN channels moved
from outputs to inputs add up, over the chain of blocks, to "first
block's input minus last block's output", which is exactly what dropping
the stem's BN and adding ``bn_final`` gives back; so with ``w = 64``, 3
input channels and 1000 classes the full-precision models have
torchvision's totals, 11,689,512 / 21,797,672 / 25,557,032, with
differently shaped BNs (tested against an independent count of this
graph). An ABC conv with binary activations adds its ``v`` and ``beta``
(N each).
"""

from __future__ import annotations

import numpy as np

from abcref import ops
from abcref._checks import check_bool, check_choice, check_float_dtype, check_int, check_rng
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

#: Where a projection shortcut reads: the block input, or what conv1 reads.
SHORTCUT_INPUTS = ("x", "preactivation")

# -- blocks ---------------------------------------------------------------------


class ResidualBlock(Module):
    """Shared body of :class:`BasicBlock` and :class:`Bottleneck`.

    A main path of ``bn_i -> [act_i] -> conv_i`` stages (children named
    ``bn1, act1, conv1, bn2, ...``), a shortcut (identity, or a 1x1
    ``shortcut`` conv + BN projection) and their sum. Subclasses describe
    their stages and call :meth:`_build`; forward and backward are here.
    """

    def _build(
        self,
        stages,
        *,
        stride,
        conv,
        activation,
        shortcut_conv,
        projection,
        shortcut_input,
        bn,
        rng,
        dtype,
    ) -> None:
        """Create the stages ``(c_in, c_out, kernel, stride, padding)`` and the shortcut."""
        check_choice(shortcut_input, "shortcut_input", SHORTCUT_INPUTS)
        for i, (a, b, k, s, p) in enumerate(stages, start=1):
            setattr(self, f"bn{i}", BatchNorm2d(a, **bn))  # normalises conv_i's input
            act = activation() if activation is not None else None
            if act is not None:
                setattr(self, f"act{i}", act)
            setattr(self, f"conv{i}", conv(a, b, k, stride=s, padding=p, rng=rng, dtype=dtype))
        # Names, not modules: compile_model swaps children and the path follows.
        self._main = tuple(self.children())
        c_in, c_out = stages[0][0], stages[-1][1]
        if projection is None:
            projection = stride != 1 or c_in != c_out
        if not projection and (stride != 1 or c_in != c_out):
            raise ValueError(
                f"an identity shortcut needs stride=1 and as many output channels as input "
                f"channels, got stride={stride}, {c_in} -> {c_out}"
            )
        # The shortcut reads the input of main[_tap]: x (0) or conv1's input.
        self._tap = 0
        if projection:
            sc = shortcut_conv(c_in, c_out, 1, stride=stride, padding=0, rng=rng, dtype=dtype)
            self.shortcut = _SequentialShortcut(sc, BatchNorm2d(c_out, **bn))
            if shortcut_input == "preactivation":
                self._tap = self._main.index("conv1")

    def readers(self) -> dict[str, list[str]]:
        """``{child: [what reads its output]}``, dotted names within the block.

        Every reader of each main-path output is listed (the last one's
        goes to the sum), so :func:`abcref.compiler.compile_model` can fold
        a batch norm into the binary convs that read it.
        """
        readers = {a: [b] for a, b in zip(self._main, self._main[1:], strict=False)}
        if self._tap > 0:
            readers[self._main[self._tap - 1]].append("shortcut.conv")
        return readers

    def forward(self, x):
        """``x`` (N, C_in, H, W) -> main path + shortcut, (N, C_out, Ho, Wo)."""
        h = tap = x
        for i, name in enumerate(self._main):
            if i == self._tap:
                tap = h
            h = self._modules[name].forward(h)
        short = self.shortcut.forward(tap) if "shortcut" in self._modules else x
        out, self._cache = ops.residual_add_forward(h, short)
        return out

    def backward(self, dout):
        """Backward through both paths; returns ``dc/dx``."""
        dmain, dshort = ops.residual_add_backward(dout, self._take_cache())
        if "shortcut" in self._modules:
            dshort = self.shortcut.backward(dshort)
        for i in reversed(range(len(self._main))):
            dmain = self._modules[self._main[i]].backward(dmain)
            if i == self._tap:  # the shortcut read this layer's input too
                dmain = dmain + dshort
        return dmain


class BasicBlock(ResidualBlock):
    """Pre-activation residual block with two 3x3 convolutions (He et al., 2016b).

    ::

        main:     bn1 -> [act1] -> conv1 (3x3, stride) -> bn2 -> [act2] -> conv2 (3x3)
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
        ``activation() -> Module or None``: the nonlinearity between each
        BN and the conv it feeds. For a full-precision conv this is
        ``ReLU``; for an ABC conv with binary activations it is None,
        because ``ABCConv2d`` binarises its own input (eq. 11).
    shortcut_conv : callable, optional
        Factory for the projection (default: full-precision ``Conv2d``
        without bias).
    projection : bool, optional
        Force (True) or forbid (False) the projection; default: only when
        ``stride != 1`` or the channel count changes.
    shortcut_input : {"x", "preactivation"}
        What a projection reads: the block input ``x`` (default, for a
        full-precision projection), or conv1's input (bn1's output, after
        act1 if there is one), so that a binarising projection binarises a
        BN output. An identity shortcut always carries ``x``.
    bn_momentum, bn_eps : float
    rng : numpy.random.Generator, optional
    dtype : float32 or float64

    Notes
    -----
    ``bn1`` has ``in_channels`` channels (it normalises conv1's input),
    ``bn2`` ``out_channels``. There is no activation after the sum (see the
    module docstring).
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
        shortcut_input: str = "x",
        bn_momentum: float = 0.1,
        bn_eps: float = 1e-5,
        rng: np.random.Generator | None = None,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        c_in = check_int(in_channels, "in_channels", min_value=1)
        c_out = check_int(out_channels, "out_channels", min_value=1)
        stride = check_int(stride, "stride", min_value=1)
        dtype = check_float_dtype(dtype)
        self._build(
            ((c_in, c_out, 3, stride, 1), (c_out, c_out, 3, 1, 1)),
            stride=stride,
            conv=conv or _fp_conv,
            activation=activation,
            shortcut_conv=shortcut_conv or _fp_conv,
            projection=projection,
            shortcut_input=shortcut_input,
            bn={"momentum": bn_momentum, "eps": bn_eps, "dtype": dtype},
            rng=check_rng(rng),
            dtype=dtype,
        )


class Bottleneck(ResidualBlock):
    """Pre-activation bottleneck block of ResNet-50 (He et al., 2016a Fig. 5; 2016b).

    ::

        main:     bn1 -> [act1] -> conv1 1x1 (c_in -> w)
                  -> bn2 -> [act2] -> conv2 3x3 (w -> w, stride)
                  -> bn3 -> [act3] -> conv3 1x1 (w -> expansion * w)
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
    conv, activation, shortcut_conv, shortcut_input, bn_momentum, bn_eps, rng, dtype
        As :class:`BasicBlock`.
    expansion : int
        Output channels per inner channel (default 4).
    projection : bool, optional
        Force or forbid the projection; default: only when the stride or
        the channel count changes.

    Notes
    -----
    The BNs have ``in_channels``, ``width`` and ``width`` channels (each
    normalises its conv's input).
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
        shortcut_input: str = "x",
        bn_momentum: float = 0.1,
        bn_eps: float = 1e-5,
        rng: np.random.Generator | None = None,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        c_in = check_int(in_channels, "in_channels", min_value=1)
        w = check_int(width, "width", min_value=1)
        stride = check_int(stride, "stride", min_value=1)
        c_out = w * check_int(expansion, "expansion", min_value=1)
        dtype = check_float_dtype(dtype)
        self._build(
            ((c_in, w, 1, 1, 0), (w, w, 3, stride, 1), (w, c_out, 1, 1, 0)),
            stride=stride,
            conv=conv or _fp_conv,
            activation=activation,
            shortcut_conv=shortcut_conv or _fp_conv,
            projection=projection,
            shortcut_input=shortcut_input,
            bn={"momentum": bn_momentum, "eps": bn_eps, "dtype": dtype},
            rng=check_rng(rng),
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


# -- shared by both builders -------------------------------------------------------


def _block_kwargs(config, rng) -> dict:
    """What every block of a model shares: its conv kinds, activation, BN, rng, dtype."""
    inner = config["conv"]
    binary_shortcut = config["binary_shortcut"]
    shortcut = inner if binary_shortcut else {"kind": "fp"}
    return {
        "conv": conv_factory(inner, config, rng),
        "activation": lambda: input_activation(inner, config),
        "shortcut_conv": conv_factory(shortcut, config, rng),
        "shortcut_input": "preactivation" if binary_shortcut else "x",
        "bn_momentum": config["bn_momentum"],
        "bn_eps": config["bn_eps"],
        "rng": rng,
        "dtype": np.dtype(config["dtype"]),
    }


def _stem(config, rng, kernel: int, stride: int, padding: int) -> dict[str, Module]:
    """``[act1] -> conv1``: act1 only in front of a non-FP first conv that needs one."""
    layers: dict[str, Module] = {}
    spec = outer_spec(config)
    if spec["kind"] != "fp":
        act = input_activation(spec, config)
        if act is not None:
            layers["act1"] = act
    layers["conv1"] = make_conv(
        spec,
        config,
        rng,
        config["in_channels"],
        config["width"],
        kernel,
        stride=stride,
        padding=padding,
    )
    return layers


def _head(layers: dict, c_in: int, config, rng) -> Module:
    """``bn_final -> gap -> fc`` after the last block; the finished model."""
    layers["bn_final"] = batchnorm(c_in, config)
    layers["gap"] = GlobalAvgPool2d()
    layers["fc"] = classifier(c_in, config, rng)
    return finish(Sequential(**layers), config)


# -- the CIFAR ResNet ------------------------------------------------------------

_CIFAR_DEFAULTS = {"depth": 20, "width": 16, "in_channels": 3, "binary_shortcut": False}


def cifar_resnet(**options) -> Module:
    """A CIFAR-style pre-activation ResNet (He et al., 2016a §4.2; module docstring).

    Each block is a :class:`BasicBlock` with the inner conv kind on its
    main path; there is no max-pool (strided convs downsample).

    Parameters
    ----------
    depth : int
        6n + 2 (8, 14, 20, 32, ...).
    width : int
        Channels of the first stage.
    binary_shortcut : bool
        Projection shortcuts use the inner kind too and read bn1's output
        (default False: full-precision 1x1 convs on the block input, as in
        most binary ResNets).
    conv, in_channels, num_classes, first_last_fp, activation, init,
    bn_momentum, bn_eps, dtype, seed
        As in :func:`abcref.nn.models.small_cnn`.

    Returns
    -------
    Sequential
        Children ``conv1``, ``layer1`` ... ``layer3``, ``bn_final``,
        ``gap``, ``fc`` (plus ``act1`` when a non-FP first layer needs an
        activation); ``model.config`` is the complete config.
    """
    config = normalise_config({"arch": "cifar_resnet", **options}, _CIFAR_DEFAULTS)
    depth = check_int(config["depth"], "depth", min_value=8)
    if (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 (8, 14, 20, ...), got {depth}")
    width = check_int(config["width"], "width", min_value=1)
    check_bool(config["binary_shortcut"], "binary_shortcut")
    n = (depth - 2) // 6

    rng = np.random.default_rng(config["seed"])
    layers = _stem(config, rng, 3, 1, 1)
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
    return _head(layers, c_in, config, rng)


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
        Projection shortcuts of the inner kind, reading bn1's output
        (default False: FP 1x1 on the block input).
    conv, in_channels, num_classes, first_last_fp, activation, init,
    bn_momentum, bn_eps, dtype, seed
        As in :func:`abcref.nn.models.small_cnn`; defaults 3 input
        channels and 1000 classes.

    Returns
    -------
    Sequential
        Children ``conv1``, ``pool1``, ``layer1`` ... ``layer4``,
        ``bn_final``, ``gap``, ``fc`` (plus ``act1`` when a non-FP first
        layer needs an activation); ``model.config`` is the complete
        config.
    """
    config = normalise_config({"arch": arch, **options}, _IMAGENET_DEFAULTS)
    block_kind, stages = RESNET_STAGES[arch]
    width = check_int(config["width"], "width", min_value=1)
    check_bool(config["binary_shortcut"], "binary_shortcut")

    rng = np.random.default_rng(config["seed"])
    layers = _stem(config, rng, 7, 2, 3)
    layers["pool1"] = MaxPool2d(3, stride=2, padding=1)  # before any BN (§3.3)
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
    return _head(layers, c_in, config, rng)


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
