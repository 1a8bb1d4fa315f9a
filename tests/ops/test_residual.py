"""Tests of abcref.ops.residual: the residual add and its two gradients."""

import numpy as np
import pytest

from abcref.gradcheck import check_gradient
from abcref.ops import residual_add_backward, residual_add_forward


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
def test_residual_add_preserves_dtype(dtype):
    x = np.random.default_rng(2).standard_normal((3, 4)).astype(dtype)
    out, cache = residual_add_forward(x, x)
    assert out.dtype == dtype
    assert all(g.dtype == dtype for g in residual_add_backward(np.ones_like(out), cache))


def test_residual_add_rejects_bad_input():
    with pytest.raises(ValueError, match="a and b must have one shape for a residual add"):
        residual_add_forward(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(TypeError, match="arrays must share one dtype"):
        residual_add_forward(np.zeros(2), np.zeros(2, dtype=np.float32))
