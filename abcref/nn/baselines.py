"""Convolution layers of the paper's comparison systems (Table 3).

Thin stateful wrappers over :mod:`abcref.quantize`, drop-in replacements
for :class:`abcref.nn.abcconv.ABCConv2d` in the same model skeleton: the
input ``x`` is the real-valued BN output and is quantized inside the layer,
the latent float weights are ``params["W"]`` (OIHW), there is no bias (BN
follows; XNOR-Net's footnote 2 assumes none either).

=================  =======================  =====================================
kind               class                    system
=================  =======================  =====================================
``"fp"``           :class:`FPConv2d`        full precision (no quantizer)
``"bwn"``          :class:`BWNConv2d`       BWN, Rastegari et al. 2016
``"xnor"``         :class:`XNORConv2d`      XNOR-Net, Rastegari et al. 2016
``"bnn"``          :class:`BNNConv2d`       BNN, Courbariaux et al. 2016
``"dorefa"``       :class:`DoReFaConv2d`    DoReFa-Net, Zhou et al. 2016
``"kbit"``         :class:`KBitActConv2d`   K-bit fixed-point activations (§5.2)
=================  =======================  =====================================

:func:`baseline_conv2d` builds one from its kind. Weights are initialised
like ``ABCConv2d`` (PyTorch's default ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``),
from ``rng`` (default ``np.random.default_rng(0)``).

Trainers should call :meth:`QuantConv2d.after_update` on every layer that
has it after each optimizer step: it clips BNN's latent weights to
[-1, 1] (BNN Algorithm 1) and does nothing for the other kinds.
"""

from __future__ import annotations

import inspect

import numpy as np

from abcref._checks import (
    check_choice,
    check_float_dtype,
    check_int,
    check_pair,
    check_real,
    check_rng,
)
from abcref.nn.module import Module
from abcref.ops.sign import check_zero_sign
from abcref.quantize.conv import (
    quantized_conv2d_backward,
    quantized_conv2d_forward,
    quantizer_options,
)
from abcref.quantize.weights import BWN_WEIGHT_STES
from abcref.quantize.xnornet import xnornet_conv2d_backward, xnornet_conv2d_forward


def _init_layer(layer, in_channels, out_channels, kernel_size, stride, padding, rng, dtype):
    """Shared checks and the latent weight ``params["W"]``."""
    resolved = check_float_dtype(dtype)
    rng = check_rng(rng)
    layer.in_channels = check_int(in_channels, "in_channels", min_value=1)
    layer.out_channels = check_int(out_channels, "out_channels", min_value=1)
    layer.kernel_size = check_pair(kernel_size, "kernel_size", min_value=1)
    layer.stride = check_pair(stride, "stride", min_value=1)
    layer.padding = check_pair(padding, "padding", min_value=0)
    layer.dtype = resolved
    kh, kw = layer.kernel_size
    bound = 1.0 / np.sqrt(layer.in_channels * kh * kw)
    shape = (layer.out_channels, layer.in_channels, kh, kw)
    layer.add_param("W", rng.uniform(-bound, bound, size=shape).astype(resolved))
    layer._cache = None


class _BaselineConv(Module):
    """Common forward/backward plumbing of the baseline layers."""

    def _forward_op(self, x):
        raise NotImplementedError

    def _backward_op(self, dout, cache):
        raise NotImplementedError

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``x`` (B, C_in, H, W) -> (B, C_out, H_out, W_out)."""
        out, self._cache = self._forward_op(x)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Accumulate ``grads["W"]``; return ``dc/dx``."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        grads = self._backward_op(dout, self._cache)
        self._cache = None
        self.grads["W"] += grads["W"]
        return grads["x"]

    def after_update(self) -> None:
        """Hook for the trainer after each optimizer step (no-op here)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class QuantConv2d(_BaselineConv):
    """``conv2d(q_a(x), q_w(W))`` with named quantizers.

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
    pad_value : float
        Padding value of the quantized input (default 0).
    rng : numpy.random.Generator, optional
    dtype : float32 or float64

    Attributes
    ----------
    params : dict
        ``"W"`` (C_out, C_in, KH, KW), the latent float weights.
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
        pad_value: float = 0.0,
        rng: np.random.Generator | None = None,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        # Validate every option now, not at the first forward.
        w_kwargs, a_kwargs = quantizer_options(
            weights,
            activations,
            bits=bits,
            weight_bits=weight_bits,
            weight_ste=weight_ste,
            per_channel=per_channel,
            rounding=rounding,
            zero_sign=zero_sign,
        )
        self.weights, self.activations = weights, activations
        self.options = {
            "bits": bits,
            "weight_bits": weight_bits,
            "weight_ste": weight_ste,
            "per_channel": per_channel,
            "rounding": rounding,
            "zero_sign": zero_sign,
        }
        # The options in force, defaults filled in (for repr and reports).
        self.resolved_options = {
            ("weight_bits" if k == "bits" else k): v for k, v in w_kwargs.items()
        }
        self.resolved_options.update(a_kwargs)
        self.pad_value = check_real(pad_value, "pad_value")
        _init_layer(self, in_channels, out_channels, kernel_size, stride, padding, rng, dtype)

    def _forward_op(self, x):
        return quantized_conv2d_forward(
            x,
            self.params["W"],
            weights=self.weights,
            activations=self.activations,
            stride=self.stride,
            padding=self.padding,
            pad_value=self.pad_value,
            **self.options,
        )

    def _backward_op(self, dout, cache):
        return quantized_conv2d_backward(dout, cache)

    def extra_repr(self) -> str:
        kh, kw = self.kernel_size
        opts = ", ".join(f"{k}={v!r}" for k, v in self.resolved_options.items())
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size=({kh}, {kw}), "
            f"stride={self.stride}, padding={self.padding}, weights={self.weights!r}, "
            f"activations={self.activations!r}" + (f", {opts}" if opts else "")
        )


class FPConv2d(QuantConv2d):
    """Full-precision, bias-free convolution (the "FP" row of Table 3)."""

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        *,
        stride=1,
        padding=0,
        rng=None,
        dtype=np.float32,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            weights="fp",
            activations="fp",
            stride=stride,
            padding=padding,
            rng=rng,
            dtype=dtype,
        )


class BWNConv2d(QuantConv2d):
    """Binary-Weight-Network: ``alpha sign(W)`` weights, full-precision input.

    ``weight_ste`` in {"paper", "exact", "identity"} (default "paper");
    ``zero_sign`` default +1. See :func:`abcref.quantize.bwn_weights_forward`.
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
        zero_sign=1,
        rng=None,
        dtype=np.float32,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            weights="bwn",
            activations="fp",
            stride=stride,
            padding=padding,
            weight_ste=weight_ste,
            zero_sign=zero_sign,
            rng=rng,
            dtype=dtype,
        )


class BNNConv2d(QuantConv2d):
    """BNN: ``sign(W)`` weights, ``sign(x)`` input, no scaling.

    Parameters
    ----------
    weight_ste : {"identity", "clipped"}
        Latent weight gradient (default "identity", BNN Algorithm 1).
    clip_weights : bool
        :meth:`after_update` clips ``W`` to [-1, 1] in place (default True,
        BNN Algorithm 1).
    zero_sign : {1, -1}
        Default +1 (BNN eq. 1).
    pad_value : float
        Padding value of the binary input (default 0).
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        *,
        stride=1,
        padding=0,
        weight_ste="identity",
        clip_weights=True,
        zero_sign=1,
        pad_value=0.0,
        rng=None,
        dtype=np.float32,
    ) -> None:
        if not isinstance(clip_weights, bool):
            raise TypeError(f"clip_weights must be a bool, got {clip_weights!r}")
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            weights="sign",
            activations="sign",
            stride=stride,
            padding=padding,
            weight_ste=weight_ste,
            zero_sign=zero_sign,
            pad_value=pad_value,
            rng=rng,
            dtype=dtype,
        )
        self.clip_weights = clip_weights

    def after_update(self) -> None:
        """Clip the latent weights to [-1, 1] in place (BNN Algorithm 1)."""
        if self.clip_weights:
            W = self.params["W"]
            np.clip(W, -1, 1, out=W)


class DoReFaConv2d(QuantConv2d):
    """DoReFa-Net: 1-bit (or k-bit) weights, k-bit activations.

    Parameters
    ----------
    bits : int
        Activation bits (default 4, ABC-Net Table 3).
    weight_bits : int or None
        Weight bits (default 1); None keeps the weights full precision.
    per_channel : bool
        1-bit weights: one scale per output channel (default False, one
        per layer as DoReFa).
    rounding : {"half_even", "half_up"}
    zero_sign : {1, -1}
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        *,
        bits=4,
        weight_bits=1,
        per_channel=False,
        rounding="half_even",
        zero_sign=1,
        stride=1,
        padding=0,
        rng=None,
        dtype=np.float32,
    ) -> None:
        fp_weights = weight_bits is None
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            weights="fp" if fp_weights else "dorefa",
            activations="dorefa",
            stride=stride,
            padding=padding,
            bits=bits,
            weight_bits=None if fp_weights else weight_bits,
            per_channel=None if fp_weights and not per_channel else per_channel,
            rounding=rounding,
            zero_sign=zero_sign,
            rng=rng,
            dtype=dtype,
        )


class KBitActConv2d(QuantConv2d):
    """K-bit fixed-point activations (DoReFa quantizer) for the §5.2 study.

    The fixed-point counterpart of ``ABCConv2d(..., N=K)``: the input is
    ``quantize_K(clip(x, 0, 1))``, the weights are full precision
    (``weights="fp"``, default) or binary (``"bwn"``, ``"dorefa"`` or
    ``"sign"``).

    Parameters
    ----------
    K : int
        Activation bits, K >= 1.
    weights : {"fp", "bwn", "dorefa", "sign"}
    weight_ste, rounding, zero_sign
        As :class:`QuantConv2d` (weight_ste only for "bwn"/"sign").
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        *,
        K,
        weights="fp",
        weight_ste=None,
        rounding="half_even",
        zero_sign=1,
        stride=1,
        padding=0,
        rng=None,
        dtype=np.float32,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            weights=weights,
            activations="dorefa",
            stride=stride,
            padding=padding,
            bits=K,
            weight_ste=weight_ste,
            rounding=rounding,
            zero_sign=zero_sign,
            rng=rng,
            dtype=dtype,
        )
        self.K = self.resolved_options["bits"]


class XNORConv2d(_BaselineConv):
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
        super().__init__()
        self.weight_ste = check_choice(weight_ste, "weight_ste", BWN_WEIGHT_STES)
        for name, value in (("scale_input", scale_input), ("scale_grad", scale_grad)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool, got {value!r}")
        self.scale_input, self.scale_grad = scale_input, scale_grad
        self.zero_sign = check_zero_sign(zero_sign)
        _init_layer(self, in_channels, out_channels, kernel_size, stride, padding, rng, dtype)

    def _forward_op(self, x):
        return xnornet_conv2d_forward(
            x,
            self.params["W"],
            stride=self.stride,
            padding=self.padding,
            weight_ste=self.weight_ste,
            scale_input=self.scale_input,
            scale_grad=self.scale_grad,
            zero_sign=self.zero_sign,
        )

    def _backward_op(self, dout, cache):
        return xnornet_conv2d_backward(dout, cache)

    def extra_repr(self) -> str:
        kh, kw = self.kernel_size
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size=({kh}, {kw}), "
            f"stride={self.stride}, padding={self.padding}, weight_ste={self.weight_ste!r}, "
            f"scale_input={self.scale_input}, scale_grad={self.scale_grad}, "
            f"zero_sign={self.zero_sign}"
        )


#: Conv kinds of the comparison systems -> layer class.
BASELINE_KINDS = {
    "fp": FPConv2d,
    "bwn": BWNConv2d,
    "xnor": XNORConv2d,
    "bnn": BNNConv2d,
    "dorefa": DoReFaConv2d,
    "kbit": KBitActConv2d,
}


def baseline_conv2d(kind: str, in_channels: int, out_channels: int, kernel_size, **options):
    """Build the conv layer of a comparison system from its kind.

    Parameters
    ----------
    kind : {"fp", "bwn", "xnor", "bnn", "dorefa", "kbit"}
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    **options
        Keyword arguments of that class (``stride``, ``padding``,
        ``rng``, ``dtype``, ``bits``, ``K``, ...).

    Examples
    --------
    >>> layer = baseline_conv2d("dorefa", 16, 32, 3, bits=4, padding=1)
    >>> type(layer).__name__
    'DoReFaConv2d'
    """
    check_choice(kind, "kind", tuple(BASELINE_KINDS))
    return BASELINE_KINDS[kind](in_channels, out_channels, kernel_size, **options)


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


# -- conv kinds for the model builders -----------------------------------------
#: Kinds whose input is quantized inside the conv (so nothing feeds them);
#: "bwn" keeps full-precision activations and is fed by the model's
#: activation (ReLU), like "fp" and weight-only ABC.
_SELF_QUANTIZING = ("xnor", "bnn", "dorefa", "kbit")
_GEOMETRY = ("stride", "padding", "rng", "dtype")


def kind_defaults(kind: str) -> dict:
    """The options of a conv kind with their defaults (``K`` has none)."""
    check_choice(kind, "kind", tuple(BASELINE_KINDS))
    signature = inspect.signature(BASELINE_KINDS[kind].__init__)
    return {
        name: (None if p.default is inspect.Parameter.empty else p.default)
        for name, p in signature.parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in _GEOMETRY
    }


def normalise_kind_options(kind: str, options: dict) -> dict:
    """Validate a model config's conv options and fill in the defaults.

    Raises
    ------
    ValueError, TypeError
        Unknown option names, or values the layer rejects.
    """
    defaults = kind_defaults(kind)
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ValueError(
            f"conv kind {kind!r} got unknown options {unknown}; expected some of {list(defaults)}"
        )
    out = {**defaults, **options}
    if kind == "kbit" and out["K"] is None:
        raise ValueError("conv kind 'kbit' needs the number of activation bits 'K'")
    BASELINE_KINDS[kind](1, 1, 1, **out)  # the layer's own checks, with clear messages
    return out


def register_baseline_kinds() -> None:
    """Register "bwn", "xnor", "bnn", "dorefa", "kbit" with the model builders.

    After this, ``{"kind": "dorefa", "bits": 4}`` and the others work in any
    :func:`abcref.nn.models.build_model` config (``"fp"`` is built in there).
    """
    from abcref.nn.models import ACTIVATIONS, register_conv_kind

    for kind in ("bwn", "xnor", "bnn", "dorefa", "kbit"):

        def make_conv(options, c_in, c_out, k, *, stride, padding, rng, dtype, _kind=kind):
            return BASELINE_KINDS[_kind](
                c_in, c_out, k, stride=stride, padding=padding, rng=rng, dtype=dtype, **options
            )

        def make_activation(options, activation, _kind=kind):
            return None if _kind in _SELF_QUANTIZING else ACTIVATIONS[activation]()

        def normalise(options, _kind=kind):
            return normalise_kind_options(_kind, options)

        register_conv_kind(kind, make_conv, make_activation=make_activation, normalise=normalise)


register_baseline_kinds()
