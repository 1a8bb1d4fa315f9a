"""Thin stateful layers over :mod:`abcref.ops`.

Each layer holds parameters (``params``/``grads``), buffers and the cache
of its last ``forward``; the math lives in the pure ``*_forward`` /
``*_backward`` functions of :mod:`abcref.ops`. See
:mod:`abcref.nn.module` for the conventions (gradients accumulate,
parameters are updated in place).

Initialisation
--------------
``Conv2d`` and ``Linear`` default to He (Kaiming) normal initialisation,
``W ~ N(0, 2 / fan_in)`` with ``fan_in = C_in * kH * kW`` (He et al.,
2015), suited to the ReLU networks abcref builds, and zero biases.
``init="pytorch"`` reproduces PyTorch's default instead: ``W, b ~
U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (``kaiming_uniform_(a=sqrt(5))``).
Every layer draws from the ``rng`` it is given (a
``numpy.random.Generator``; default ``np.random.default_rng(0)``), so a
model is a deterministic function of its builder's seed.
"""

from __future__ import annotations

import numpy as np

from abcref import ops
from abcref._checks import (
    check_choice,
    check_conv_args,
    check_dout,
    check_float_dtype,
    check_int,
    check_pair,
    check_real,
    check_rng,
    output_size,
)
from abcref.fast import conv as fast_conv
from abcref.nn.module import Module

INITS = ("he", "pytorch")


def init_weight(shape, fan_in: int, init: str, rng, dtype) -> np.ndarray:
    """He-normal or PyTorch-uniform weights of ``shape`` (see module doc)."""
    check_choice(init, "init", INITS)
    if init == "he":
        w = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
    else:
        bound = 1.0 / np.sqrt(fan_in)
        w = rng.uniform(-bound, bound, size=shape)
    return w.astype(dtype)


def _init_bias(n: int, fan_in: int, init: str, rng, dtype) -> np.ndarray:
    if init == "he":
        return np.zeros(n, dtype=dtype)
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=n).astype(dtype)


class Conv2d(Module):
    """Full-precision 2-D convolution, NCHW input, OIHW weight.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride, padding : int or (int, int)
    bias : bool
        Add a learnable bias ``"b"`` (C_out,). Builders pass False when a
        batch norm follows (its beta makes a bias redundant).
    init : {"he", "pytorch"}
        Weight initialisation (see module docstring).
    rng : numpy.random.Generator, optional
    dtype : float32 or float64

    Notes
    -----
    Params ``"W"`` (C_out, C_in, kH, kW) and optionally ``"b"``. Output
    size ``H_out = (H + 2 * pad_h - kH) // stride_h + 1``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        *,
        stride=1,
        padding=0,
        bias: bool = True,
        init: str = "he",
        rng: np.random.Generator | None = None,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        c_in = check_int(in_channels, "in_channels", min_value=1)
        c_out = check_int(out_channels, "out_channels", min_value=1)
        kh, kw = check_pair(kernel_size, "kernel_size", min_value=1)
        self.stride = check_pair(stride, "stride", min_value=1)
        self.padding = check_pair(padding, "padding", min_value=0)
        dtype = check_float_dtype(dtype)
        rng = check_rng(rng)
        fan_in = c_in * kh * kw
        self.add_param("W", init_weight((c_out, c_in, kh, kw), fan_in, init, rng, dtype))
        if bias:
            self.add_param("b", _init_bias(c_out, fan_in, init, rng, dtype))
        self._cache = None

    def forward(self, x):
        W, b = self.params["W"], self.params.get("b")
        check_conv_args(x, W, b, stride=self.stride, padding=self.padding, names=("x", "W", "b"))
        out, self._cache = fast_conv.conv2d_forward(
            x, W, b, stride=self.stride, padding=self.padding
        )
        return out

    def backward(self, dout):
        cache = _take(self)
        check_dout(dout, (cache["x_shape"][0], *self._out_chw(cache)), cache["w"].dtype)
        dx, dw, db = fast_conv.conv2d_backward(dout, cache)
        self.grads["W"] += dw
        if "b" in self.params:
            self.grads["b"] += db
        return dx

    def _out_chw(self, cache) -> tuple[int, int, int]:
        _, _, h, w = cache["x_shape"]
        o, _, kh, kw = self.params["W"].shape
        ho = output_size(h, kh, self.stride[0], self.padding[0])
        return o, ho, output_size(w, kw, self.stride[1], self.padding[1])

    def extra_repr(self) -> str:
        o, i, kh, kw = self.params["W"].shape
        return f"{i}, {o}, kernel_size=({kh}, {kw}), stride={self.stride}, padding={self.padding}"


class Linear(Module):
    """Fully connected layer ``y = x W^T + b``; ``W`` is (out, in).

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
    init : {"he", "pytorch"}
    rng : numpy.random.Generator, optional
    dtype : float32 or float64
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias: bool = True,
        init: str = "he",
        rng: np.random.Generator | None = None,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        n_in = check_int(in_features, "in_features", min_value=1)
        n_out = check_int(out_features, "out_features", min_value=1)
        dtype = check_float_dtype(dtype)
        rng = check_rng(rng)
        self.add_param("W", init_weight((n_out, n_in), n_in, init, rng, dtype))
        if bias:
            self.add_param("b", _init_bias(n_out, n_in, init, rng, dtype))
        self._cache = None

    def forward(self, x):
        out, self._cache = ops.linear_forward(x, self.params["W"], self.params.get("b"))
        return out

    def backward(self, dout):
        dx, dw, db = ops.linear_backward(dout, _take(self))
        self.grads["W"] += dw
        if "b" in self.params:
            self.grads["b"] += db
        return dx

    def extra_repr(self) -> str:
        o, i = self.params["W"].shape
        return f"{i}, {o}, bias={'b' in self.params}"


class BatchNorm2d(Module):
    """Batch normalisation over (N, H, W) per channel (Ioffe & Szegedy).

    Parameters
    ----------
    num_features : int
        Channels C.
    momentum : float
        Running-statistics update ``new = (1 - momentum) * old + momentum *
        batch`` (PyTorch convention; unbiased batch variance).
    eps : float
    dtype : float32 or float64

    Notes
    -----
    Params ``"gamma"`` (ones) and ``"beta"`` (zeros); buffers
    ``"running_mean"`` (zeros) and ``"running_var"`` (ones). In training
    mode the batch statistics normalise and the buffers are replaced by
    the updated ones; in eval mode the buffers normalise.
    """

    def __init__(
        self, num_features: int, *, momentum: float = 0.1, eps: float = 1e-5, dtype=np.float32
    ) -> None:
        super().__init__()
        c = check_int(num_features, "num_features", min_value=1)
        self.momentum = check_real(momentum, "momentum")
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {self.momentum}")
        self.eps = check_real(eps, "eps")
        if self.eps <= 0:
            raise ValueError(f"eps must be > 0, got {self.eps}")
        dtype = check_float_dtype(dtype)
        self.add_param("gamma", np.ones(c, dtype=dtype))
        self.add_param("beta", np.zeros(c, dtype=dtype))
        self.buffers["running_mean"] = np.zeros(c, dtype=dtype)
        self.buffers["running_var"] = np.ones(c, dtype=dtype)
        self._cache = None

    def forward(self, x):
        out, cache = ops.batchnorm2d_forward(
            x,
            self.params["gamma"],
            self.params["beta"],
            running_mean=self.buffers["running_mean"],
            running_var=self.buffers["running_var"],
            training=self.training,
            momentum=self.momentum,
            eps=self.eps,
        )
        if self.training:
            self.buffers["running_mean"] = cache["running_mean"]
            self.buffers["running_var"] = cache["running_var"]
        self._cache = cache
        return out

    def backward(self, dout):
        dx, dgamma, dbeta = ops.batchnorm2d_backward(dout, _take(self))
        self.grads["gamma"] += dgamma
        self.grads["beta"] += dbeta
        return dx

    def extra_repr(self) -> str:
        return f"{self.params['gamma'].shape[0]}, momentum={self.momentum}, eps={self.eps}"


class _Stateless(Module):
    """A layer without parameters: ``forward`` keeps the op's cache."""

    def _forward_op(self, x):
        raise NotImplementedError

    def _backward_op(self, dout, cache):
        raise NotImplementedError

    def forward(self, x):
        out, self._cache = self._forward_op(x)
        return out

    def backward(self, dout):
        return self._backward_op(dout, _take(self))


class ReLU(_Stateless):
    """``max(x, 0)``; the full-precision models' activation."""

    def _forward_op(self, x):
        return ops.relu_forward(x)

    def _backward_op(self, dout, cache):
        return ops.relu_backward(dout, cache)


class Clip(_Stateless):
    """``clip(x, low, high)`` (Hardtanh for the defaults -1, 1).

    The gradient passes where ``low < x < high`` (0 at the bounds, as
    PyTorch's ``nn.Hardtanh``; see :func:`abcref.ops.clip_backward`).
    """

    def __init__(self, low: float = -1.0, high: float = 1.0) -> None:
        super().__init__()
        self.low = check_real(low, "low")
        self.high = check_real(high, "high")
        if not self.low < self.high:
            raise ValueError(f"low must be < high, got low={self.low}, high={self.high}")

    def _forward_op(self, x):
        return ops.clip_forward(x, low=self.low, high=self.high)

    def _backward_op(self, dout, cache):
        return ops.clip_backward(dout, cache)

    def extra_repr(self) -> str:
        return f"low={self.low}, high={self.high}"


def Hardtanh() -> Clip:  # noqa: N802 - named like the layer it builds
    """``Clip(-1, 1)``, PyTorch's ``nn.Hardtanh()``."""
    return Clip(-1.0, 1.0)


class MaxPool2d(_Stateless):
    """Max pooling over ``kernel`` windows (stride defaults to kernel)."""

    def __init__(self, kernel, stride=None) -> None:
        super().__init__()
        self.kernel = check_pair(kernel, "kernel", min_value=1)
        self.stride = None if stride is None else check_pair(stride, "stride", min_value=1)

    def _forward_op(self, x):
        return ops.maxpool2d_forward(x, kernel=self.kernel, stride=self.stride)

    def _backward_op(self, dout, cache):
        return ops.maxpool2d_backward(dout, cache)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride or self.kernel}"


class AvgPool2d(MaxPool2d):
    """Average pooling over ``kernel`` windows (stride defaults to kernel)."""

    def _forward_op(self, x):
        return ops.avgpool2d_forward(x, kernel=self.kernel, stride=self.stride)

    def _backward_op(self, dout, cache):
        return ops.avgpool2d_backward(dout, cache)


class GlobalAvgPool2d(_Stateless):
    """Mean over H and W: (N, C, H, W) -> (N, C)."""

    def _forward_op(self, x):
        return ops.global_avgpool_forward(x)

    def _backward_op(self, dout, cache):
        return ops.global_avgpool_backward(dout, cache)


class Flatten(Module):
    """(N, ...) -> (N, prod(...)); backward restores the shape."""

    def __init__(self) -> None:
        super().__init__()
        self._shape = None

    def forward(self, x):
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        if self._shape is None:
            raise RuntimeError("Flatten.backward called before forward")
        return dout.reshape(self._shape)


class Unflatten2d(Module):
    """(N, C) -> (N, C, 1, 1), so a 1x1 convolution can act as a linear layer."""

    def forward(self, x):
        if x.ndim != 2:
            raise ValueError(f"x must be 2-dimensional (N, C), got shape {x.shape}")
        return x[:, :, None, None]

    def backward(self, dout):
        return dout[:, :, 0, 0]


class Identity(Module):
    """Returns its input (and its gradient) unchanged."""

    def forward(self, x):
        return x

    def backward(self, dout):
        return dout


def _take(layer: Module):
    """The cache of the layer's last forward (kept: backward may repeat)."""
    cache = getattr(layer, "_cache", None)
    if cache is None:
        raise RuntimeError(f"{type(layer).__name__}.backward called before forward")
    return cache


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
        self._add_cache = None

    def forward(self, x):
        """``x`` (N, C_in, H, W) -> main path + shortcut, (N, C_out, Ho, Wo)."""
        main = x
        for layer in self._main:
            main = layer.forward(main)
        short = self.shortcut.forward(x) if "shortcut" in self._modules else x
        out, self._add_cache = ops.residual_add_forward(main, short)
        return out

    def backward(self, dout):
        """Backward through both paths; returns ``dc/dx``."""
        if self._add_cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        dmain, dshort = ops.residual_add_backward(dout, self._add_cache)
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
    classifier's) input nonlinearity is that layer's own (see
    :mod:`abcref.nn.models`), so a full-precision and an ABC block differ
    only in what happens at each conv's input.
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
