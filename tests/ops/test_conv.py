"""Tests of abcref.ops.conv: the reference conv equals the naive loop and SciPy; its gradients.

The fast conv is tied to this one in tests/fast/test_conv.py, which draws
its random cases from ``conv_cases`` here.
"""

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from abcref.gradcheck import check_gradient
from abcref.ops import conv2d_backward, conv2d_forward, conv2d_naive


def scipy_conv2d(x, w, b, stride, padding, pad_value):
    """Independent reference: scipy.signal.correlate per (n, o, c)."""
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)
    n, o = x.shape[0], w.shape[0]
    rows = []
    for ni in range(n):
        per_o = []
        for oi in range(o):
            acc = sum(
                scipy.signal.correlate(xp[ni, ci], w[oi, ci], mode="valid")
                for ci in range(x.shape[1])
            )
            per_o.append(acc[::sh, ::sw] + (0 if b is None else b[oi]))
        rows.append(per_o)
    return np.array(rows)


conv_cases = st.fixed_dictionaries(
    {
        "n": st.integers(1, 2),
        "c": st.integers(1, 3),
        "o": st.integers(1, 3),
        "h": st.integers(3, 7),
        "w": st.integers(3, 7),
        "kh": st.integers(1, 3),
        "kw": st.integers(1, 3),
        "stride": st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))),
        "padding": st.one_of(st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 2))),
        "pad_value": st.sampled_from([0.0, 1.0, -1.0]),
        "bias": st.booleans(),
        "seed": st.integers(0, 2**16),
    }
)


def make_conv(case, dtype=np.float64):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"])).astype(dtype)
    w = rng.standard_normal((case["o"], case["c"], case["kh"], case["kw"])).astype(dtype)
    b = rng.standard_normal(case["o"]).astype(dtype) if case["bias"] else None
    kwargs = {"stride": case["stride"], "padding": case["padding"], "pad_value": case["pad_value"]}
    return rng, x, w, b, kwargs


def pair(v):
    return v if isinstance(v, tuple) else (v, v)


@settings(max_examples=40, deadline=None)
@given(case=conv_cases)
def test_conv2d_reference_equals_naive_equals_scipy(case):
    _, x, w, b, kwargs = make_conv(case)
    out, _ = conv2d_forward(x, w, b, **kwargs)
    naive = conv2d_naive(x, w, b, **kwargs)
    ref = scipy_conv2d(x, w, b, pair(case["stride"]), pair(case["padding"]), case["pad_value"])
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, naive, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(case=conv_cases)
def test_conv2d_backward_matches_finite_differences(case):
    rng, x, w, b, kwargs = make_conv(case)
    out, cache = conv2d_forward(x, w, b, **kwargs)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv2d_backward(dout, cache)
    check_gradient(lambda _: conv2d_forward(x, w, b, **kwargs)[0], x, dout, dx, name="dx")
    check_gradient(lambda _: conv2d_forward(x, w, b, **kwargs)[0], w, dout, dw, name="dw")
    if b is None:
        assert db is None
    else:
        check_gradient(lambda _: conv2d_forward(x, w, b, **kwargs)[0], b, dout, db, name="db")


def test_conv2d_output_size_formula():
    x = np.zeros((2, 3, 11, 9))
    w = np.zeros((4, 3, 3, 2))
    out, _ = conv2d_forward(x, w, stride=(2, 3), padding=(1, 2))
    # Ho = (11 + 2 - 3) // 2 + 1 = 6, Wo = (9 + 4 - 2) // 3 + 1 = 4
    assert out.shape == (2, 4, 6, 4)


def test_conv2d_pad_value_fills_the_border():
    x = np.zeros((1, 1, 2, 2))
    w = np.ones((1, 1, 3, 3))
    out, _ = conv2d_forward(x, w, padding=1, pad_value=-1.0)
    # every 3x3 window over a 2x2 zero input sees 5 border cells
    np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), -5.0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_preserves_dtype(dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 5, 5)).astype(dtype)
    w = rng.standard_normal((2, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(2).astype(dtype)
    out, cache = conv2d_forward(x, w, b, stride=2, padding=1)
    assert out.dtype == dtype
    assert conv2d_naive(x, w, b, stride=2, padding=1).dtype == dtype
    grads = conv2d_backward(np.ones_like(out), cache)
    assert all(g.dtype == dtype for g in grads)
    if dtype == np.float32:
        ref = conv2d_naive(
            x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), stride=2, padding=1
        )
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_conv2d_rejects_bad_input():
    x = np.zeros((1, 3, 5, 5))
    w = np.zeros((2, 3, 3, 3))
    with pytest.raises(ValueError, match="x must be 4-dimensional, got shape"):
        conv2d_forward(np.zeros((3, 5, 5)), w)
    with pytest.raises(ValueError, match="w must be 4-dimensional"):
        conv2d_forward(x, np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match=r"w has 2 input channels .* x has 3 channels"):
        conv2d_forward(x, np.zeros((2, 2, 3, 3)))
    with pytest.raises(
        ValueError, match=r"kernel \(8, 8\) is larger than the padded input \(7, 7\)"
    ):
        conv2d_forward(x, np.zeros((2, 3, 8, 8)), padding=1)
    with pytest.raises(ValueError, match="stride must be >= 1, got 0"):
        conv2d_forward(x, w, stride=0)
    with pytest.raises(ValueError, match=r"stride\[1\] must be >= 1, got 0"):
        conv2d_forward(x, w, stride=(1, 0))
    with pytest.raises(TypeError, match="stride must be an integer, got 1.5"):
        conv2d_forward(x, w, stride=1.5)
    with pytest.raises(ValueError, match="padding must be >= 0, got -1"):
        conv2d_forward(x, w, padding=-1)
    with pytest.raises(ValueError, match="pad_value must be finite"):
        conv2d_forward(x, w, pad_value=float("nan"))
    with pytest.raises(ValueError, match=r"b must have shape \(2,\), got shape \(3,\)"):
        conv2d_forward(x, w, np.zeros(3))
    with pytest.raises(TypeError, match="arrays must share one dtype"):
        conv2d_forward(x.astype(np.float32), w)
    with pytest.raises(TypeError, match="x must have dtype float32 or float64, got dtype int64"):
        conv2d_forward(np.zeros((1, 3, 5, 5), dtype=np.int64), w)
    bad = x.copy()
    bad[0, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="x must be finite, got 1 NaN or Inf"):
        conv2d_forward(bad, w)
    with pytest.raises(ValueError, match="x must be finite"):
        conv2d_naive(bad, w)
    out, cache = conv2d_forward(x, w)
    with pytest.raises(ValueError, match="dout must have shape"):
        conv2d_backward(np.zeros((1, 2, 4, 4)), cache)
    with pytest.raises(TypeError, match="dout must have dtype float64"):
        conv2d_backward(out.astype(np.float32), cache)


def test_conv_with_an_empty_kernel_names_w():
    for w_shape, x_shape in (((2, 2, 0, 0), (1, 2, 3, 3)), ((2, 0, 3, 3), (1, 0, 3, 3))):
        for conv in (conv2d_forward, conv2d_naive):
            with pytest.raises(ValueError, match=r"w must have at least one filter"):
                conv(np.ones(x_shape), np.ones(w_shape))
