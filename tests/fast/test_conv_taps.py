"""Tests of abcref.fast.conv_taps (one GEMM per kernel tap) and the algorithm switch."""

import numpy as np
import pytest
from hypothesis import given, settings

from abcref import ops
from abcref._checks import check_pair
from abcref.fast import conv as fast_conv
from abcref.fast.conv_taps import taps_conv2d_backward, taps_conv2d_forward
from abcref.gradcheck import check_gradient
from abcref.nn import Conv2d
from tests.ops.test_conv import conv_cases, make_conv


@settings(max_examples=40, deadline=None)
@given(case=conv_cases)
def test_taps_conv_equals_reference_forward_and_backward(case):
    # Same sums in another order: agreement to float64 rounding (1e-12).
    rng, x, w, b, kwargs = make_conv(case)
    kwargs["stride"] = 1  # the tap layout is for stride 1
    ref, ref_cache = ops.conv2d_forward(x, w, b, **kwargs)
    padding = check_pair(kwargs["padding"], "padding")
    out, cache = taps_conv2d_forward(x, w, b, padding=padding, pad_value=kwargs["pad_value"])
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(ref.shape)
    got_all = taps_conv2d_backward(dout, cache)
    for got, want in zip(got_all, ops.conv2d_backward(dout, ref_cache), strict=True):
        if want is None:
            assert got is None
        else:
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_taps_conv_backward_matches_finite_differences():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 5, 6))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    options = {"padding": (1, 2), "pad_value": -1.0}
    out, cache = taps_conv2d_forward(x, w, b, **options)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = taps_conv2d_backward(dout, cache)

    def forward(_):
        return taps_conv2d_forward(x, w, b, **options)[0]

    check_gradient(forward, x, dout, dx, name="dx")
    check_gradient(forward, w, dout, dw, name="dw")
    check_gradient(forward, b, dout, db, name="db")


def test_taps_conv_float32_is_within_float32_rounding_of_the_float64_reference():
    # The trainer's dtype: the sums of 9 taps of 64 channels stay within
    # a float32 bound of the exact (float64) result.
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 64, 9, 9)).astype(np.float32)
    w = rng.standard_normal((16, 64, 3, 3)).astype(np.float32)
    out, cache = taps_conv2d_forward(x, w, padding=(1, 1))
    ref, ref_cache = ops.conv2d_forward(x.astype(np.float64), w.astype(np.float64), padding=1)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-4)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx, dw, _ = taps_conv2d_backward(dout, cache)
    rdx, rdw, _ = ops.conv2d_backward(dout.astype(np.float64), ref_cache)
    assert dx.dtype == dw.dtype == np.float32
    np.testing.assert_allclose(dx, rdx, rtol=0, atol=1e-4)
    np.testing.assert_allclose(dw, rdw, rtol=0, atol=1e-3)


def test_taps_cache_keeps_its_own_copy_of_the_input():
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    dout = rng.standard_normal((2, 4, 6, 6))
    want = taps_conv2d_backward(dout, taps_conv2d_forward(x, w, padding=(1, 1))[1])
    _, cache = taps_conv2d_forward(x, w, padding=(1, 1))
    x[...] = 0.0
    got = taps_conv2d_backward(dout, cache)
    again = taps_conv2d_backward(dout, cache)  # backward twice on one cache
    for g, a, wnt in zip(got[:2], again[:2], want[:2], strict=True):
        np.testing.assert_array_equal(g, wnt)
        np.testing.assert_array_equal(a, wnt)


def test_set_conv_algorithm_routes_stride_one_convs_and_restores():
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3))
    dout = rng.standard_normal((2, 4, 7, 7))
    im2col_out, im2col_cache = fast_conv.conv2d_forward(x, w, padding=(1, 1))
    assert "algorithm" not in im2col_cache  # the default
    previous = fast_conv.set_conv_algorithm("taps")
    try:
        out, cache = fast_conv.conv2d_forward(x, w, padding=(1, 1))
        assert cache["algorithm"] == "taps"
        _, strided = fast_conv.conv2d_forward(x, w, stride=(2, 2), padding=(1, 1))
        assert "algorithm" not in strided  # strided convs keep im2col
        grads = fast_conv.conv2d_backward(dout, cache)
    finally:
        assert fast_conv.set_conv_algorithm(previous) == "taps"
    assert previous == "im2col"
    np.testing.assert_allclose(out, im2col_out, rtol=1e-12, atol=1e-12)
    want = fast_conv.conv2d_backward(dout, im2col_cache)
    for got, wanted in zip(grads[:2], want[:2], strict=True):
        np.testing.assert_allclose(got, wanted, rtol=1e-12, atol=1e-12)


def test_conv2d_layer_trains_the_same_with_taps_to_float32_rounding():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 8, 10, 10)).astype(np.float32)
    dout = rng.standard_normal((4, 16, 10, 10)).astype(np.float32)
    results = []
    for algorithm in ("im2col", "taps"):
        layer = Conv2d(8, 16, 3, padding=1, rng=np.random.default_rng(0))
        previous = fast_conv.set_conv_algorithm(algorithm)
        try:
            out = layer.forward(x)
            dx = layer.backward(dout)
        finally:
            fast_conv.set_conv_algorithm(previous)
        results.append((out, dx, layer.grads["weight"], layer.grads["bias"]))
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


def test_set_conv_algorithm_rejects_unknown_names():
    with pytest.raises(ValueError, match="name must be one of"):
        fast_conv.set_conv_algorithm("winograd")
    assert fast_conv.set_conv_algorithm("im2col") == "im2col"
