"""ImageNet-style ResNet-18, -34 and -50: the topologies of the paper's Table 2.

He et al. (2016), Table 1, with any conv kind of :mod:`abcref.nn.models`
(``"abc"`` with M, N; ``"bwn"``, ``"xnor"``, ``"bnn"``, ``"dorefa"``,
``"kbit"``; ``"fp"``)::

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
activations adds its ``v`` and ``beta`` (N each) per conv.

Layer order (ABC-Net §3.3)
--------------------------
As in :func:`abcref.nn.models.cifar_resnet`, a conv's input nonlinearity
belongs to the conv: a full-precision (or BWN, weight-only ABC) conv is fed
by the model's activation (ReLU), a binarising conv (ABC with N, XNOR,
BNN, DoReFa, K-bit) binarises its own input. Inside a block every conv but
the first reads a BN output; the first reads the block input, which is a
sum of BN outputs (the previous block's last BN plus its shortcut), or
``bn1`` of the stem. There is no activation after the residual sum, and
the max-pool of the stem comes right after ``conv1``, before ``bn1`` and
before any binarisation (max-pooling +-1 values would give mostly +1).
No extra batch norm is inserted, so the parameter counts above hold.

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
from abcref._checks import check_float_dtype, check_int, check_pair, check_rng
from abcref.nn.layers import (
    BasicBlock,
    GlobalAvgPool2d,
    ReLU,
    ResidualBlock,
    _fp_conv,
)
from abcref.nn.module import Module, Sequential

#: arch -> (block name, blocks per stage).
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


class PaddedMaxPool2d(Module):
    """Max pooling with padding (the 3x3/2, pad 1 pool of the ResNet stem).

    The border is padded with the lowest finite value of the dtype (the
    ops reject infinities), so a padded position never wins unless every
    real value of its window equals that value; the gradient of a padded
    position is dropped.

    Parameters
    ----------
    kernel, stride, padding : int or (int, int)
        ``Ho = (H + 2 ph - kh) // sh + 1`` as in PyTorch.
    """

    def __init__(self, kernel, stride=None, padding=0) -> None:
        super().__init__()
        self.kernel = check_pair(kernel, "kernel", min_value=1)
        self.stride = self.kernel if stride is None else check_pair(stride, "stride", min_value=1)
        self.padding = check_pair(padding, "padding", min_value=0)
        if any(p > k // 2 for p, k in zip(self.padding, self.kernel, strict=True)):
            raise ValueError(
                f"padding must be at most half the kernel, got padding={self.padding} "
                f"for kernel={self.kernel}"
            )
        self._cache = None

    def forward(self, x):
        """``x`` (N, C, H, W) -> (N, C, Ho, Wo)."""
        ph, pw = self.padding
        if ph or pw:
            low = np.finfo(x.dtype).min if np.issubdtype(x.dtype, np.floating) else 0
            x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=low)
        out, self._cache = ops.maxpool2d_forward(x, kernel=self.kernel, stride=self.stride)
        return out

    def backward(self, dout):
        """Gradient with respect to the unpadded input."""
        if self._cache is None:
            raise RuntimeError("PaddedMaxPool2d.backward called before forward")
        dx = ops.maxpool2d_backward(dout, self._cache)
        ph, pw = self.padding
        return dx[:, :, ph : dx.shape[2] - ph, pw : dx.shape[3] - pw]

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}, padding={self.padding}"


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
        As :class:`abcref.nn.layers.BasicBlock`.
    expansion : int
        Output channels per inner channel (default 4).
    projection : bool, optional
        Force or forbid the projection; default: only when the stride or
        the channel count changes.

    Notes
    -----
    No activation after the sum (see :mod:`abcref.nn.models`); conv2 and
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
    from abcref.nn.models import _Builder, _finish, _normalise_common

    config = _normalise_common({"arch": arch, **options}, _IMAGENET_DEFAULTS)
    block_kind, stages = RESNET_STAGES[arch]
    width = check_int(config["width"], "width", min_value=1)
    if not isinstance(config["binary_shortcut"], bool):
        raise TypeError(f"binary_shortcut must be a bool, got {config['binary_shortcut']!r}")

    b = _Builder(config)
    layers: dict[str, Module] = {}
    if b.outer["kind"] != "fp":
        act = b.activation_for(b.outer)
        if act is not None:
            layers["act1"] = act
    layers["conv1"] = b.conv(b.outer, config["in_channels"], width, 7, stride=2, padding=3)
    layers["pool1"] = PaddedMaxPool2d(3, stride=2, padding=1)  # before bn1 (§3.3)
    layers["bn1"] = b.bn(width)
    shortcut_spec = b.inner if config["binary_shortcut"] else {"kind": "fp"}
    common = {
        "conv": b.conv_factory(b.inner),
        "activation": b.activation_factory(b.inner),
        "shortcut_conv": b.conv_factory(shortcut_spec),
        "bn_momentum": config["bn_momentum"],
        "bn_eps": config["bn_eps"],
        "rng": b.rng,
        "dtype": b.dtype,
    }
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
    layers["fc"] = b.classifier(c_in, config["num_classes"])
    return _finish(Sequential(**layers), config)


def resnet18(**options) -> Module:
    """ImageNet-style ResNet-18 (see :func:`imagenet_resnet`)."""
    return imagenet_resnet("resnet18", **options)


def resnet34(**options) -> Module:
    """ImageNet-style ResNet-34 (see :func:`imagenet_resnet`)."""
    return imagenet_resnet("resnet34", **options)


def resnet50(**options) -> Module:
    """ImageNet-style ResNet-50 with bottleneck blocks (see :func:`imagenet_resnet`)."""
    return imagenet_resnet("resnet50", **options)


#: Added to :data:`abcref.nn.models.ARCHITECTURES`.
IMAGENET_ARCHITECTURES = {"resnet18": resnet18, "resnet34": resnet34, "resnet50": resnet50}
