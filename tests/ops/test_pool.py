"""Tests of abcref.ops.pool: max, average and global average pooling against loops; gradients."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abcref.gradcheck import check_gradient
from abcref.ops import (
    avgpool2d_backward,
    avgpool2d_forward,
    avgpool2d_naive,
    global_avgpool_backward,
    global_avgpool_forward,
    maxpool2d_backward,
    maxpool2d_forward,
    maxpool2d_naive,
)

pool_cases = st.fixed_dictionaries(
    {
        "n": st.integers(1, 2),
        "c": st.integers(1, 3),
        "h": st.integers(2, 7),
        "w": st.integers(3, 7),
        "kernel": st.one_of(st.integers(1, 2), st.tuples(st.integers(1, 2), st.integers(1, 3))),
        "stride": st.one_of(
            st.none(), st.integers(1, 3), st.tuples(st.integers(1, 2), st.integers(1, 3))
        ),
        "seed": st.integers(0, 2**16),
    }
)


def make_pool(case):
    rng = np.random.default_rng(case["seed"])
    # distinct values a grid step apart: no ties, and +-h never changes a winner
    size = case["n"] * case["c"] * case["h"] * case["w"]
    x = (rng.permutation(size) * 0.01).reshape(case["n"], case["c"], case["h"], case["w"])
    return rng, x, {"kernel": case["kernel"], "stride": case["stride"]}


@settings(max_examples=30, deadline=None)
@given(case=pool_cases)
def test_maxpool_fast_equals_naive_and_gradient(case):
    rng, x, kw = make_pool(case)
    out, cache = maxpool2d_forward(x, **kw)
    ref, argmax = maxpool2d_naive(x, **kw)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(cache["argmax"], argmax)
    dout = rng.standard_normal(out.shape)
    dx = maxpool2d_backward(dout, cache)
    check_gradient(lambda _: maxpool2d_forward(x, **kw)[0], x, dout, dx, name="dx")


@settings(max_examples=30, deadline=None)
@given(case=pool_cases)
def test_avgpool_fast_equals_naive_and_gradient(case):
    rng, x, kw = make_pool(case)
    out, cache = avgpool2d_forward(x, **kw)
    np.testing.assert_allclose(out, avgpool2d_naive(x, **kw), rtol=1e-12, atol=1e-15)
    dout = rng.standard_normal(out.shape)
    dx = avgpool2d_backward(dout, cache)
    check_gradient(lambda _: avgpool2d_forward(x, **kw)[0], x, dout, dx, name="dx")


def test_pool_output_size_and_default_stride():
    x = np.zeros((2, 3, 7, 9))
    assert maxpool2d_forward(x, kernel=2)[0].shape == (2, 3, 3, 4)  # stride = kernel
    assert avgpool2d_forward(x, kernel=(3, 2), stride=(2, 3))[0].shape == (2, 3, 3, 3)


def test_maxpool_ties_send_gradient_to_first_maximum():
    x = np.array([[[[1.0, 3.0, 3.0], [3.0, 0.0, 3.0], [2.0, 2.0, 2.0]]]])
    out, cache = maxpool2d_forward(x, kernel=2, stride=1)
    np.testing.assert_array_equal(out, [[[[3.0, 3.0], [3.0, 3.0]]]])
    dx = maxpool2d_backward(np.ones_like(out), cache)
    # windows (0,0),(0,1) pick x[0,1]; (1,0) picks x[1,0]; (1,1) picks x[1,2]
    np.testing.assert_array_equal(dx[0, 0], [[0, 2, 0], [1, 0, 1], [0, 0, 0]])
    np.testing.assert_array_equal(maxpool2d_naive(x, kernel=2, stride=1)[1], cache["argmax"])


def test_global_avgpool_forward_and_gradient():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5))
    out, cache = global_avgpool_forward(x)
    np.testing.assert_allclose(out, x.mean(axis=(2, 3)))
    dout = rng.standard_normal((2, 3))
    check_gradient(
        lambda _: global_avgpool_forward(x)[0], x, dout, global_avgpool_backward(dout, cache)
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pools_preserve_dtype(dtype):
    x = np.random.default_rng(1).standard_normal((2, 2, 4, 4)).astype(dtype)
    for fwd, bwd in (
        (maxpool2d_forward, maxpool2d_backward),
        (avgpool2d_forward, avgpool2d_backward),
    ):
        out, cache = fwd(x, kernel=2)
        assert out.dtype == dtype
        assert bwd(np.ones_like(out), cache).dtype == dtype
    out, cache = global_avgpool_forward(x)
    assert out.dtype == dtype
    assert global_avgpool_backward(np.ones_like(out), cache).dtype == dtype


def test_pools_reject_bad_input():
    x = np.zeros((1, 2, 4, 4))
    with pytest.raises(ValueError, match="x must be 4-dimensional"):
        maxpool2d_forward(x[0], kernel=2)
    with pytest.raises(ValueError, match=r"kernel \(5, 5\) is larger than the input \(4, 4\)"):
        maxpool2d_forward(x, kernel=5)
    with pytest.raises(ValueError, match="kernel must be >= 1, got 0"):
        avgpool2d_forward(x, kernel=0)
    with pytest.raises(ValueError, match="stride must be >= 1, got 0"):
        avgpool2d_forward(x, kernel=2, stride=0)
    with pytest.raises(TypeError, match="stride must be an integer, got 2.0"):
        maxpool2d_forward(x, kernel=2, stride=2.0)
    with pytest.raises(ValueError, match="x must be 4-dimensional"):
        global_avgpool_forward(x[0])
    with pytest.raises(TypeError, match="x must have dtype float32 or float64"):
        global_avgpool_forward(x.astype(np.int32))
    bad = x.copy()
    bad[0, 0, 1, 1] = np.nan
    with pytest.raises(ValueError, match="x must be finite"):
        maxpool2d_forward(bad, kernel=2)
    out, cache = maxpool2d_forward(x, kernel=2)
    with pytest.raises(ValueError, match=r"dout must have shape \(1, 2, 2, 2\)"):
        maxpool2d_backward(np.zeros((1, 2, 4, 4)), cache)
    _, cache = global_avgpool_forward(x)
    with pytest.raises(TypeError, match="dout must have dtype float64"):
        global_avgpool_backward(np.zeros((1, 2), dtype=np.float32), cache)
