"""Softmax cross-entropy loss over integer class labels."""

from __future__ import annotations

import numpy as np

from abcref._checks import check_array, check_real

__all__ = ["softmax_cross_entropy_forward", "softmax_cross_entropy_backward"]


def softmax_cross_entropy_forward(logits, labels):
    """Mean over the batch of ``-log softmax(logits)[label]``.

    Parameters
    ----------
    logits : ndarray, shape (N, K), float32 or float64
    labels : ndarray, shape (N,), integer dtype, values in [0, K)

    Returns
    -------
    loss : numpy scalar, dtype of ``logits``
    cache : dict
        ``"probs"``: softmax (N, K); ``"labels"``.

    Raises
    ------
    TypeError
        Non-float logits, non-integer labels (floats and bools included).
    ValueError
        Wrong ndim, length mismatch, a label outside [0, K), NaN/Inf.

    Notes
    -----
    Stable for any finite logits: the row maximum is subtracted before
    exponentiating and the loss uses ``log-sum-exp`` rather than
    ``log(softmax)``.
    """
    check_array(logits, "logits", ndim=2)
    if not isinstance(labels, np.ndarray):
        raise TypeError(f"labels must be a numpy.ndarray, got {type(labels).__name__}")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must have an integer dtype, got dtype {labels.dtype}")
    n, k = logits.shape
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},) to match logits, got {labels.shape}")
    if n == 0:
        raise ValueError("logits must hold at least one example, got N=0")
    bad = (labels < 0) | (labels >= k)
    if bad.any():
        raise ValueError(
            f"labels must be in [0, {k}) for {k} classes, got {labels[bad][0]} "
            f"at index {int(np.flatnonzero(bad)[0])}"
        )
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    log_probs = shifted - np.log(total)
    loss = -np.mean(log_probs[np.arange(n), labels])
    return logits.dtype.type(loss), {"probs": exp / total, "labels": labels}


def softmax_cross_entropy_backward(dloss, cache):
    """Gradient of :func:`softmax_cross_entropy_forward`.

    Parameters
    ----------
    dloss : float
        Upstream gradient of the scalar loss (1.0 for the loss itself).
    cache : dict

    Returns
    -------
    dlogits : ndarray, shape (N, K)
        ``dloss * (softmax - onehot(labels)) / N``.
    """
    dloss = check_real(dloss, "dloss")
    probs, labels = cache["probs"], cache["labels"]
    n = probs.shape[0]
    dlogits = probs.copy()
    dlogits[np.arange(n), labels] -= 1
    dlogits *= probs.dtype.type(dloss / n)
    return dlogits
