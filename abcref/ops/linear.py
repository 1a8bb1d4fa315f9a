"""Fully connected layer, ``out = x @ w.T + b`` (PyTorch weight layout)."""

from __future__ import annotations

from abcref._checks import check_array, check_dout, check_same_dtype, check_shape

__all__ = ["linear_forward", "linear_backward"]


def linear_forward(x, w, b=None):
    """Affine map of a batch of vectors.

    Parameters
    ----------
    x : ndarray, shape (N, in_features)
    w : ndarray, shape (out_features, in_features)
    b : ndarray, shape (out_features,), optional
        All of one dtype, float32 or float64.

    Returns
    -------
    out : ndarray, shape (N, out_features)
    cache : dict
        ``"x"``, ``"w"``, ``"has_bias"``.
    """
    check_array(x, "x", ndim=2)
    check_array(w, "w", ndim=2)
    if b is not None:
        check_array(b, "b", ndim=1)
    check_same_dtype(x=x, w=w, b=b)
    if w.shape[1] != x.shape[1]:
        raise ValueError(
            f"w has in_features {w.shape[1]} (w.shape={w.shape}) but x has "
            f"{x.shape[1]} features (x.shape={x.shape}); expected them equal"
        )
    out = x @ w.T
    if b is not None:
        check_shape(b, "b", (w.shape[0],))
        out += b
    return out, {"x": x, "w": w, "has_bias": b is not None}


def linear_backward(dout, cache):
    """Gradients of :func:`linear_forward`.

    Returns
    -------
    dx : ndarray, shape (N, in_features)
    dw : ndarray, shape (out_features, in_features)
    db : ndarray, shape (out_features,), or None without bias.
    """
    x, w = cache["x"], cache["w"]
    check_dout(dout, (x.shape[0], w.shape[0]), x.dtype)
    db = dout.sum(axis=0) if cache["has_bias"] else None
    return dout @ w, dout.T @ x, db
