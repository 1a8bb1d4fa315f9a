"""A convolution with a weight quantizer and an activation quantizer.

``out = conv2d(q_a(x), q_w(W))``: BWN, BNN, DoReFa-Net, the K-bit
activation layer of §5.2 and full precision are all this one composition
with different quantizers (XNOR-Net needs its input scale ``K`` and has
its own op in :mod:`abcref.quantize.xnornet`). As in ``ABCConv2d``, the
input is quantized **inside** the convolution: ``x`` is the real-valued BN
output, so every kind is a drop-in replacement for ``ABCConv2d``.
"""

from __future__ import annotations

import numpy as np

from abcref._checks import check_bool, check_choice, check_conv_args, check_dout
from abcref.fast.conv import conv2d_backward, conv2d_forward
from abcref.ops.sign import check_zero_sign
from abcref.quantize import activations as act
from abcref.quantize import weights as wq
from abcref.quantize.activations import ROUNDING_MODES, check_bits
from abcref.quantize.weights import BWN_WEIGHT_STES, SIGN_WEIGHT_STES

#: Weight quantizers: name -> (forward, backward) kernels (options checked by
#: :func:`check_quantizer_options`, so the kernels trust them).
WEIGHT_QUANTIZERS = {
    "fp": (act._identity_forward, act._identity_backward),
    "bwn": (wq._bwn_weights_forward, wq._bwn_weights_backward),
    "sign": (wq._sign_weights_forward, wq._sign_weights_backward),
    "dorefa": (wq._dorefa_weights_forward, wq._dorefa_weights_backward),
}

#: Activation quantizers: name -> (forward, backward) kernels.
ACTIVATION_QUANTIZERS = {
    "fp": (act._identity_forward, act._identity_backward),
    "sign": (act._sign_activations_forward, act._masked),
    "dorefa": (act._dorefa_activations_forward, act._masked),
}

_DEFAULT_WEIGHT_STE = {"bwn": "paper", "sign": "identity"}
_WEIGHT_STES = {"bwn": BWN_WEIGHT_STES, "sign": SIGN_WEIGHT_STES}


def _only_for(value, name: str, wanted: str, quantizer: str, role: str) -> None:
    if value is not None:
        raise ValueError(f"{name} applies to {role}={wanted} only, got {role}={quantizer!r}")


def check_quantizer_options(
    weights: str,
    activations: str,
    *,
    bits=None,
    weight_bits=None,
    weight_ste=None,
    per_channel=None,
    rounding=None,
    zero_sign: int = 1,
) -> dict:
    """Validate a (weights, activations) choice and its options.

    Options that do not apply to the chosen quantizers must stay None, so
    that ``bits=3`` with sign activations is an error, not a no-op.

    Returns
    -------
    dict
        The options as given (``bits``, ``weight_bits``, ``weight_ste``,
        ``per_channel``, ``rounding``, ``zero_sign``), checked; those not
        given stay None.
    """
    check_choice(weights, "weights", tuple(WEIGHT_QUANTIZERS))
    check_choice(activations, "activations", tuple(ACTIVATION_QUANTIZERS))
    checked = {"zero_sign": check_zero_sign(zero_sign)}
    if weights in _WEIGHT_STES:
        if weight_ste is not None:
            check_choice(weight_ste, "weight_ste", _WEIGHT_STES[weights])
    else:
        _only_for(weight_ste, "weight_ste", "'bwn' or 'sign'", weights, "weights")
    if weights == "dorefa":
        if weight_bits is not None:
            weight_bits = check_bits(weight_bits, "weight_bits")
        if per_channel is not None:
            per_channel = check_bool(per_channel, "per_channel")
        if per_channel and weight_bits not in (None, 1):
            raise ValueError(f"per_channel applies to bits=1 only, got bits={weight_bits}")
    else:
        _only_for(weight_bits, "weight_bits", "'dorefa'", weights, "weights")
        _only_for(per_channel, "per_channel", "'dorefa'", weights, "weights")
    if activations == "dorefa":
        if bits is not None:
            bits = check_bits(bits)
        if rounding is not None:
            check_choice(rounding, "rounding", ROUNDING_MODES)
    else:
        _only_for(bits, "bits", "'dorefa'", activations, "activations")
        _only_for(rounding, "rounding", "'dorefa'", activations, "activations")
    checked.update(
        bits=bits,
        weight_bits=weight_bits,
        weight_ste=weight_ste,
        per_channel=per_channel,
        rounding=rounding,
    )
    return checked


def resolve_quantizer_options(
    weights: str,
    activations: str,
    *,
    bits=None,
    weight_bits=None,
    weight_ste=None,
    per_channel=None,
    rounding=None,
    zero_sign: int = 1,
) -> tuple[dict, dict]:
    """The quantizers' keyword arguments, defaults filled in; trusts its arguments.

    The arguments are those :func:`check_quantizer_options` accepted.

    Returns
    -------
    weight_kwargs, act_kwargs : dict
        Keyword arguments of the chosen weight and activation kernels.
    """
    w_kwargs: dict = {}
    a_kwargs: dict = {}
    if weights in _WEIGHT_STES:
        w_kwargs["weight_ste"] = _DEFAULT_WEIGHT_STE[weights] if weight_ste is None else weight_ste
    if weights == "dorefa":
        w_kwargs["bits"] = 1 if weight_bits is None else weight_bits
        w_kwargs["per_channel"] = bool(per_channel)  # None: one E for the whole tensor
    if weights != "fp":
        w_kwargs["zero_sign"] = zero_sign
    if activations == "dorefa":
        a_kwargs["bits"] = 4 if bits is None else bits
        a_kwargs["rounding"] = "half_even" if rounding is None else rounding
    if activations == "sign":
        a_kwargs["zero_sign"] = zero_sign
    return w_kwargs, a_kwargs


def quantizer_options(weights: str, activations: str, **options) -> tuple[dict, dict]:
    """Validate a (weights, activations) choice and its options; fill in the defaults.

    :func:`check_quantizer_options` then :func:`resolve_quantizer_options`
    (same keywords).

    Returns
    -------
    weight_kwargs, act_kwargs : dict
        Keyword arguments for the chosen forward kernels.
    """
    checked = check_quantizer_options(weights, activations, **options)
    return resolve_quantizer_options(weights, activations, **checked)


def quantized_conv2d_forward(
    x: np.ndarray,
    W: np.ndarray,
    *,
    weights: str,
    activations: str,
    stride=1,
    padding=0,
    pad_value: float = 0.0,
    bits=None,
    weight_bits=None,
    weight_ste=None,
    per_channel=None,
    rounding=None,
    zero_sign: int = 1,
) -> tuple[np.ndarray, dict]:
    """Convolution of quantized activations with quantized weights.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
        Real-valued input (the BN output); quantized here.
    W : ndarray, shape (O, C, kh, kw)
        Latent float weights, dtype of ``x``.
    weights : {"fp", "bwn", "sign", "dorefa"}
        Weight quantizer: identity; BWN ``alpha sign(W)`` per output
        channel; BNN ``sign(W)``; DoReFa (1 bit ``E sign(W)``, or k bits).
    activations : {"fp", "sign", "dorefa"}
        Activation quantizer: identity; BNN ``sign(x)``; DoReFa
        ``quantize_k(clip(x, 0, 1))``.
    stride, padding : int or (int, int)
    pad_value : float
        Value of the padding border of the *quantized* input (0 default,
        the float training graph of conventions.md point 10).
    bits : int, optional
        DoReFa activation bits (default 4, as ABC-Net Table 3).
    weight_bits : int, optional
        DoReFa weight bits (default 1).
    weight_ste : str, optional
        ``"paper"`` (default) / ``"exact"`` / ``"identity"`` for BWN;
        ``"identity"`` (default) / ``"clipped"`` for sign weights.
    per_channel : bool, optional
        DoReFa 1-bit weights: one E per output channel (default False).
    rounding : {"half_even", "half_up"}, optional
        DoReFa activation tie rule (default ``"half_even"``).
    zero_sign : {1, -1}
        sign(0) of every sign quantizer (default +1, see docs).

    Returns
    -------
    out : ndarray, shape (N, O, Ho, Wo), dtype of ``x``
    cache : dict

    Raises
    ------
    ValueError, TypeError
        Unknown quantizer, options given to a quantizer they do not
        apply to, bad bits, shapes, dtypes or NaN/Inf.

    Notes
    -----
    See docs/baselines.md for the published definition behind each
    quantizer. Backward: ``conv2d_backward`` then each quantizer's own
    backward (straight-through estimators).
    """
    stride, padding, pad_value, _ = check_conv_args(
        x, W, stride=stride, padding=padding, pad_value=pad_value, names=("x", "W", "b")
    )
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
    return _quantized_conv2d(
        x, W, weights, activations, w_kwargs, a_kwargs, stride, padding, pad_value
    )


def _quantized_conv2d(x, W, weights, activations, w_kwargs, a_kwargs, stride, padding, pad_value):
    """The kernel of :func:`quantized_conv2d_forward`: arguments checked, options resolved."""
    W_q, w_cache = WEIGHT_QUANTIZERS[weights][0](W, **w_kwargs)
    x_q, a_cache = ACTIVATION_QUANTIZERS[activations][0](x, **a_kwargs)
    out, conv_cache = conv2d_forward(x_q, W_q, stride=stride, padding=padding, pad_value=pad_value)
    cache = {
        "weights": weights,
        "activations": activations,
        "w": w_cache,
        "a": a_cache,
        "conv": conv_cache,
        "out_shape": out.shape,
    }
    return out, cache


def quantized_conv2d_backward(dout: np.ndarray, cache: dict) -> dict:
    """Gradients of :func:`quantized_conv2d_forward`.

    Returns
    -------
    grads : dict
        ``"x"`` (N, C, H, W) and ``"W"`` (O, C, kh, kw).
    """
    check_dout(dout, cache["out_shape"], cache["conv"]["w"].dtype)
    dx_q, dW_q, _ = conv2d_backward(dout, cache["conv"])
    dx = ACTIVATION_QUANTIZERS[cache["activations"]][1](dx_q, cache["a"])
    dW = WEIGHT_QUANTIZERS[cache["weights"]][1](dW_q, cache["w"])
    return {"x": dx, "W": dW}
