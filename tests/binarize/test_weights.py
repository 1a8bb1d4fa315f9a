"""Tests of abcref.binarize.weights (paper eqs. 1-7, conventions 1, 3-7)."""

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from abcref.binarize.weights import (
    DEFAULT_RIDGE,
    approximate_weights,
    approximate_weights_backward,
    approximate_weights_forward,
    combine_bases,
    fit_alphas,
    weight_bases,
    weight_shifts,
    weight_statistics,
    weight_ste_scale,
)
from abcref.gradcheck import numerical_gradient, relative_error
from abcref.ops import binary_sign


def approximate_weights_looped(
    W, M, *, shifts=None, ddof=0, ridge=DEFAULT_RIDGE, per_channel=False
):
    """An independent, looped eqs. (2)-(3): one fit and one base at a time.

    Statistics from their definitions, each sign by a comparison, the design
    matrix written out and the ridge system solved as [B; sqrt(lambda) I].
    """
    u = weight_shifts(M) if shifts is None else np.asarray(shifts, dtype=np.float64)
    groups = [W[c] for c in range(W.shape[0])] if per_channel else [W]
    B = np.empty((M, *W.shape), dtype=W.dtype)
    alphas = np.empty((len(groups), M), dtype=W.dtype)
    for c, group in enumerate(groups):
        w = group.ravel()
        mean = w.sum() / w.size
        std = np.sqrt(((w - mean) ** 2).sum() / (w.size - ddof))
        if w.min() == w.max():  # constant: exact statistics
            mean, std = w[0], 0.0
        design = np.empty((w.size, M))
        for i in range(M):
            base = np.array([1.0 if x - mean + W.dtype.type(u[i]) * std > 0 else -1.0 for x in w])
            design[:, i] = base
            target = B[i, c] if per_channel else B[i]
            target[...] = base.reshape(group.shape)
        augmented = np.vstack([design, np.sqrt(ridge) * np.eye(M)])
        rhs = np.concatenate([w.astype(np.float64), np.zeros(M)])
        cutoff = np.finfo(np.float64).eps * max(augmented.shape)
        alphas[c] = scipy.linalg.lstsq(augmented, rhs, cond=cutoff)[0]
    return B, (alphas if per_channel else alphas[0])


def rel_sq_error(W, B, alphas):
    return float(((W - combine_bases(B, alphas)) ** 2).sum() / (W**2).sum())


# -- shifts and bases --------------------------------------------------------
def test_default_shifts_evenly_spaced_and_zero_for_one_base():
    np.testing.assert_array_equal(weight_shifts(1), [0.0])
    np.testing.assert_array_equal(weight_shifts(3), [-1.0, 0.0, 1.0])
    np.testing.assert_allclose(weight_shifts(5), [-1.0, -0.5, 0.0, 0.5, 1.0])
    assert weight_shifts(4, np.float32).dtype == np.float32


def test_sign_of_zero_is_minus_one():
    np.testing.assert_array_equal(binary_sign(np.array([-2.0, 0.0, -0.0, 3.0])), [-1, -1, -1, 1])
    # W - mean(W) = [-1, 0, 1]: the middle element sits exactly at 0.
    B = weight_bases(np.array([1.0, 2.0, 3.0]), 1)
    np.testing.assert_array_equal(B, [[-1.0, -1.0, 1.0]])


def test_bases_follow_eq2_whole_and_per_channel():
    rng = np.random.default_rng(1)
    W = rng.normal(0.3, 2.0, size=(4, 3, 2, 2))
    u = np.array([-0.7, 0.2, 1.1])
    B = weight_bases(W, 3, shifts=u)
    for i in range(3):
        expected = np.where(W - W.mean() + u[i] * W.std() > 0, 1.0, -1.0)
        np.testing.assert_array_equal(B[i], expected)
    Bc = weight_bases(W, 3, shifts=u, per_channel=True, ddof=1)
    for c in range(4):
        Wc = W[c]
        for i in range(3):
            expected = np.where(Wc - Wc.mean() + u[i] * Wc.std(ddof=1) > 0, 1.0, -1.0)
            np.testing.assert_array_equal(Bc[i, c], expected)


def test_ddof_selects_the_std_estimator():
    W = np.random.default_rng(2).normal(size=(3, 5))
    _, s0 = weight_statistics(W)
    _, s1 = weight_statistics(W, ddof=1)
    assert s0.shape == (1, 1) and s0.item() == pytest.approx(W.std())
    assert s1.item() == pytest.approx(W.std(ddof=1))
    _, sc = weight_statistics(W, ddof=1, per_channel=True)
    assert sc.shape == (3, 1)  # broadcasts against W
    np.testing.assert_allclose(sc[:, 0], W.std(axis=1, ddof=1))


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.integers(-3, 3), min_size=2, max_size=24),
    M=st.integers(1, 6),
    per_channel=st.booleans(),
    ddof=st.integers(0, 1),
)
def test_no_zero_in_any_base(values, M, per_channel, ddof):
    # Small integers make W - mean + u * std hit 0 exactly, often.
    W = np.array(values, dtype=np.float64).reshape(2, -1) if len(values) % 2 == 0 else None
    W = np.array(values, dtype=np.float64).reshape(1, -1) if W is None else W
    if W.shape[1] <= ddof:
        return
    B, alphas = approximate_weights(W, M, ddof=ddof, per_channel=per_channel)
    assert set(np.unique(B)) <= {-1.0, 1.0}
    assert np.isfinite(alphas).all()


# -- least squares -------------------------------------------------------------
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vectorised_equals_looped(per_channel, dtype):
    W = np.random.default_rng(3).normal(size=(5, 3, 3, 3)).astype(dtype)
    shifts = np.array([-0.8, 0.1, 0.9])
    B, a = approximate_weights(W, 3, shifts=shifts, per_channel=per_channel, ddof=1)
    Bn, an = approximate_weights_looped(W, 3, shifts=shifts, per_channel=per_channel, ddof=1)
    np.testing.assert_array_equal(B, Bn)
    np.testing.assert_allclose(a, an, rtol=1e-6 if dtype == np.float32 else 1e-12)
    assert B.dtype == dtype and a.dtype == dtype
    assert a.shape == ((5, 3) if per_channel else (3,))


def test_alphas_are_the_ridge_minimiser():
    W = np.random.default_rng(4).normal(size=(6, 4, 3, 3))
    for ridge in (0.0, DEFAULT_RIDGE, 5.0):
        B, a = approximate_weights(W, 4, ridge=ridge)
        D = B.reshape(4, -1).T
        expected = np.linalg.solve(D.T @ D + ridge * np.eye(4), D.T @ W.ravel())
        np.testing.assert_allclose(a, expected, rtol=1e-10)


def test_gaussian_whole_layer_error_is_one_minus_two_over_pi_and_falls_with_M():
    # M = 1: B = sign(W - mean) ~ sign(W), alpha = <w, B>/K ~ E|w|, so the
    # relative squared error is 1 - (E|w|)^2 / E[w^2] = 1 - 2/pi.
    W = np.random.default_rng(5).normal(size=(64, 64, 10, 10))  # 409 600 weights
    errors = [rel_sq_error(W, *approximate_weights(W, M)) for M in (1, 2, 3, 5)]
    # sampling std of the estimate is ~ 1e-3 at this size
    assert errors[0] == pytest.approx(1 - 2 / np.pi, abs=5e-3)
    assert all(a > b for a, b in zip(errors, errors[1:], strict=False))
    assert errors[-1] < 0.1


def test_channel_wise_M1_relation_to_binary_weight_networks():
    # M = 1, per channel: B_c = sign(W_c - m_c) and (with ridge lambda)
    # alpha_c = <w_c, B_c> / (K + lambda)
    #         = (mean|W_c - m_c| + m_c * mean(B_c)) * K / (K + lambda).
    # BWN (Rastegari et al.) uses B_c = sign(W_c), alpha_c = mean|W_c|:
    # the two coincide exactly when every channel has mean 0.
    rng = np.random.default_rng(6)
    W = rng.normal(0.2, 1.0, size=(8, 4, 3, 3))
    K = W[0].size
    B, a = approximate_weights(W, 1, per_channel=True)
    m = W.reshape(8, -1).mean(axis=1)
    flatB = B[0].reshape(8, -1)
    shrink = K / (K + DEFAULT_RIDGE)
    np.testing.assert_allclose(a[:, 0], (W.reshape(8, -1) * flatB).sum(1) / (K + DEFAULT_RIDGE))
    expected = (np.abs(W.reshape(8, -1) - m[:, None]).mean(1) + m * flatB.mean(1)) * shrink
    np.testing.assert_allclose(a[:, 0], expected, rtol=1e-12)
    Wc = W - W.mean(axis=(1, 2, 3), keepdims=True)  # centred channels: BWN exactly
    Bc, ac = approximate_weights(Wc, 1, per_channel=True, ridge=0.0)
    np.testing.assert_array_equal(Bc[0], np.where(Wc > 0, 1.0, -1.0))
    np.testing.assert_allclose(ac[:, 0], np.abs(Wc).mean(axis=(1, 2, 3)), rtol=1e-12)


# -- rank deficiency -------------------------------------------------------------
def _expected_alphas(W, B, ridge):
    """The ridge minimiser in closed form, or the minimum-norm solution at ridge 0.

    ``(B^T B + lambda I)^-1 B^T w`` is unique for lambda > 0 even when B^T B
    is singular; at lambda = 0 the minimum-norm least-squares solution is
    ``pinv(B) w`` (B's rank deficiency is exact: its columns are +-1).
    """
    D = B.reshape(B.shape[0], -1).T.astype(np.float64)
    w = W.ravel().astype(np.float64)
    if ridge == 0:
        return np.linalg.pinv(D) @ w
    return np.linalg.solve(D.T @ D + ridge * np.eye(D.shape[1]), D.T @ w)


@pytest.mark.parametrize(
    ("W", "M", "shifts"),
    [
        (np.full((3, 2, 2, 2), 0.1), 3, None),  # constant W: std 0
        (np.zeros((2, 3)), 2, None),  # all zeros
        (np.array([[0.3, -0.7]]), 5, None),  # 2 elements, 5 bases
        (np.random.default_rng(7).normal(size=(4, 9)), 3, [0.0, 0.0, 0.5]),  # duplicates
        (np.random.default_rng(8).normal(size=(2, 2)), 12, None),  # M >> K
    ],
)
@pytest.mark.parametrize("ridge", [0.0, DEFAULT_RIDGE, 0.5])
def test_rank_deficient_fits_are_the_ridge_or_minimum_norm_solution(W, M, shifts, ridge):
    for per_channel in (False, True):
        B, a = approximate_weights(W, M, shifts=shifts, ridge=ridge, per_channel=per_channel)
        assert set(np.unique(B)) <= {-1.0, 1.0}
        if per_channel:
            expected = np.stack([_expected_alphas(W[c], B[:, c], ridge) for c in range(len(W))])
        else:
            expected = _expected_alphas(W, B, ridge)
        # A rank-deficient system is ill-conditioned: compare at the scale of W.
        atol = 1e-9 * max(float(np.abs(W).max()), 1.0)
        np.testing.assert_allclose(a, expected, rtol=1e-9, atol=atol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_constant_weights_give_all_minus_one_bases(dtype):
    # np.full(n, c).mean() != c for many (n, c); the statistics pin it.
    for n in (3, 7, 10, 25, 49, 100, 333):
        for c in (0.1, 0.3, -0.7, 1 / 3):
            W = np.full((2, n), c, dtype=dtype)
            for per_channel in (False, True):
                B, a = approximate_weights(W, 3, per_channel=per_channel)
                assert (B == -1).all()
                Bn, _ = approximate_weights_looped(W, 3, per_channel=per_channel)
                assert (Bn == -1).all()
                np.testing.assert_allclose(combine_bases(B, a), W, rtol=1e-5)


def test_constant_weights_are_reconstructed():
    W = np.full((4, 3), -0.25)
    B, a = approximate_weights(W, 3)
    np.testing.assert_allclose(combine_bases(B, a), W, rtol=1e-6)


# -- straight-through estimators (eq. 7) ---------------------------------------
@pytest.mark.parametrize("per_channel", [False, True])
def test_weight_ste_readings_give_their_formulas(per_channel):
    rng = np.random.default_rng(9)
    W = rng.normal(size=(3, 2, 3, 3))
    G = rng.normal(size=W.shape)
    _, a = approximate_weights(W, 3, per_channel=per_channel)
    a2 = a if per_channel else a[None]
    expected = {
        "paper": (a2**2).sum(axis=1),
        "sum": a2.sum(axis=1),
        "identity": np.ones(a2.shape[0]),
    }
    for reading, factor in expected.items():
        _, cache = approximate_weights_forward(W, 3, per_channel=per_channel, weight_ste=reading)
        dW, du = approximate_weights_backward(G, cache)
        assert du is None
        np.testing.assert_allclose(dW, factor[:, None, None, None] * G, rtol=1e-12)
        assert np.shape(weight_ste_scale(a, reading, 4)) == ((3, 1, 1, 1) if per_channel else ())


@pytest.mark.parametrize("per_channel", [False, True])
def test_trainable_shift_gradient_is_the_sign_free_surrogate_gradient(per_channel):
    # STE: replace sign by the identity, freeze alpha, mean and std. Then
    # W_tilde(u) = sum_i alpha_i (W - mean + u_i std), whose exact u-gradient
    # the backward must return.
    rng = np.random.default_rng(10)
    W = rng.normal(size=(3, 2, 2, 2))
    G = rng.normal(size=W.shape)
    u = np.array([-0.6, 0.4])
    W_tilde, cache = approximate_weights_forward(
        W, 2, shifts=u, per_channel=per_channel, train_shifts=True
    )
    _, du = approximate_weights_backward(G, cache)
    mean, std = weight_statistics(W, per_channel=per_channel)  # broadcast against W
    alphas = cache["alphas"] if per_channel else cache["alphas"][None]
    a = [alphas[:, i].reshape(-1, 1, 1, 1) for i in range(2)]

    def surrogate(u_):
        return sum(a[i] * (W - mean + u_[i] * std) for i in range(2))

    assert relative_error(du, numerical_gradient(surrogate, u.copy(), G)) < 1e-8


# -- dtype and bad inputs --------------------------------------------------------
def test_float32_preserved():
    W = np.random.default_rng(11).normal(size=(4, 3, 3, 3)).astype(np.float32)
    W_tilde, cache = approximate_weights_forward(W, 3, per_channel=True)
    assert W_tilde.dtype == np.float32 and cache["B"].dtype == np.float32
    dW, _ = approximate_weights_backward(np.ones_like(W), cache)
    assert dW.dtype == np.float32


def test_bad_inputs_raise_clear_errors():
    W = np.random.default_rng(12).normal(size=(2, 3))
    with pytest.raises(ValueError, match="M must be >= 1"):
        approximate_weights(W, 0)
    with pytest.raises(TypeError, match="M must be an integer"):
        approximate_weights(W, 2.0)
    with pytest.raises(ValueError, match="W must be finite"):
        approximate_weights(np.array([1.0, np.nan]), 1)
    with pytest.raises(ValueError, match="W must be finite"):
        approximate_weights(np.array([1.0, np.inf]), 1)
    with pytest.raises(TypeError, match="W must have dtype float32 or float64"):
        approximate_weights(np.array([1, 2]), 1)
    with pytest.raises(ValueError, match="W must not be empty"):
        approximate_weights(np.zeros((0, 3)), 1)
    with pytest.raises(ValueError, match=r"shifts must have shape \(2,\)"):
        approximate_weights(W, 2, shifts=[0.0, 0.1, 0.2])
    with pytest.raises(ValueError, match="shifts must be finite"):
        approximate_weights(W, 2, shifts=[0.0, np.nan])
    with pytest.raises(ValueError, match="ridge must be >= 0"):
        approximate_weights(W, 2, ridge=-1.0)
    with pytest.raises(ValueError, match="ddof must be smaller"):
        approximate_weights(W, 2, ddof=3, per_channel=True)
    with pytest.raises(ValueError, match="ndim >= 2"):
        approximate_weights(np.ones(3), 1, per_channel=True)
    with pytest.raises(ValueError, match="B must have shape"):
        fit_alphas(W, np.ones((2, 3, 2)))
    with pytest.raises(TypeError, match="B and W must share one dtype"):
        fit_alphas(W, np.ones((2, 2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="weight_ste must be one of"):
        approximate_weights_forward(W, 2, weight_ste="mean")
    with pytest.raises(ValueError, match="shifts must be given"):
        approximate_weights_forward(W, 2, train_shifts=True)


@pytest.mark.parametrize("per_channel", [False, True])
def test_ridge_zero_gives_minimum_norm_solution_on_rank_deficient_bases(per_channel):
    # Constant W: every base is -1, so B^T B has rank 1. Plain least squares
    # has infinitely many solutions; ridge=0 must return the minimum-norm one
    # (alpha_i = -c / M), as numpy.linalg.lstsq and torch.linalg.lstsq do.
    W = np.full((2, 3, 2, 2), 0.3)
    B, alphas = approximate_weights(W, 3, ridge=0.0, per_channel=per_channel)
    design = B.reshape(3, -1).T if not per_channel else B[:, 0].reshape(3, -1).T
    expected = np.linalg.lstsq(design, W.reshape(-1)[: design.shape[0]], rcond=None)[0]
    np.testing.assert_allclose(np.atleast_2d(alphas)[0], expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.atleast_2d(alphas)[0], [-0.1, -0.1, -0.1], rtol=1e-12)
    B_ref, alphas_ref = approximate_weights_looped(W, 3, ridge=0.0, per_channel=per_channel)
    np.testing.assert_allclose(alphas, alphas_ref, rtol=1e-12, atol=1e-15)


# -- flags that are not bools: TypeError, not a silently truthy string ---------
def test_non_bool_per_channel_is_a_type_error():
    W = np.random.default_rng(1).normal(size=(2, 3, 3, 3))
    with pytest.raises(TypeError, match="per_channel must be a bool, got 'no'"):
        approximate_weights(W, 2, per_channel="no")


# -- a broadcastable upstream gradient is an error -----------------------------
def test_weights_backward_rejects_broadcastable_upstream_gradients():
    rng = np.random.default_rng(3)
    W = rng.normal(size=(3, 2, 1, 1))
    _, cache = approximate_weights_forward(W, 2, per_channel=True)
    with pytest.raises(ValueError, match=r"dW_tilde must have shape \(3, 2, 1, 1\)"):
        approximate_weights_backward(np.ones((1, 2, 1, 1)), cache)  # used to broadcast
    with pytest.raises(TypeError, match="dW_tilde must have dtype float64"):
        approximate_weights_backward(np.ones((3, 2, 1, 1), np.float32), cache)


# -- an integer dtype would truncate the shifts ---------------------------------
def test_integer_dtype_is_rejected_by_weight_shifts():
    with pytest.raises(TypeError, match="dtype must be float32 or float64, got int64"):
        weight_shifts(4, np.int64)  # gave [-1, 0, 0, 1]


def test_fit_alphas_refuses_bases_that_are_not_plus_minus_one():
    W = np.ones((2, 2, 3))
    B = np.ones((2, 2, 2, 3))
    with pytest.raises(ValueError, match=r"B must hold only \+1 and -1, got 24 other value"):
        fit_alphas(W, 0.5 * B)
    B[1, 0, 1, 2] = 0.0
    with pytest.raises(ValueError, match=r"B must hold only \+1 and -1, got 1 other value"):
        fit_alphas(W, B)
