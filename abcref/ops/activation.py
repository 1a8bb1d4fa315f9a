"""Element-wise activations: ReLU and clip (hardtanh)."""

from __future__ import annotations

import numpy as np

from abcref._checks import check_array, check_dout, check_real

__all__ = ["relu_forward", "relu_backward", "clip_forward", "clip_backward"]


def relu_forward(x):
    """Rectified linear unit, ``max(x, 0)``.

    Parameters
    ----------
    x : ndarray, any shape, float32 or float64

    Returns
    -------
    out : ndarray, shape and dtype of ``x``
    cache : dict
        ``"mask"``: boolean array, ``x > 0``; ``"dtype"``.

    Notes
    -----
    The gradient at ``x == 0`` is 0, as in PyTorch.
    """
    check_array(x, "x")
    mask = x > 0
    # where(), not x * mask: negative inputs give +0.0, never -0.0
    return np.where(mask, x, x.dtype.type(0)), {"mask": mask, "dtype": x.dtype}


def relu_backward(dout, cache):
    """Gradient of :func:`relu_forward`: ``dout * (x > 0)``."""
    mask = cache["mask"]
    check_dout(dout, mask.shape, cache["dtype"])
    return dout * mask


def clip_forward(x, *, low=-1.0, high=1.0):
    """Clip to ``[low, high]`` (hardtanh).

    Parameters
    ----------
    x : ndarray, any shape, float32 or float64
    low, high : float
        Bounds, ``low < high``.

    Returns
    -------
    out : ndarray, shape and dtype of ``x``
    cache : dict
        ``"mask"``: boolean array, ``low < x < high``; ``"dtype"``.

    Notes
    -----
    The gradient is 1 strictly inside ``(low, high)`` and 0 at and
    beyond the bounds: at ``x == low`` or ``x == high`` it is **0**, the
    convention of PyTorch's ``hardtanh`` (``nn.Hardtanh``). (``torch.clamp``
    differs: it passes the gradient at the bounds.)
    """
    check_array(x, "x")
    low = check_real(low, "low")
    high = check_real(high, "high")
    if not low < high:
        raise ValueError(f"low must be < high, got low={low}, high={high}")
    out = np.clip(x, x.dtype.type(low), x.dtype.type(high))
    mask = (x > low) & (x < high)
    return out, {"mask": mask, "dtype": x.dtype}


def clip_backward(dout, cache):
    """Gradient of :func:`clip_forward`: ``dout * (low < x < high)``."""
    mask = cache["mask"]
    check_dout(dout, mask.shape, cache["dtype"])
    return dout * mask
