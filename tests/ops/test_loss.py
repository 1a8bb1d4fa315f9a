"""Tests of abcref.ops.loss: softmax cross-entropy, its gradient and its stability."""

import numpy as np
import pytest

from abcref.gradcheck import check_gradient
from abcref.ops import softmax_cross_entropy_backward, softmax_cross_entropy_forward


def test_softmax_cross_entropy_value_and_gradient():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((5, 4))
    labels = np.array([0, 3, 1, 1, 2])
    loss, cache = softmax_cross_entropy_forward(logits, labels)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(5), labels])), rel=1e-12)
    dlogits = softmax_cross_entropy_backward(0.7, cache)
    check_gradient(
        lambda _: softmax_cross_entropy_forward(logits, labels)[0], logits, 0.7, dlogits
    )


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0, -1000.0], [-5e4, 5e4, 0.0]])
    loss, cache = softmax_cross_entropy_forward(logits, np.array([1, 0]))
    # -log softmax: row 0 -> 1000, row 1 -> 1e5
    assert loss == pytest.approx((1000.0 + 1e5) / 2)
    assert np.isfinite(softmax_cross_entropy_backward(1.0, cache)).all()
    loss32, _ = softmax_cross_entropy_forward(logits.astype(np.float32), np.array([0, 1]))
    assert np.isfinite(loss32) and loss32 == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_preserves_dtype(dtype):
    logits = np.random.default_rng(2).standard_normal((3, 2)).astype(dtype)
    loss, cache = softmax_cross_entropy_forward(logits, np.array([0, 1, 1]))
    assert loss.dtype == dtype
    assert softmax_cross_entropy_backward(1.0, cache).dtype == dtype


def test_softmax_cross_entropy_rejects_bad_input():
    logits = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 4\) for 4 classes, got 4"):
        softmax_cross_entropy_forward(logits, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 4\) .* got -1 at index 2"):
        softmax_cross_entropy_forward(logits, np.array([0, 1, -1]))
    with pytest.raises(TypeError, match="labels must have an integer dtype, got dtype float64"):
        softmax_cross_entropy_forward(logits, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match="labels must have an integer dtype, got dtype bool"):
        softmax_cross_entropy_forward(logits, np.array([True, False, True]))
    with pytest.raises(TypeError, match="labels must be a numpy.ndarray, got list"):
        softmax_cross_entropy_forward(logits, [0, 1, 2])
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\)"):
        softmax_cross_entropy_forward(logits, np.array([0, 1]))
    with pytest.raises(ValueError, match="logits must be finite"):
        softmax_cross_entropy_forward(np.full((3, 4), np.nan), np.array([0, 1, 2]))
    _, cache = softmax_cross_entropy_forward(logits, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="dloss must be finite"):
        softmax_cross_entropy_backward(np.inf, cache)
