"""Weight quantizers of the comparison systems (Table 3).

- ``bwn_weights_*``: BWN / XNOR-Net, ``W~ = alpha * sign(W)`` with
  ``alpha = mean|W|`` per output channel (Rastegari et al. 2016, eq. 6).
- ``sign_weights_*``: BNN, ``W_b = sign(W)``, no scaling
  (Courbariaux et al. 2016, eq. 1 and Algorithm 1).
- ``dorefa_weights_*``: DoReFa-Net, 1 bit: ``E(|W|) * sign(W)`` with one
  scalar E per layer; k >= 2 bits: ``2 quantize_k(tanh W / (2 max|tanh W|)
  + 1/2) - 1`` (Zhou et al. 2016, §2.2).

``W`` has the output channel on axis 0 (OIHW for conv, (out, in) for a
linear layer). Each ``*_forward`` returns ``(W_q, cache)`` and each
``*_backward(dW_q, cache)`` returns ``dW``, the gradient for the latent
float weights. See docs/baselines.md for every choice made here.
"""

from __future__ import annotations

import numpy as np

from abcref._checks import check_array, check_bool, check_choice, check_dout
from abcref.ops.sign import binary_sign, check_zero_sign
from abcref.quantize.activations import check_bits, quantize_k

BWN_WEIGHT_STES = ("paper", "exact", "identity")
SIGN_WEIGHT_STES = ("identity", "clipped")


def _check_weight(W) -> np.ndarray:
    check_array(W, "W")
    if W.ndim < 2:
        raise ValueError(
            f"W must have the output channel on axis 0 and at least 2 dimensions, "
            f"got shape {W.shape}"
        )
    return W


def _check_dW(dW, cache) -> None:
    check_dout(dW, cache["shape"], cache["dtype"], "dW_q", like="W")


def _channel_axes(W: np.ndarray) -> tuple[int, ...]:
    return tuple(range(1, W.ndim))


# -- BWN / XNOR-Net ----------------------------------------------------------------
def bwn_weights_forward(
    W: np.ndarray, *, weight_ste: str = "paper", zero_sign: int = 1
) -> tuple[np.ndarray, dict]:
    """Binary-Weight-Network weights ``W~ = alpha * sign(W)``.

    Parameters
    ----------
    W : ndarray, shape (C_out, ...)
        Latent float weights, e.g. OIHW. float32 or float64.
    weight_ste : {"paper", "exact", "identity"}
        Gradient rule used by :func:`bwn_weights_backward` (see Notes).
    zero_sign : {1, -1}
        Value of sign(0); +1 as XNOR-Net (``B_i = +1 if W_i >= 0``).

    Returns
    -------
    W_q : ndarray, same shape and dtype as ``W``
        ``alpha[o] * B[o]`` with ``B = sign(W)`` in {-1, +1}.
    cache : dict
        ``"B"`` (same shape as W), ``"alpha"`` (shape (C_out, 1, ...)),
        ``"n"`` (weights per output channel), the mask ``|W| <= 1``.

    Notes
    -----
    Rastegari et al. 2016, eqs. 4-6: ``B = sign(W)`` and
    ``alpha = W^T B / n = ||W||_1 / n`` per filter, ``n = C_in kh kw``.
    With ``g = dC/dW~`` the backward rules are

    - ``"paper"``: ``dW = (1/n + alpha 1[|W| <= 1]) g``, the formula
      printed in §3.1 ("Training Binary-Weights-Networks"), reading its
      ``d sign/d r`` as the indicator estimator of BinaryNet that it cites.
    - ``"exact"``: the chain rule through ``alpha(W)`` with the same STE
      for sign: ``dW_i = alpha 1[|W_i| <= 1] g_i + (B_i / n) sum_j B_j g_j``
      (sum over the filter). The paper's formula keeps only the j = i
      term of the second part.
    - ``"identity"``: ``dW = g``, what Algorithm 1 line 9 does (update W
      with ``dC/dW~``).
    """
    _check_weight(W)
    check_choice(weight_ste, "weight_ste", BWN_WEIGHT_STES)
    return _bwn_weights_forward(W, weight_ste=weight_ste, zero_sign=check_zero_sign(zero_sign))


def _bwn_weights_forward(W, *, weight_ste, zero_sign):
    B = binary_sign(W, zero_sign)
    axes = _channel_axes(W)
    # alpha = W^T B / n = mean |W| (eq. 6); written with B so that the
    # derivative d alpha / d W = B / n holds at W = 0 too.
    alpha = np.mean(W * B, axis=axes, keepdims=True)
    n = int(np.prod(W.shape[1:]))
    cache = {
        "B": B,
        "alpha": alpha,
        "n": n,
        "mask": np.abs(W) <= 1,
        "weight_ste": weight_ste,
        "shape": W.shape,
        "dtype": W.dtype,
    }
    return alpha * B, cache


def bwn_weights_backward(dW_q: np.ndarray, cache: dict) -> np.ndarray:
    """Gradient for the latent weights of :func:`bwn_weights_forward`.

    Parameters
    ----------
    dW_q : ndarray, same shape and dtype as ``W``
        Upstream gradient ``g = dC/dW~``.
    cache : dict
        From :func:`bwn_weights_forward`.

    Returns
    -------
    dW : ndarray, same shape and dtype as ``W``
    """
    _check_dW(dW_q, cache)
    return _bwn_weights_backward(dW_q, cache)


def _bwn_weights_backward(dW_q, cache):
    rule, B, alpha, n = cache["weight_ste"], cache["B"], cache["alpha"], cache["n"]
    if rule == "identity":
        return dW_q.copy()
    zero = dW_q.dtype.type(0)
    sign_part = alpha * np.where(cache["mask"], dW_q, zero)
    if rule == "paper":
        return dW_q / dW_q.dtype.type(n) + sign_part
    axes = tuple(range(1, dW_q.ndim))
    alpha_part = B * np.sum(B * dW_q, axis=axes, keepdims=True) / dW_q.dtype.type(n)
    return sign_part + alpha_part


# -- BNN -----------------------------------------------------------------------------
def sign_weights_forward(
    W: np.ndarray, *, weight_ste: str = "identity", zero_sign: int = 1
) -> tuple[np.ndarray, dict]:
    """BNN weights ``W_b = sign(W)``, no scaling.

    Parameters
    ----------
    W : ndarray, any shape with ndim >= 2
        Latent float weights.
    weight_ste : {"identity", "clipped"}
        ``"identity"``: ``dW = g`` (BNN Algorithm 1 updates W with
        ``g_{W^b}``); ``"clipped"``: ``dW = g 1[|W| <= 1]``.
    zero_sign : {1, -1}
        Value of sign(0); +1 as BNN's eq. 1 (``+1 if x >= 0``).

    Returns
    -------
    W_q : ndarray, same shape and dtype as ``W``, only +1 and -1.
    cache : dict

    Notes
    -----
    Courbariaux et al. 2016, eq. 1 and Algorithm 1. The latent weights
    are clipped to [-1, 1] after every update in the original; the layer
    :class:`abcref.nn.quantconv.QuantConv2d` with BNN's preset
    (``clip_weights=True``) offers that as ``after_update()``. Inside
    [-1, 1] both rules agree.
    """
    _check_weight(W)
    check_choice(weight_ste, "weight_ste", SIGN_WEIGHT_STES)
    return _sign_weights_forward(W, weight_ste=weight_ste, zero_sign=check_zero_sign(zero_sign))


def _sign_weights_forward(W, *, weight_ste, zero_sign):
    cache = {
        "mask": np.abs(W) <= 1,
        "weight_ste": weight_ste,
        "shape": W.shape,
        "dtype": W.dtype,
    }
    return binary_sign(W, zero_sign), cache


def sign_weights_backward(dW_q: np.ndarray, cache: dict) -> np.ndarray:
    """Straight-through gradient of :func:`sign_weights_forward`."""
    _check_dW(dW_q, cache)
    return _sign_weights_backward(dW_q, cache)


def _sign_weights_backward(dW_q, cache):
    if cache["weight_ste"] == "identity":
        return dW_q.copy()
    return np.where(cache["mask"], dW_q, dW_q.dtype.type(0))


# -- DoReFa-Net ------------------------------------------------------------------------
def dorefa_weights_forward(
    W: np.ndarray, *, bits: int = 1, per_channel: bool = False, zero_sign: int = 1
) -> tuple[np.ndarray, dict]:
    """DoReFa-Net weights.

    Parameters
    ----------
    W : ndarray, shape (C_out, ...)
        Latent float weights. float32 or float64.
    bits : int
        1: ``E * sign(W)``; k >= 2: the tanh-normalised k-bit rule.
    per_channel : bool
        1 bit only: one E per output channel instead of one per layer.
    zero_sign : {1, -1}
        Value of sign(0) for 1 bit; +1 as the authors' code.

    Returns
    -------
    W_q : ndarray, same shape and dtype as ``W``
    cache : dict

    Raises
    ------
    ValueError
        For k >= 2 when ``W`` is all zero (``max|tanh W| = 0``).

    Notes
    -----
    Zhou et al. 2016, §2.2. One bit: ``W_q = sign(W) E(|W|)`` with
    ``E(|W|)`` the mean of ``|W|`` over the whole layer (the authors'
    ``stop_gradient(reduce_mean(abs(W)))``); backward ``dW = g``
    (straight-through, E constant).

    k >= 2 bits: ``t = tanh(W)``, ``m = max|t|``,
    ``W_q = 2 quantize_k(t / (2m) + 1/2) - 1``. Backward treats
    ``quantize_k`` as the identity and differentiates the rest exactly,
    i.e. the gradient of ``t / m`` (through ``m`` too, split evenly among
    tied maxima as TensorFlow's ``reduce_max`` does)::

        dt = g / m - (sum(g t) / m^2) dm/dt,   dW = (1 - t^2) dt
    """
    _check_weight(W)
    bits = check_bits(bits)
    zero_sign = check_zero_sign(zero_sign)
    if check_bool(per_channel, "per_channel") and bits != 1:
        raise ValueError(f"per_channel applies to bits=1 only, got bits={bits}")
    return _dorefa_weights_forward(W, bits=bits, per_channel=per_channel, zero_sign=zero_sign)


def _dorefa_weights_forward(W, *, bits, per_channel, zero_sign):
    cache = {"bits": bits, "shape": W.shape, "dtype": W.dtype}
    if bits == 1:
        axes = _channel_axes(W) if per_channel else None
        E = np.mean(np.abs(W), axis=axes, keepdims=True)
        return binary_sign(W, zero_sign) * E, cache
    t = np.tanh(W)
    m = np.max(np.abs(t))
    if m == 0:
        raise ValueError(
            f"W must not be all zero for {bits}-bit DoReFa weights "
            "(they are normalised by max|tanh(W)|)"
        )
    half = W.dtype.type(0.5)
    W_q = 2 * quantize_k(t / (2 * m) + half, bits) - 1
    cache.update(t=t, m=m)
    return W_q, cache


def dorefa_weights_backward(dW_q: np.ndarray, cache: dict) -> np.ndarray:
    """Gradient for the latent weights of :func:`dorefa_weights_forward`."""
    _check_dW(dW_q, cache)
    return _dorefa_weights_backward(dW_q, cache)


def _dorefa_weights_backward(dW_q, cache):
    if cache["bits"] == 1:
        return dW_q.copy()
    t, m = cache["t"], cache["m"]
    is_max = np.abs(t) == m
    dm_dt = np.sign(t) * is_max / dW_q.dtype.type(np.count_nonzero(is_max))
    dt = dW_q / m - (np.sum(dW_q * t) / (m * m)) * dm_dt
    return (1 - t * t) * dt
