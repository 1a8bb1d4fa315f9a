"""Activation quantizers of the comparison systems (Table 3).

- ``sign_activations_*``: BNN and XNOR-Net binary activations ``sign(x)``
  with the clipped straight-through estimator ``1[|x| <= 1]``
  (Courbariaux et al. 2016, the STE ``g_r = g_q 1[|r| <= 1]``; XNOR-Net
  cites it).
- ``dorefa_activations_*``: DoReFa-Net k-bit activations
  ``quantize_k(clip(x, 0, 1))`` with the straight-through estimator of
  ``quantize_k`` (identity) times the derivative of the clip
  ``1[0 <= x <= 1]`` (Zhou et al. 2016, §2.1 and §2.3).

Each ``*_forward`` returns ``(out, cache)``; each ``*_backward(dout, cache)``
returns the gradient with respect to the input.
"""

from __future__ import annotations

import numpy as np

from abcref._checks import check_array, check_choice, check_dout, check_int
from abcref.ops.sign import binary_sign, check_zero_sign

#: Largest supported bit width: beyond it float32 cannot hold the levels.
MAX_BITS = 24

ROUNDING_MODES = ("half_even", "half_up")


def check_bits(bits, name: str = "bits") -> int:
    """Validate a bit width: an int in [1, MAX_BITS]."""
    bits = check_int(bits, name, min_value=1)
    if bits > MAX_BITS:
        raise ValueError(f"{name} must be <= {MAX_BITS}, got {bits}")
    return bits


# -- binary sign with the clipped STE (BNN, XNOR-Net) ------------------------
def sign_activations_forward(x: np.ndarray, *, zero_sign: int = 1) -> tuple[np.ndarray, dict]:
    """Binarize activations: ``A = sign(x)`` in {-1, +1}.

    Parameters
    ----------
    x : ndarray, any shape
        Real-valued activations (the BN output), float32 or float64.
    zero_sign : {1, -1}
        Value of sign(0); +1 as BNN's eq. 1 and XNOR-Net.

    Returns
    -------
    out : ndarray, same shape and dtype as ``x``
        Only +1 and -1.
    cache : dict
        ``"mask"``: ``|x| <= 1`` for the straight-through estimator.

    Notes
    -----
    Backward (Courbariaux et al. 2016, the "hard tanh" STE):
    ``dx = dA * 1[|x| <= 1]``, the boundary ``|x| = 1`` included.
    """
    check_array(x, "x")
    return _sign_activations_forward(x, zero_sign=check_zero_sign(zero_sign))


def _sign_activations_forward(x, *, zero_sign):
    cache = {"mask": np.abs(x) <= 1, "shape": x.shape, "dtype": x.dtype}
    return binary_sign(x, zero_sign), cache


def sign_activations_backward(dout: np.ndarray, cache: dict) -> np.ndarray:
    """Clipped straight-through estimator: ``dx = dout * 1[|x| <= 1]``."""
    check_dout(dout, cache["shape"], cache["dtype"])
    return _masked(dout, cache)


def _masked(dout, cache):
    return np.where(cache["mask"], dout, dout.dtype.type(0))


# -- DoReFa k-bit activations --------------------------------------------------
def quantize_k(x: np.ndarray, bits: int, *, rounding: str = "half_even") -> np.ndarray:
    """DoReFa's uniform quantizer of [0, 1]: ``round((2^k - 1) x) / (2^k - 1)``.

    Parameters
    ----------
    x : ndarray
        Values in [0, 1] (not checked here; callers clip first).
    bits : int
        k >= 1.
    rounding : {"half_even", "half_up"}
        ``"half_even"`` is ``np.round`` (and ``tf.round``, used by the
        DoReFa authors' code); ``"half_up"`` is ``floor(y + 0.5)``.

    Returns
    -------
    ndarray, same shape and dtype as ``x``
        Values in {0, 1/(2^k-1), ..., 1}.

    Notes
    -----
    Zhou et al. 2016, §2.1 (``quantize_k``).
    """
    levels = x.dtype.type(2**bits - 1)
    scaled = x * levels
    rounded = np.round(scaled) if rounding == "half_even" else np.floor(scaled + x.dtype.type(0.5))
    return rounded / levels


def dorefa_activations_forward(
    x: np.ndarray, *, bits: int = 4, rounding: str = "half_even"
) -> tuple[np.ndarray, dict]:
    """DoReFa-Net k-bit activations: ``quantize_k(clip(x, 0, 1))``.

    Parameters
    ----------
    x : ndarray, any shape
        Real-valued activations (the BN output), float32 or float64.
    bits : int
        Bit width k >= 1 (Table 3 of ABC-Net uses k = 4).
    rounding : {"half_even", "half_up"}
        Tie rule of the rounding (see :func:`quantize_k`).

    Returns
    -------
    out : ndarray, same shape and dtype as ``x``
        Values in {0, 1/(2^k-1), ..., 1}.
    cache : dict
        ``"mask"``: ``0 <= x <= 1``.

    Notes
    -----
    Zhou et al. 2016, §2.3: the activation first passes a
    bounded function (the clip, as in their ResNet-18 code) and is then
    quantized with ``quantize_k``. Backward: the straight-through estimator of
    ``quantize_k`` is the identity, so ``dx = dout * 1[0 <= x <= 1]``
    (the clip's derivative, both ends included). With ``bits = 1`` the
    output is 0 or 1 (not -1/+1): ``x = 0.5`` gives 0 under half-even
    rounding, 1 under half-up.
    """
    check_array(x, "x")
    bits = check_bits(bits)
    check_choice(rounding, "rounding", ROUNDING_MODES)
    return _dorefa_activations_forward(x, bits=bits, rounding=rounding)


def _dorefa_activations_forward(x, *, bits, rounding):
    zero, one = x.dtype.type(0), x.dtype.type(1)
    out = quantize_k(np.clip(x, zero, one), bits, rounding=rounding)
    cache = {"mask": (x >= 0) & (x <= 1), "shape": x.shape, "dtype": x.dtype}
    return out, cache


def dorefa_activations_backward(dout: np.ndarray, cache: dict) -> np.ndarray:
    """STE of ``quantize_k`` times the clip's derivative: ``dout * 1[0 <= x <= 1]``."""
    check_dout(dout, cache["shape"], cache["dtype"])
    return _masked(dout, cache)


# -- full precision --------------------------------------------------------------
def identity_forward(x: np.ndarray) -> tuple[np.ndarray, dict]:
    """Full precision: ``out = x`` (a copy), for a uniform quantizer table."""
    check_array(x, "x")
    return _identity_forward(x)


def _identity_forward(x):
    return x.copy(), {"shape": x.shape, "dtype": x.dtype}


def identity_backward(dout: np.ndarray, cache: dict) -> np.ndarray:
    """Full precision: the gradient passes unchanged (a copy)."""
    check_dout(dout, cache["shape"], cache["dtype"])
    return _identity_backward(dout, cache)


def _identity_backward(dout, cache):
    return dout.copy()
