"""Tests of abcref.ops.linear: the fully connected layer and its gradients."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abcref.gradcheck import check_gradient
from abcref.ops import linear_backward, linear_forward


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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_preserves_dtype(dtype):
    rng = np.random.default_rng(2)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((3, 4), (2, 4), (2,)))
    out, cache = linear_forward(x, w, b)
    assert out.dtype == dtype
    assert all(g.dtype == dtype for g in linear_backward(np.ones_like(out), cache))


def test_linear_rejects_bad_input():
    x, w = np.zeros((3, 4)), np.zeros((2, 4))
    with pytest.raises(ValueError, match="x must be 2-dimensional"):
        linear_forward(np.zeros((3, 4, 1)), w)
    with pytest.raises(ValueError, match=r"w has in_features 5 .* x has 4 features"):
        linear_forward(x, np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"b must have shape \(2,\), got shape \(3,\)"):
        linear_forward(x, w, np.zeros(3))
    with pytest.raises(TypeError, match="arrays must share one dtype"):
        linear_forward(x, w.astype(np.float32))
