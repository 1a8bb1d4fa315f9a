import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abcref.gradcheck import check_gradient
from abcref.ops import (
    linear_backward,
    linear_forward,
    residual_add_backward,
    residual_add_forward,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 4),
    fin=st.integers(1, 5),
    fout=st.integers(1, 4),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_linear_forward_and_gradients(n, fin, fout, bias, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, fin))
    w = rng.standard_normal((fout, fin))
    b = rng.standard_normal(fout) if bias else None
    out, cache = linear_forward(x, w, b)
    np.testing.assert_allclose(out, x @ w.T + (0 if b is None else b), rtol=1e-12)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = linear_backward(dout, cache)

    def f(_):
        return linear_forward(x, w, b)[0]

    check_gradient(f, x, dout, dx, name="dx")
    check_gradient(f, w, dout, dw, name="dw")
    if bias:
        check_gradient(f, b, dout, db, name="db")
    else:
        assert db is None


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


def test_residual_add_and_gradients():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((2, 3, 4, 4))
    out, cache = residual_add_forward(a, b)
    np.testing.assert_array_equal(out, a + b)
    dout = rng.standard_normal(out.shape)
    da, db = residual_add_backward(dout, cache)
    check_gradient(lambda _: residual_add_forward(a, b)[0], a, dout, da, name="da")
    check_gradient(lambda _: residual_add_forward(a, b)[0], b, dout, db, name="db")
    da += 1.0  # independent arrays: changing one leaves the other alone
    np.testing.assert_array_equal(db, dout)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_loss_residual_preserve_dtype(dtype):
    rng = np.random.default_rng(2)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((3, 4), (2, 4), (2,)))
    out, cache = linear_forward(x, w, b)
    assert out.dtype == dtype
    assert all(g.dtype == dtype for g in linear_backward(np.ones_like(out), cache))
    loss, cache = softmax_cross_entropy_forward(out, np.array([0, 1, 1]))
    assert loss.dtype == dtype
    assert softmax_cross_entropy_backward(1.0, cache).dtype == dtype
    out, cache = residual_add_forward(x, x)
    assert out.dtype == dtype
    assert all(g.dtype == dtype for g in residual_add_backward(np.ones_like(out), cache))


def test_linear_loss_residual_reject_bad_input():
    x, w = np.zeros((3, 4)), np.zeros((2, 4))
    with pytest.raises(ValueError, match="x must be 2-dimensional"):
        linear_forward(np.zeros((3, 4, 1)), w)
    with pytest.raises(ValueError, match=r"w has in_features 5 .* x has 4 features"):
        linear_forward(x, np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"b must have shape \(2,\), got shape \(3,\)"):
        linear_forward(x, w, np.zeros(3))
    with pytest.raises(TypeError, match="arrays must share one dtype"):
        linear_forward(x, w.astype(np.float32))

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

    with pytest.raises(ValueError, match="a and b must have one shape for a residual add"):
        residual_add_forward(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(TypeError, match="arrays must share one dtype"):
        residual_add_forward(np.zeros(2), np.zeros(2, dtype=np.float32))
