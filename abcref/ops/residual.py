"""Residual (skip) connection: element-wise sum of two branches."""

from __future__ import annotations

from abcref._checks import check_array, check_dout, check_same_dtype

__all__ = ["residual_add_forward", "residual_add_backward"]


def residual_add_forward(a, b):
    """``out = a + b`` for two tensors of one shape (no broadcasting).

    Parameters
    ----------
    a, b : ndarray, same shape and dtype (float32 or float64)

    Returns
    -------
    out : ndarray, shape of ``a``
    cache : dict
        ``"shape"``, ``"dtype"``.

    Raises
    ------
    ValueError
        If the shapes differ (broadcasting would hide a wiring mistake).
    """
    check_array(a, "a")
    check_array(b, "b")
    dtype = check_same_dtype(a=a, b=b)
    if a.shape != b.shape:
        raise ValueError(
            f"a and b must have one shape for a residual add, got {a.shape} and {b.shape}"
        )
    return a + b, {"shape": a.shape, "dtype": dtype}


def residual_add_backward(dout, cache):
    """Gradients of :func:`residual_add_forward`.

    Returns
    -------
    da, db : ndarray
        Both equal ``dout``; two independent copies, so changing one in
        place never changes the other.
    """
    check_dout(dout, cache["shape"], cache["dtype"])
    return dout.copy(), dout.copy()
