"""Convolution layers of the paper's comparison systems (Table 3).

Every comparison system but XNOR-Net is one composition,
``conv2d(q_a(x), q_w(weight))`` with a named weight quantizer and a named
activation quantizer (:mod:`abcref.quantize.conv`): one layer class,
:class:`QuantConv2d`, and a table of keyword presets, :data:`PRESETS`.
XNOR-Net also scales by its input statistics ``K``, a different op, so it
keeps its own class, :class:`XNORConv2d`. The full-precision row is
:class:`abcref.nn.layers.Conv2d` with ``bias=False``.

=============  ==========================================  ==================================
system         layer                                       paper
=============  ==========================================  ==================================
BWN            ``QuantConv2d(..., **PRESETS["bwn"])``      Rastegari et al. 2016
XNOR-Net       ``XNORConv2d(...)``                         Rastegari et al. 2016
BNN            ``QuantConv2d(..., **PRESETS["bnn"])``      Courbariaux et al. 2016
DoReFa-Net     ``QuantConv2d(..., **PRESETS["dorefa"])``   Zhou et al. 2016
K-bit (§5.2)   ``QuantConv2d(..., **PRESETS["kbit"],       fixed-point activations, §5.2
               bits=K)``
=============  ==========================================  ==================================

As ``ABCConv2d``, each is a drop-in replacement in the same model
skeleton: the input ``x`` is the real-valued BN output and is quantized
inside the layer, the latent float weights are ``params["weight"]``
(OIHW), there is no bias (BN follows; XNOR-Net's footnote 2 assumes none
either). Weights are initialised like ``ABCConv2d`` (PyTorch's default
``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``) from ``rng`` (default
``np.random.default_rng(0)``).

Trainers call :func:`apply_after_update` after each optimizer step: it
clips the latent weights of layers built with ``clip_weights=True``
(BNN's preset, BNN Algorithm 1) to [-1, 1] and does nothing otherwise.
"""

from __future__ import annotations

import numpy as np

from abcref._checks import (
    check_bool,
    check_conv_args,
    check_float_dtype,
    check_int,
    check_pair,
    check_real,
    check_rng,
)
from abcref.nn.module import Module
from abcref.quantize.conv import (
    _quantized_conv2d,
    check_quantizer_options,
    quantized_conv2d_backward,
    resolve_quantizer_options,
)
from abcref.quantize.xnornet import _xnornet_conv2d, xnornet_conv2d_backward, xnornet_options

#: The comparison systems as keyword presets of :class:`QuantConv2d`
#: (docs/baselines.md gives the published definition behind each value).
#: Any keyword may be overridden; "kbit" needs ``bits=K``.
PRESETS: dict[str, dict] = {
    # alpha sign(W) per output channel on full-precision inputs
    "bwn": {"weights": "bwn", "activations": "fp", "weight_ste": "paper"},
    # sign(W) on sign(x), latent weights clipped to [-1, 1] after each update
    "bnn": {
        "weights": "sign",
        "activations": "sign",
        "weight_ste": "identity",
        "clip_weights": True,
    },
    # 1-bit E sign(W) (k-bit for weight_bits >= 2) on 4-bit quantize(clip(x, 0, 1))
    "dorefa": {
        "weights": "dorefa",
        "activations": "dorefa",
        "bits": 4,
        "weight_bits": 1,
        "per_channel": False,
        "rounding": "half_even",
    },
    # K-bit fixed-point activations (DoReFa's quantizer) with full-precision weights
    "kbit": {"weights": "fp", "activations": "dorefa", "rounding": "half_even"},
}


def quant_conv_options(
    *,
    weights: str,
    activations: str,
    bits=None,
    weight_bits=None,
    weight_ste=None,
    per_channel=None,
    rounding=None,
    zero_sign: int = 1,
    clip_weights: bool = False,
    pad_value: float = 0.0,
) -> dict:
    """Validate :class:`QuantConv2d`'s options without building a layer.

    Returns
    -------
    dict
        The keywords, checked (``QuantConv2d(c_in, c_out, k, **options)``
        builds the layer); quantizer options not given stay None.

    Raises
    ------
    ValueError, TypeError
        An unknown quantizer, an option given to a quantizer it does not
        apply to, bad bits, a non-bool ``clip_weights``, a non-finite
        ``pad_value``.
    """
    checked = check_quantizer_options(
        weights,
        activations,
        bits=bits,
        weight_bits=weight_bits,
        weight_ste=weight_ste,
        per_channel=per_channel,
        rounding=rounding,
        zero_sign=zero_sign,
    )
    return {
        "weights": weights,
        "activations": activations,
        **checked,
        "clip_weights": check_bool(clip_weights, "clip_weights"),
        "pad_value": check_real(pad_value, "pad_value"),
    }


class _LatentWeightConv(Module):
    """Shared geometry, latent weight and forward/backward plumbing.

    A subclass's public ``__init__`` checks its options and calls
    :meth:`_build`; :meth:`_from_checked` builds from options already
    checked (a model config is checked once, before its layers are built).
    """

    @classmethod
    def _from_checked(
        cls, options: dict, in_channels, out_channels, kernel_size, *, stride, padding, rng, dtype
    ):
        """A layer from ``options`` its ``*_options`` function has checked."""
        layer = cls.__new__(cls)
        layer._build(options, in_channels, out_channels, kernel_size, stride, padding, rng, dtype)
        return layer

    def _build(self, options, in_channels, out_channels, kernel_size, stride, padding, rng, dtype):
        Module.__init__(self)
        self._set_options(**options)
        self.dtype = check_float_dtype(dtype)
        rng = check_rng(rng)
        self.in_channels = check_int(in_channels, "in_channels", min_value=1)
        self.out_channels = check_int(out_channels, "out_channels", min_value=1)
        self.kernel_size = check_pair(kernel_size, "kernel_size", min_value=1)
        self.stride = check_pair(stride, "stride", min_value=1)
        self.padding = check_pair(padding, "padding", min_value=0)
        kh, kw = self.kernel_size
        bound = 1.0 / np.sqrt(self.in_channels * kh * kw)
        shape = (self.out_channels, self.in_channels, kh, kw)
        self.add_param("weight", rng.uniform(-bound, bound, size=shape).astype(self.dtype))

    def _set_options(self, **options):
        raise NotImplementedError

    def _forward_kernel(self, x, weight):
        raise NotImplementedError

    def _backward_op(self, dout, cache):
        raise NotImplementedError

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``x`` (B, C_in, H, W) -> (B, C_out, H_out, W_out)."""
        weight = self.params["weight"]
        names = ("x", "weight", "bias")
        check_conv_args(x, weight, stride=self.stride, padding=self.padding, names=names)
        out, self._cache = self._forward_kernel(x, weight)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Accumulate ``grads["weight"]``; return ``dc/dx``."""
        grads = self._backward_op(dout, self._take_cache())
        self.grads["weight"] += grads["W"]
        return grads["x"]

    def _geometry(self) -> str:
        kh, kw = self.kernel_size
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size=({kh}, {kw}), "
            f"stride={self.stride}, padding={self.padding}"
        )


class QuantConv2d(_LatentWeightConv):
    """``conv2d(q_a(x), q_w(weight))`` with named quantizers.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size, stride, padding : int or (int, int)
    weights : {"fp", "bwn", "sign", "dorefa"}
    activations : {"fp", "sign", "dorefa"}
    bits, weight_bits, weight_ste, per_channel, rounding, zero_sign
        Quantizer options, see
        :func:`abcref.quantize.conv.quantized_conv2d_forward` (options
        that do not apply to the chosen quantizers must be None).
    clip_weights : bool
        :meth:`after_update` clips ``weight`` to [-1, 1] in place (BNN
        Algorithm 1; True in BNN's preset).
    pad_value : float
        Padding value of the quantized input (default 0).
    rng : numpy.random.Generator, optional
    dtype : float32 or float64

    Attributes
    ----------
    params : dict
        ``"weight"`` (C_out, C_in, KH, KW), the latent float weights.
    resolved_options : dict
        The quantizer options in force, defaults filled in.

    Examples
    --------
    >>> layer = QuantConv2d(16, 32, 3, padding=1, **PRESETS["dorefa"])
    >>> layer.resolved_options["bits"]
    4
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        *,
        weights: str,
        activations: str,
        stride=1,
        padding=0,
        bits=None,
        weight_bits=None,
        weight_ste=None,
        per_channel=None,
        rounding=None,
        zero_sign: int = 1,
        clip_weights: bool = False,
        pad_value: float = 0.0,
        rng: np.random.Generator | None = None,
        dtype=np.float32,
    ) -> None:
        # Every option is checked now, once, not at each forward.
        options = quant_conv_options(
            weights=weights,
            activations=activations,
            bits=bits,
            weight_bits=weight_bits,
            weight_ste=weight_ste,
            per_channel=per_channel,
            rounding=rounding,
            zero_sign=zero_sign,
            clip_weights=clip_weights,
            pad_value=pad_value,
        )
        self._build(options, in_channels, out_channels, kernel_size, stride, padding, rng, dtype)

    def _set_options(
        self, *, weights, activations, clip_weights=False, pad_value=0.0, **quantizer_options
    ):
        self.weights, self.activations = weights, activations
        self.clip_weights, self.pad_value = clip_weights, pad_value
        self._w_kwargs, self._a_kwargs = resolve_quantizer_options(
            weights, activations, **quantizer_options
        )
        self.resolved_options = {
            ("weight_bits" if k == "bits" else k): v for k, v in self._w_kwargs.items()
        }
        self.resolved_options.update(self._a_kwargs)

    def _forward_kernel(self, x, weight):
        return _quantized_conv2d(
            x,
            weight,
            self.weights,
            self.activations,
            self._w_kwargs,
            self._a_kwargs,
            self.stride,
            self.padding,
            self.pad_value,
        )

    def _backward_op(self, dout, cache):
        return quantized_conv2d_backward(dout, cache)

    def after_update(self) -> None:
        """Clip the latent weights to [-1, 1] in place if ``clip_weights`` (BNN)."""
        if self.clip_weights:
            weight = self.params["weight"]
            np.clip(weight, -1, 1, out=weight)

    def extra_repr(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.resolved_options.items())
        extras = [f"weights={self.weights!r}", f"activations={self.activations!r}"]
        extras += [opts] if opts else []
        extras += ["clip_weights=True"] if self.clip_weights else []
        extras += [f"pad_value={self.pad_value:g}"] if self.pad_value else []
        return ", ".join([self._geometry(), *extras])


class XNORConv2d(_LatentWeightConv):
    """XNOR-Net: ``(sign(x) (*) sign(W)) . K alpha`` (Rastegari et al. eq. 11).

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size, stride, padding : int or (int, int)
    weight_ste : {"paper", "exact", "identity"}
        Latent weight gradient (default "paper", XNOR-Net §3.1).
    scale_input : bool
        Use the input scale ``K`` (default True).
    scale_grad : bool
        Backpropagate through ``K`` (default True).
    zero_sign : {1, -1}
        Default +1 (XNOR-Net eq. 4).
    rng : numpy.random.Generator, optional
    dtype : float32 or float64
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        *,
        stride=1,
        padding=0,
        weight_ste="paper",
        scale_input=True,
        scale_grad=True,
        zero_sign=1,
        rng=None,
        dtype=np.float32,
    ) -> None:
        options = xnornet_options(
            weight_ste=weight_ste,
            scale_input=scale_input,
            scale_grad=scale_grad,
            zero_sign=zero_sign,
        )
        self._build(options, in_channels, out_channels, kernel_size, stride, padding, rng, dtype)

    def _set_options(self, *, weight_ste, scale_input, scale_grad, zero_sign):
        self.weight_ste = weight_ste
        self.scale_input, self.scale_grad = scale_input, scale_grad
        self.zero_sign = zero_sign

    def _forward_kernel(self, x, weight):
        return _xnornet_conv2d(
            x,
            weight,
            self.stride,
            self.padding,
            weight_ste=self.weight_ste,
            scale_input=self.scale_input,
            scale_grad=self.scale_grad,
            zero_sign=self.zero_sign,
        )

    def _backward_op(self, dout, cache):
        return xnornet_conv2d_backward(dout, cache)

    def extra_repr(self) -> str:
        return (
            f"{self._geometry()}, weight_ste={self.weight_ste!r}, "
            f"scale_input={self.scale_input}, scale_grad={self.scale_grad}, "
            f"zero_sign={self.zero_sign}"
        )


def apply_after_update(model: Module) -> None:
    """Call ``after_update()`` on every module of ``model`` that has it.

    The trainer calls this after each ``optimizer.step()`` so that BNN's
    latent weights stay in [-1, 1] (BNN Algorithm 1); for every other
    layer it does nothing.
    """
    for _, module in model.named_modules():
        hook = getattr(module, "after_update", None)
        if callable(hook):
            hook()
