"""Tests of abcref.fast.conv: im2col into recycled buffers against the reference conv."""

import copy

import numpy as np
import pytest
from hypothesis import given, settings

from abcref import ops
from abcref._checks import check_pair
from abcref.fast import conv as conv_module
from abcref.fast.conv import _ColumnPool, clear_conv_workspace, conv2d_backward, conv2d_forward
from tests.ops.test_conv import conv_cases, make_conv


def fast_forward(x, w, b=None, *, stride=1, padding=0, pad_value=0.0):
    """The fast conv takes normalised arguments, as the layers pass them."""
    pairs = {"stride": check_pair(stride, "stride"), "padding": check_pair(padding, "padding")}
    return conv2d_forward(x, w, b, pad_value=pad_value, **pairs)


@settings(max_examples=40, deadline=None)
@given(case=conv_cases)
def test_fast_conv_equals_reference_forward_and_backward(case):
    # Same sums in a different order: agreement to float64 rounding (1e-12).
    rng, x, w, b, kwargs = make_conv(case)
    fast, fast_cache = fast_forward(x, w, b, **kwargs)
    ref, ref_cache = ops.conv2d_forward(x, w, b, **kwargs)
    np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(ref.shape)
    for got, want in zip(
        conv2d_backward(dout, fast_cache), ops.conv2d_backward(dout, ref_cache), strict=True
    ):
        if want is None:
            assert got is None
        else:
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_conv2d_interleaved_layers_and_repeated_backward_share_no_buffers():
    # Several caches alive at once, a buffer released and reused, backward
    # twice on one cache, a shallow copy of a cache, the input overwritten
    # after forward: none of it may change a gradient. Layers of identical
    # shapes would share pooled column buffers if the workspace were unsafe.
    rng = np.random.default_rng(3)
    x1, x2, x3 = (rng.standard_normal((2, 3, 6, 6)) for _ in range(3))
    w1, w2, w3 = (rng.standard_normal((4, 3, 3, 3)) for _ in range(3))
    dout = rng.standard_normal((2, 4, 6, 6))
    expected = [
        conv2d_backward(dout, fast_forward(x, w, padding=1)[1])
        for x, w in ((x1, w1), (x2, w2), (x3, w3))
    ]

    _, c1 = fast_forward(x1, w1, padding=1)
    _, c2 = fast_forward(x2, w2, padding=1)
    g2 = conv2d_backward(dout, c2)  # releases c2's buffer
    _, c3 = fast_forward(x3, w3, padding=1)  # may reuse it
    c1_copy = copy.copy(c1)
    x1[...] = 0.0  # the cache keeps its own padded copy of the input
    g1 = conv2d_backward(dout, c1)
    g1_again = conv2d_backward(dout, c1)  # rebuilt columns
    g1_copy = conv2d_backward(dout, c1_copy)  # shallow copy sees the release
    g3 = conv2d_backward(dout, c3)
    for got, want in (
        (g1, expected[0]),
        (g1_again, expected[0]),
        (g1_copy, expected[0]),
        (g2, expected[1]),
        (g3, expected[2]),
    ):
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_conv2d_workspace_recycles_buffers_of_dropped_and_finished_caches():
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    clear_conv_workspace()
    out, cache = fast_forward(x, w)
    buf = cache["cols"].array
    del cache  # inference: no backward, the buffer goes back to the pool
    _, cache = fast_forward(x, w)
    assert cache["cols"].array is buf
    conv2d_backward(np.ones_like(out), cache)  # backward releases it
    assert cache["cols"].array is None
    _, other = fast_forward(x, w)
    assert other["cols"].array is buf
    clear_conv_workspace()


def test_column_pool_take_removes_the_buffer_it_returns_by_identity():
    pool = _ColumnPool()
    a, b, c = (np.empty((2, 3), np.float32) for _ in range(3))
    for buf in (a, b, c):
        pool.give(buf)
    got = pool.take((2, 3), np.dtype(np.float32))
    assert got is a
    assert [x is a for x in pool._free] == [False, False]
    assert pool._free[0] is b and pool._free[1] is c


@pytest.mark.parametrize("stride", [(1, 1), (2, 1), (2, 3)])
def test_col2im_layouts_give_the_same_bits(monkeypatch, stride):
    # channels-last (short rows) and channels-first (long rows) scatter the
    # same additions in the same order: bitwise equal, whichever is chosen.
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 5, 9, 14)).astype(np.float32)
    w = rng.standard_normal((4, 5, 3, 2)).astype(np.float32)
    out, _ = fast_forward(x, w, stride=stride, padding=(1, 2))
    dout = rng.standard_normal(out.shape).astype(np.float32)
    grads = []
    for short_rows in (0, 10**6):  # never / always channels-last
        monkeypatch.setattr(conv_module, "_SHORT_ROWS", short_rows)
        grads.append(conv2d_backward(dout, fast_forward(x, w, stride=stride, padding=(1, 2))[1]))
    np.testing.assert_array_equal(grads[0][0].view(np.uint32), grads[1][0].view(np.uint32))
    np.testing.assert_array_equal(grads[0][1], grads[1][1])
