"""Tests of abcref.fast.relu: the bit-mask ReLU equals the reference bit for bit."""

import numpy as np
import pytest

from abcref import ops
from abcref.fast.relu import relu_forward
from abcref.nn import ReLU


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_relu_equals_reference_bitwise(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 5, 6)).astype(dtype)
    x.flat[:5] = [-0.0, 0.0, -1.0, 1.0, np.finfo(dtype).tiny]
    for arr in (x, x.transpose(0, 2, 3, 1), x[:, ::2]):  # contiguous or not
        out, cache = relu_forward(arr)
        ref, ref_cache = ops.relu_forward(arr)
        assert out.dtype == ref.dtype and out.shape == ref.shape
        np.testing.assert_array_equal(out.view(f"u{out.itemsize}"), ref.view(f"u{ref.itemsize}"))
        np.testing.assert_array_equal(cache["mask"], ref_cache["mask"])
        assert not np.signbit(out).any()  # +0.0, never -0.0


def test_relu_layer_uses_the_fast_forward_and_the_reference_backward():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 4, 4))
    dout = rng.standard_normal(x.shape)
    layer = ReLU()
    out = layer.forward(x)
    ref, cache = ops.relu_forward(x)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(layer.backward(dout), ops.relu_backward(dout, cache))
    with pytest.raises(ValueError, match="x"):
        layer.forward(np.full((2, 2), np.nan))
