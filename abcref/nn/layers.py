"""Thin stateful layers over :mod:`abcref.ops`.

Each layer holds parameters (``params``/``grads``, named as in PyTorch:
``weight``, ``bias``), buffers and the cache of its last ``forward``; the
math lives in the pure ``*_forward`` / ``*_backward`` functions of
:mod:`abcref.ops` (the convolution in :mod:`abcref.fast.conv`). See
:mod:`abcref.nn.module` for the conventions (gradients accumulate,
parameters are updated in place, one backward per forward).

Initialisation
--------------
``Conv2d`` and ``Linear`` default to He (Kaiming) normal initialisation,
``weight ~ N(0, 2 / fan_in)`` with ``fan_in = C_in * kH * kW`` (He et al.,
2015), suited to the ReLU networks abcref builds, and zero biases.
``init="pytorch"`` reproduces PyTorch's default instead: ``weight, bias ~
U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (``kaiming_uniform_(a=sqrt(5))``).
Every layer draws from the ``rng`` it is given (a
``numpy.random.Generator``; default ``np.random.default_rng(0)``), so a
model is a deterministic function of its builder's seed.
"""

from __future__ import annotations

import numpy as np

from abcref import ops
from abcref._checks import (
    check_array,
    check_choice,
    check_conv_args,
    check_dout,
    check_float_dtype,
    check_int,
    check_kernel_fits,
    check_pair,
    check_real,
    check_rng,
)
from abcref.fast import conv as fast_conv
from abcref.fast import pool as fast_pool
from abcref.fast import relu as fast_relu
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
        Add a learnable bias ``"bias"`` (C_out,). Builders pass False when
        a batch norm follows (its shift makes a bias redundant).
    init : {"he", "pytorch"}
        Weight initialisation (see module docstring).
    rng : numpy.random.Generator, optional
    dtype : float32 or float64

    Notes
    -----
    Params ``"weight"`` (C_out, C_in, kH, kW) and optionally ``"bias"``.
    Output size ``H_out = (H + 2 * pad_h - kH) // stride_h + 1``.
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
        self.add_param("weight", init_weight((c_out, c_in, kh, kw), fan_in, init, rng, dtype))
        if bias:
            self.add_param("bias", _init_bias(c_out, fan_in, init, rng, dtype))

    def forward(self, x):
        """``x`` (N, C_in, H, W) -> (N, C_out, H_out, W_out)."""
        weight, bias = self.params["weight"], self.params.get("bias")
        names = ("x", "weight", "bias")
        check_conv_args(x, weight, bias, stride=self.stride, padding=self.padding, names=names)
        out, cache = fast_conv.conv2d_forward(
            x, weight, bias, stride=self.stride, padding=self.padding
        )
        self._cache = (cache, out.shape)
        return out

    def backward(self, dout):
        """Accumulate ``grads["weight"]`` (and ``"bias"``); return ``dc/dx``."""
        cache, out_shape = self._take_cache()
        check_dout(dout, out_shape, self.params["weight"].dtype)
        dx, dw, db = fast_conv.conv2d_backward(dout, cache)
        self.grads["weight"] += dw
        if "bias" in self.params:
            self.grads["bias"] += db
        return dx

    def extra_repr(self) -> str:
        o, i, kh, kw = self.params["weight"].shape
        return (
            f"{i}, {o}, kernel_size=({kh}, {kw}), stride={self.stride}, "
            f"padding={self.padding}, bias={'bias' in self.params}"
        )


class Linear(Module):
    """Fully connected layer ``y = x weight^T + bias``; ``weight`` is (out, in).

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
        self.add_param("weight", init_weight((n_out, n_in), n_in, init, rng, dtype))
        if bias:
            self.add_param("bias", _init_bias(n_out, n_in, init, rng, dtype))

    def forward(self, x):
        """``x`` (N, in) -> (N, out)."""
        out, self._cache = ops.linear_forward(x, self.params["weight"], self.params.get("bias"))
        return out

    def backward(self, dout):
        """Accumulate ``grads["weight"]`` (and ``"bias"``); return ``dc/dx``."""
        dx, dw, db = ops.linear_backward(dout, self._take_cache())
        self.grads["weight"] += dw
        if "bias" in self.params:
            self.grads["bias"] += db
        return dx

    def extra_repr(self) -> str:
        o, i = self.params["weight"].shape
        return f"in_features={i}, out_features={o}, bias={'bias' in self.params}"


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
    Params ``"weight"`` (the scale gamma, ones) and ``"bias"`` (the shift
    beta, zeros), buffers ``"running_mean"`` (zeros) and ``"running_var"``
    (ones), named as PyTorch's. In training mode the batch statistics
    normalise and the buffers are replaced by the updated ones; in eval
    mode the buffers normalise.
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
        self.add_param("weight", np.ones(c, dtype=dtype))
        self.add_param("bias", np.zeros(c, dtype=dtype))
        self.buffers["running_mean"] = np.zeros(c, dtype=dtype)
        self.buffers["running_var"] = np.ones(c, dtype=dtype)

    def forward(self, x):
        """``x`` (N, C, H, W) -> same shape."""
        out, cache = ops.batchnorm2d_forward(
            x,
            self.params["weight"],
            self.params["bias"],
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
        """Accumulate ``grads["weight"]`` and ``grads["bias"]``; return ``dc/dx``."""
        dx, dgamma, dbeta = ops.batchnorm2d_backward(dout, self._take_cache())
        self.grads["weight"] += dgamma
        self.grads["bias"] += dbeta
        return dx

    def extra_repr(self) -> str:
        return f"{self.params['weight'].shape[0]}, momentum={self.momentum}, eps={self.eps}"


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
        return self._backward_op(dout, self._take_cache())


class ReLU(_Stateless):
    """``max(x, 0)``; the full-precision models' activation."""

    def _forward_op(self, x):
        check_array(x, "x")
        return fast_relu.relu_forward(x)  # bitwise what ops.relu_forward gives

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
    """Max pooling over ``kernel`` windows, optionally padded (PyTorch's sizes).

    Parameters
    ----------
    kernel : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel``.
    padding : int or (int, int)
        At most half the kernel. ``Ho = (H + 2 ph - kh) // sh + 1``. The
        border is padded with the lowest finite value of the dtype (the
        ops reject infinities), so a padded position never wins unless
        every real value of its window equals that value; the gradient of
        a padded position is dropped. The ResNet stem's pool is
        ``MaxPool2d(3, stride=2, padding=1)``.
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

    def _forward_op(self, x):
        check_array(x, "x", ndim=4)
        ph, pw = self.padding
        if ph or pw:
            low = np.finfo(x.dtype).min
            x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=low)
        check_kernel_fits(x.shape[2:], self.kernel, "input")
        # the fast tier's running maximum: bitwise what ops.maxpool2d_forward gives
        out, cache = fast_pool.maxpool2d_forward(x, kernel=self.kernel, stride=self.stride)
        cache["dtype"] = x.dtype
        return out, cache

    def _backward_op(self, dout, cache):
        check_dout(dout, cache["argmax"].shape, cache["dtype"])
        dx = fast_pool.maxpool2d_backward(dout, cache)
        ph, pw = self.padding
        return dx[:, :, ph : dx.shape[2] - ph, pw : dx.shape[3] - pw]

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(_Stateless):
    """Average pooling over ``kernel`` windows (stride defaults to kernel)."""

    def __init__(self, kernel, stride=None) -> None:
        super().__init__()
        self.kernel = check_pair(kernel, "kernel", min_value=1)
        self.stride = self.kernel if stride is None else check_pair(stride, "stride", min_value=1)

    def _forward_op(self, x):
        return ops.avgpool2d_forward(x, kernel=self.kernel, stride=self.stride)

    def _backward_op(self, dout, cache):
        return ops.avgpool2d_backward(dout, cache)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}"


class GlobalAvgPool2d(_Stateless):
    """Mean over H and W: (N, C, H, W) -> (N, C)."""

    def _forward_op(self, x):
        return ops.global_avgpool_forward(x)

    def _backward_op(self, dout, cache):
        return ops.global_avgpool_backward(dout, cache)


class Flatten(Module):
    """(N, ...) -> (N, prod(...)); backward restores the shape."""

    def forward(self, x):
        check_array(x, "x")
        self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        return dout.reshape(self._take_cache())


class Unflatten2d(Module):
    """(N, C) -> (N, C, 1, 1), so a 1x1 convolution can act as a linear layer."""

    def forward(self, x):
        check_array(x, "x", ndim=2)
        self._cache = x.shape
        return x[:, :, None, None]

    def backward(self, dout):
        self._take_cache()
        return dout[:, :, 0, 0]


class Identity(Module):
    """Returns its input (and its gradient) unchanged."""

    def forward(self, x):
        self._cache = True  # nothing to keep, but backward still needs a forward
        return x

    def backward(self, dout):
        self._take_cache()
        return dout
