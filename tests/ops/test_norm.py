"""Tests of abcref.ops.norm: batch norm in training and eval, its running statistics, gradients."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abcref.gradcheck import check_gradient
from abcref.ops import batchnorm2d_backward, batchnorm2d_forward


def make_bn(seed, shape=(3, 4, 2, 3), dtype=np.float64):
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = (2.0 * rng.standard_normal(shape) + 0.5).astype(dtype)
    gamma = rng.standard_normal(c).astype(dtype)
    beta = rng.standard_normal(c).astype(dtype)
    rm = rng.standard_normal(c).astype(dtype)
    rv = rng.uniform(0.5, 2.0, c).astype(dtype)
    return rng, x, gamma, beta, rm, rv


def test_batchnorm_training_normalises_with_biased_batch_variance():
    _, x, gamma, beta, rm, rv = make_bn(0)
    out, _ = batchnorm2d_forward(
        x, np.ones(4), np.zeros(4), running_mean=rm, running_var=rv, training=True
    )
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0.0, atol=1e-12)
    var_biased = x.var(axis=(0, 2, 3))
    expected_var = var_biased / (var_biased + 1e-5)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), expected_var, rtol=1e-12)


def test_batchnorm_running_statistics_update_uses_unbiased_variance():
    _, x, gamma, beta, rm, rv = make_bn(1)
    rm0, rv0 = rm.copy(), rv.copy()
    _, cache = batchnorm2d_forward(
        x, gamma, beta, running_mean=rm, running_var=rv, training=True, momentum=0.25
    )
    mean = x.mean(axis=(0, 2, 3))
    var_unbiased = x.transpose(1, 0, 2, 3).reshape(4, -1).var(axis=1, ddof=1)
    np.testing.assert_allclose(cache["running_mean"], 0.75 * rm0 + 0.25 * mean, rtol=1e-12)
    np.testing.assert_allclose(cache["running_var"], 0.75 * rv0 + 0.25 * var_unbiased, rtol=1e-12)
    # inputs never mutated
    np.testing.assert_array_equal(rm, rm0)
    np.testing.assert_array_equal(rv, rv0)


def test_batchnorm_eval_uses_running_statistics_and_leaves_them_unchanged():
    _, x, gamma, beta, rm, rv = make_bn(2)
    out, cache = batchnorm2d_forward(
        x, gamma, beta, running_mean=rm, running_var=rv, training=False, eps=1e-3
    )
    g, b, m, v = (a.reshape(1, -1, 1, 1) for a in (gamma, beta, rm, rv))
    expected = g * (x - m) / np.sqrt(v + 1e-3) + b
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    np.testing.assert_array_equal(cache["running_mean"], rm)
    np.testing.assert_array_equal(cache["running_var"], rv)
    assert cache["running_mean"] is not rm and cache["running_var"] is not rv


def test_batchnorm_momentum_edges():
    _, x, gamma, beta, rm, rv = make_bn(3)
    _, keep = batchnorm2d_forward(
        x, gamma, beta, running_mean=rm, running_var=rv, training=True, momentum=0.0
    )
    np.testing.assert_array_equal(keep["running_mean"], rm)
    _, replace = batchnorm2d_forward(
        x, gamma, beta, running_mean=rm, running_var=rv, training=True, momentum=1.0
    )
    np.testing.assert_allclose(replace["running_mean"], x.mean(axis=(0, 2, 3)), rtol=1e-12)


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 3),
    h=st.integers(2, 3),
    w=st.integers(2, 3),
    training=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_batchnorm_backward_matches_finite_differences(n, c, h, w, training, seed):
    # at least 4 values per channel: with 2, the normalised output is +-1 whatever x
    # is, dx vanishes and a relative error only measures rounding noise
    rng, x, gamma, beta, rm, rv = make_bn(seed, (n, c, h, w))
    kwargs = {"running_mean": rm, "running_var": rv, "training": training}
    out, cache = batchnorm2d_forward(x, gamma, beta, **kwargs)
    dout = rng.standard_normal(out.shape)
    dx, dgamma, dbeta = batchnorm2d_backward(dout, cache)

    def f(_):
        return batchnorm2d_forward(x, gamma, beta, **kwargs)[0]

    check_gradient(f, x, dout, dx, name="dx")
    check_gradient(f, gamma, dout, dgamma, name="dgamma")
    check_gradient(f, beta, dout, dbeta, name="dbeta")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_preserves_dtype(dtype, training):
    _, x, gamma, beta, rm, rv = make_bn(4, dtype=dtype)
    out, cache = batchnorm2d_forward(
        x, gamma, beta, running_mean=rm, running_var=rv, training=training
    )
    assert out.dtype == dtype
    assert cache["running_mean"].dtype == dtype and cache["running_var"].dtype == dtype
    assert all(g.dtype == dtype for g in batchnorm2d_backward(np.ones_like(out), cache))


def test_batchnorm_rejects_bad_input():
    _, x, gamma, beta, rm, rv = make_bn(5)
    kw = {"running_mean": rm, "running_var": rv, "training": True}
    with pytest.raises(ValueError, match="x must be 4-dimensional"):
        batchnorm2d_forward(x[0], gamma, beta, **kw)
    with pytest.raises(ValueError, match=r"gamma must have shape \(4,\), got shape \(3,\)"):
        batchnorm2d_forward(x, gamma[:3], beta, **kw)
    with pytest.raises(ValueError, match=r"beta must have shape \(4,\)"):
        batchnorm2d_forward(x, gamma, np.zeros(5), **kw)
    with pytest.raises(ValueError, match=r"running_mean must have shape \(4,\)"):
        batchnorm2d_forward(x, gamma, beta, running_mean=rm[:2], running_var=rv, training=True)
    with pytest.raises(ValueError, match="running_var must be 1-dimensional"):
        batchnorm2d_forward(x, gamma, beta, running_mean=rm, running_var=rv[None], training=True)
    with pytest.raises(ValueError, match="running_var must be >= 0"):
        batchnorm2d_forward(x, gamma, beta, running_mean=rm, running_var=-rv, training=True)
    with pytest.raises(TypeError, match="arrays must share one dtype"):
        batchnorm2d_forward(x, gamma.astype(np.float32), beta, **kw)
    with pytest.raises(TypeError, match="training must be a bool, got 1"):
        batchnorm2d_forward(x, gamma, beta, running_mean=rm, running_var=rv, training=1)
    with pytest.raises(ValueError, match="momentum must be in"):
        batchnorm2d_forward(x, gamma, beta, momentum=1.5, **kw)
    with pytest.raises(ValueError, match="eps must be > 0, got 0.0"):
        batchnorm2d_forward(x, gamma, beta, eps=0.0, **kw)
    bad = x.copy()
    bad[0, 1, 0, 0] = np.nan
    with pytest.raises(ValueError, match="x must be finite"):
        batchnorm2d_forward(bad, gamma, beta, **kw)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        batchnorm2d_forward(x[:1, :, :1, :1], gamma, beta, **kw)
    out, cache = batchnorm2d_forward(x, gamma, beta, **kw)
    with pytest.raises(ValueError, match="dout must have shape"):
        batchnorm2d_backward(out[:1], cache)
