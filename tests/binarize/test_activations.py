"""Tests of abcref.binarize.activations (paper eqs. 8-11, conventions 2, 8, 9)."""

import numpy as np
import pytest
from scipy import integrate

from abcref.binarize.activations import (
    H_v,
    activation_ste_mask,
    activation_thresholds,
    approximate_activations_backward,
    approximate_activations_forward,
    binarize_activations,
    binarize_activations_backward,
    binarize_activations_forward,
    default_activation_params,
    h_v,
)
from abcref.gradcheck import numerical_gradient, relative_error


def test_h_v_is_the_shifted_clip():
    R = np.array([-2.0, -0.3, 0.1, 0.6, 3.0])
    np.testing.assert_allclose(h_v(R, 0.2), [0.0, 0.0, 0.3, 0.8, 1.0])


def test_binarize_matches_eq9_literally_away_from_ties():
    rng = np.random.default_rng(0)
    R = rng.normal(size=(3, 4, 5))
    v = np.array([0.8, 0.5, 0.1])
    A = binarize_activations(R, v)
    assert A.shape == (3, 3, 4, 5) and A.dtype == R.dtype
    for n in range(3):
        literal = 2.0 * (h_v(R, v[n]) >= 0.5) - 1.0  # eq. (9)
        np.testing.assert_array_equal(A[n], literal)
        np.testing.assert_array_equal(H_v(R, v[n]), literal)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threshold_ties_go_to_plus_one(dtype):
    v = np.array([0.3, -0.2], dtype=dtype)
    t = activation_thresholds(v)
    for n in range(2):
        R = np.array([t[n], np.nextafter(t[n], -np.inf), np.nextafter(t[n], np.inf)], dtype)
        np.testing.assert_array_equal(binarize_activations(R, v)[n], [1, -1, 1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ste_mask_is_one_on_minus_v_to_one_minus_v_inclusive(dtype):
    # Eq. (10) corrected: 1[0 <= R + v <= 1], i.e. -v <= R <= 1 - v.
    v = np.array([0.3], dtype=dtype)
    low, high = -v[0], dtype(1) - v[0]
    R = np.array(
        [
            np.nextafter(low, -np.inf),
            low,
            np.nextafter(low, np.inf),
            activation_thresholds(v)[0],
            np.nextafter(high, -np.inf),
            high,
            np.nextafter(high, np.inf),
        ],
        dtype=dtype,
    )
    np.testing.assert_array_equal(activation_ste_mask(R, v)[0], [0, 1, 1, 1, 1, 1, 0])
    # The printed R - v would be 1 on [v, 1 + v] = [0.3, 1.3]: check we differ.
    assert not activation_ste_mask(np.array([1.2], dtype), v)[0, 0]


def test_binarize_backward_is_the_masked_gradient():
    rng = np.random.default_rng(1)
    R = rng.normal(size=(2, 3, 4))
    v = np.array([0.9, 0.5, 0.2])
    A, cache = binarize_activations_forward(R, v)
    dA = rng.normal(size=A.shape)
    dR, dv = binarize_activations_backward(dA, cache)
    mask = np.stack([(R + vn >= 0) & (R + vn <= 1) for vn in v])
    np.testing.assert_allclose(dR, (dA * mask).sum(axis=0))
    np.testing.assert_allclose(dv, [(dA[n] * mask[n]).sum() for n in range(3)])


def _forward_backward(R, v, beta, dout):
    out, cache = approximate_activations_forward(R, v, beta)
    return out, approximate_activations_backward(dout, cache)


def test_beta_gradient_by_finite_differences():
    # R_tilde is linear in beta (A does not depend on it): exact gradient.
    rng = np.random.default_rng(2)
    R = rng.normal(size=(2, 3, 4, 4))
    v = np.array([1.1, 0.5, -0.1])
    beta = rng.uniform(0.2, 0.6, size=3)
    dout = rng.normal(size=R.shape)
    _, (_, _, dbeta) = _forward_backward(R, v, beta, dout)

    def f(b):
        return approximate_activations_forward(R, v, b)[0]

    assert relative_error(dbeta, numerical_gradient(f, beta.copy(), dout)) < 1e-8


def test_R_and_v_gradients_are_those_of_the_clip_surrogate():
    # The STE of eq. (10) differentiates A_n as if it were h_{v_n}(R) (slope
    # 1 on the unsaturated window). So dR, dv must equal the exact
    # gradients of sum_n beta_n h_{v_n}(R), checked away from the kinks.
    rng = np.random.default_rng(3)
    v = np.array([0.9, 0.5, 0.1])
    beta = np.array([0.3, 0.35, 0.3])
    R = rng.normal(size=(4, 5, 6))
    kinks = np.concatenate([-v, 1 - v])
    R[np.abs(R[..., None] - kinks).min(axis=-1) < 1e-3] += 2e-3
    dout = rng.normal(size=R.shape)
    _, (dR, dv, _) = _forward_backward(R, v, beta, dout)

    def surrogate_R(R_):
        return sum(beta[n] * h_v(R_, v[n]) for n in range(3))

    def surrogate_v(v_):
        return sum(beta[n] * np.clip(R + v_[n], 0, 1) for n in range(3))

    assert relative_error(dR, numerical_gradient(surrogate_R, R.copy(), dout)) < 1e-8
    assert relative_error(dv, numerical_gradient(surrogate_v, v.copy(), dout)) < 1e-8


def test_gradients_at_the_exact_window_bounds_follow_the_formula():
    v = np.array([0.25, 0.75])
    beta = np.array([0.5, 2.0])
    R = np.array([-0.25, 0.75, 0.25, -0.75, 0.7500001, -0.7500001])
    dout = np.ones_like(R)
    _, (dR, dv, dbeta) = _forward_backward(R, v, beta, dout)
    # windows: n=0 [-0.25, 0.75], n=1 [-0.75, 0.25]
    mask0 = np.array([1, 1, 1, 0, 0, 0])
    mask1 = np.array([1, 0, 1, 1, 0, 0])
    np.testing.assert_array_equal(dR, 0.5 * mask0 + 2.0 * mask1)
    np.testing.assert_array_equal(dv, [0.5 * mask0.sum(), 2.0 * mask1.sum()])
    A = binarize_activations(R, v)
    np.testing.assert_array_equal(dbeta, A.sum(axis=1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(dtype):
    R = np.random.default_rng(4).normal(size=(2, 3)).astype(dtype)
    v, beta = default_activation_params(2, dtype)
    out, (dR, dv, dbeta) = _forward_backward(R, v, beta, np.ones_like(R))
    assert {out.dtype, dR.dtype, dv.dtype, dbeta.dtype} == {np.dtype(dtype)}


# -- initialisation (conventions row 9) ---------------------------------------
def _gauss_pdf(r):
    return np.exp(-0.5 * r * r) / np.sqrt(2 * np.pi)


def _quad(f, lo, hi):
    return integrate.quad(f, lo, hi, epsabs=1e-15, epsrel=1e-13, limit=200)[0]


def quadrature_fit(t, c):
    """``E[A_n A_m]`` and ``E[clip(R, -c, c) A_n]`` for R ~ N(0, 1), by quadrature.

    ``A_n = +1`` where ``R >= t_n``, else -1: on each piece between the
    sorted thresholds and +-c every ``A_n`` is constant, so each entry is
    a sum of one-dimensional integrals of the Gaussian density, computed
    numerically without the closed form.
    """
    edges = np.unique(np.concatenate([[-np.inf, -c, c, np.inf], t]))
    gram, rhs = np.zeros((len(t), len(t))), np.zeros(len(t))
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = hi - 1.0 if lo == -np.inf else lo + 1.0 if hi == np.inf else (lo + hi) / 2
        A = np.where(inside >= t, 1.0, -1.0)
        gram += _quad(_gauss_pdf, lo, hi) * np.outer(A, A)
        rhs += _quad(lambda r: np.clip(r, -c, c) * _gauss_pdf(r), lo, hi) * A
    return gram, rhs


@pytest.mark.parametrize("N", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("clip", [1.0, 0.5, 2.5])  # 0.5: outer thresholds beyond +-c
def test_default_params_are_the_exact_least_squares_fit_by_quadrature(N, clip):
    v, beta = default_activation_params(N, np.float64, clip=clip)
    t = 0.5 - v
    assert np.all(np.diff(t) > 0)
    np.testing.assert_allclose(t, -t[::-1], atol=1e-12)  # symmetric
    if clip == 1.0:  # the default: every activation contributes
        assert np.all(beta > 0)
    # Thresholds at the equal-probability quantiles: P(R < t_n) = n / (N + 1).
    below = [_quad(_gauss_pdf, -np.inf, t_n) for t_n in t]
    np.testing.assert_allclose(below, np.arange(1, N + 1) / (N + 1), rtol=0, atol=1e-12)
    # beta minimises E[(clip(R) - sum_n beta_n A_n)^2]: the normal equations, by quadrature.
    gram, rhs = quadrature_fit(t, clip)
    np.testing.assert_allclose(beta, np.linalg.solve(gram, rhs), rtol=0, atol=1e-12)
    np.testing.assert_allclose(gram @ beta, rhs, rtol=0, atol=1e-12)


def test_default_params_documented_values():
    v1, b1 = default_activation_params(1, np.float64)
    np.testing.assert_allclose(v1, [0.5])  # threshold 0: the sign function
    assert b1[0] == pytest.approx(0.631254, abs=1e-6)
    v3, b3 = default_activation_params(3, np.float64)
    np.testing.assert_allclose(0.5 - v3, [-0.674490, 0.0, 0.674490], atol=1e-6)
    np.testing.assert_allclose(b3, [0.307, 0.325, 0.307], atol=5e-4)


def test_bad_inputs_raise_clear_errors():
    R = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"v must hold at least one value"):
        binarize_activations(R, np.zeros(0))
    with pytest.raises(ValueError, match="beta must have the shape of v"):
        approximate_activations_forward(R, np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="R must be finite"):
        binarize_activations(np.array([np.nan]), np.zeros(1))
    with pytest.raises(ValueError, match="v must be finite"):
        binarize_activations(R, np.array([np.inf]))
    with pytest.raises(TypeError, match="v must have the dtype of R"):
        binarize_activations(R, np.zeros(1, dtype=np.float32))
    with pytest.raises(ValueError, match="v must be 1-dimensional"):
        binarize_activations(R, np.zeros((1, 1)))
    with pytest.raises(ValueError, match="N must be >= 1"):
        default_activation_params(0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_sum_and_backward_equal_the_stacked_reference(dtype):
    rng = np.random.default_rng(6)
    R = rng.normal(size=(3, 4, 5)).astype(dtype)
    v = np.array([0.1, 0.9, 0.5], dtype)  # unsorted on purpose
    beta = np.array([0.2, 0.5, 0.3], dtype)
    dout = rng.normal(size=R.shape).astype(dtype)
    out, (dR, dv, dbeta) = _forward_backward(R, v, beta, dout)
    A, cache = binarize_activations_forward(R, v)
    np.testing.assert_array_equal(out, beta[0] * A[0] + beta[1] * A[1] + beta[2] * A[2])
    dR_ref, dv_ref = binarize_activations_backward(beta[:, None, None, None] * dout, cache)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(dR, dR_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(dv, dv_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(dbeta, (A * dout).reshape(3, -1).sum(1), rtol=tol, atol=tol)


# -- a broadcastable upstream gradient is an error -----------------------------
def test_activation_backwards_reject_broadcastable_upstream_gradients():
    rng = np.random.default_rng(3)
    R, v, beta = rng.normal(size=(6, 1)), np.array([0.5, 0.2]), np.array([1.0, 0.5])
    _, cache = approximate_activations_forward(R, v, beta)
    with pytest.raises(ValueError, match=r"dR_tilde must have shape \(6, 1\), got shape \(1, 6\)"):
        approximate_activations_backward(np.ones((1, 6)), cache)  # used to return (6, 6)
    with pytest.raises(TypeError, match="dR_tilde must have dtype float64"):
        approximate_activations_backward(np.ones((6, 1), np.float32), cache)
    _, cache = binarize_activations_forward(R, v)
    with pytest.raises(ValueError, match=r"dA must have shape \(2, 6, 1\)"):
        binarize_activations_backward(np.ones((2, 1, 6)), cache)


# -- integer dtypes would truncate the initial (v, beta) -----------------------
def test_integer_dtype_and_nan_shift_are_rejected():
    with pytest.raises(TypeError, match="dtype must be float32 or float64, got int32"):
        default_activation_params(3, np.int32)  # gave v = [1, 0, 0], beta = [0, 0, 0]
    with pytest.raises(ValueError, match="v must be finite, got nan"):
        h_v(np.zeros(2), float("nan"))  # gave [nan, nan]
