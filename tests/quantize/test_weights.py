"""Tests of abcref.quantize.weights: the weight quantizers of the comparison systems (Table 3).

BWN, BNN and DoReFa-Net weights. Forward values are checked against arrays
written out by hand; straight-through estimators against their written
formulas (boundaries included); the differentiable parts (BWN's alpha,
DoReFa's tanh normalisation) against central finite differences in float64.
"""

import numpy as np
import pytest

from abcref.gradcheck import numerical_gradient, relative_error
from abcref.quantize import (
    bwn_weights_backward,
    bwn_weights_forward,
    dorefa_weights_backward,
    dorefa_weights_forward,
    sign_weights_backward,
    sign_weights_forward,
)

# -- BWN ---------------------------------------------------------------------------
W_BWN = np.array([[0.5, -1.5, 0.0, 2.0], [0.25, 0.75, -0.5, -0.5]])
G_BWN = np.array([[1.0, 2.0, 3.0, 4.0], [-1.0, 1.0, 2.0, -2.0]])


def test_bwn_forward_hand_computed():
    # channel 0: alpha = (0.5 + 1.5 + 0 + 2) / 4 = 1; channel 1: alpha = 2 / 4 = 0.5
    W_q, cache = bwn_weights_forward(W_BWN)
    np.testing.assert_array_equal(W_q, [[1, -1, 1, 1], [0.5, 0.5, -0.5, -0.5]])
    np.testing.assert_array_equal(cache["alpha"].ravel(), [1.0, 0.5])
    W_q, _ = bwn_weights_forward(W_BWN, zero_sign=-1)
    np.testing.assert_array_equal(W_q, [[1, -1, -1, 1], [0.5, 0.5, -0.5, -0.5]])


def test_bwn_forward_4d_per_output_channel():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, 2, 3, 3))
    W_q, _ = bwn_weights_forward(W)
    for o in range(3):  # naive loop: one alpha per filter
        alpha = sum(abs(v) for v in W[o].ravel()) / W[o].size
        np.testing.assert_allclose(W_q[o], alpha * np.where(W[o] >= 0, 1.0, -1.0), rtol=1e-14)


def test_bwn_backward_written_formulas():
    # mask |W| <= 1: channel 0 [T, F, T, F], channel 1 all T; n = 4
    _, cache = bwn_weights_forward(W_BWN, weight_ste="paper")
    # (1/n + alpha 1[|W|<=1]) g: factors [1.25, .25, 1.25, .25] and 0.75
    np.testing.assert_allclose(
        bwn_weights_backward(G_BWN, cache),
        [[1.25, 0.5, 3.75, 1.0], [-0.75, 0.75, 1.5, -1.5]],
        rtol=1e-15,
    )
    _, cache = bwn_weights_forward(W_BWN, weight_ste="exact")
    # channel 0: alpha*mask*g = [1,0,3,0]; B.g = 1-2+3+4 = 6 -> B*6/4 = [1.5,-1.5,1.5,1.5]
    # channel 1: 0.5*g; B.g = -1+1-2+2 = 0
    np.testing.assert_allclose(
        bwn_weights_backward(G_BWN, cache),
        [[2.5, -1.5, 4.5, 1.5], [-0.5, 0.5, 1.0, -1.0]],
        rtol=1e-15,
    )
    _, cache = bwn_weights_forward(W_BWN, weight_ste="identity")
    np.testing.assert_array_equal(bwn_weights_backward(G_BWN, cache), G_BWN)


def test_bwn_backward_boundary_abs_w_equal_one_is_inside():
    W = np.array([[1.0, -1.0, 1.0 + 1e-12, -3.0]])
    g = np.ones_like(W)
    _, cache = bwn_weights_forward(W, weight_ste="paper")
    alpha = (1 + 1 + 1 + 1e-12 + 3) / 4
    np.testing.assert_allclose(
        bwn_weights_backward(g, cache), [[0.25 + alpha, 0.25 + alpha, 0.25, 0.25]], rtol=1e-14
    )


def test_bwn_exact_alpha_path_matches_finite_differences():
    # With every |W| > 1 the STE mask is empty and sign cannot flip under a
    # small perturbation, so the "exact" rule is the true derivative.
    rng = np.random.default_rng(1)
    W = rng.uniform(1.2, 3.0, size=(3, 2, 2, 2)) * rng.choice([-1.0, 1.0], size=(3, 2, 2, 2))
    g = rng.standard_normal(W.shape)
    _, cache = bwn_weights_forward(W, weight_ste="exact")
    num = numerical_gradient(lambda w: bwn_weights_forward(w)[0], W, g)
    assert relative_error(bwn_weights_backward(g, cache), num) < 1e-8


def test_bwn_exact_is_alpha_path_plus_sign_ste():
    rng = np.random.default_rng(2)
    W = rng.standard_normal((4, 3, 3, 3))
    g = rng.standard_normal(W.shape)
    _, cache = bwn_weights_forward(W, weight_ste="exact")
    exact = bwn_weights_backward(g, cache)
    B, alpha = np.where(W >= 0, 1.0, -1.0), np.abs(W).mean(axis=(1, 2, 3), keepdims=True)
    expected = alpha * (np.abs(W) <= 1) * g + B * (B * g).sum(axis=(1, 2, 3), keepdims=True) / 27
    np.testing.assert_allclose(exact, expected, rtol=1e-12, atol=1e-15)


def test_bwn_zero_channel_gives_zero_weights():
    W = np.zeros((2, 3))
    W[1] = [1.0, -1.0, 2.0]
    W_q, _ = bwn_weights_forward(W)
    np.testing.assert_array_equal(W_q[0], 0.0)


# -- BNN weights -------------------------------------------------------------------
def test_sign_weights_forward_and_ste():
    W = np.array([[-1.0, 1.0, 1.0 + 1e-9, -2.0, 0.0]])
    g = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    W_b, cache = sign_weights_forward(W)
    np.testing.assert_array_equal(W_b, [[-1, 1, 1, -1, 1]])  # BNN eq. 1: 0 -> +1
    np.testing.assert_array_equal(sign_weights_backward(g, cache), g)
    _, cache = sign_weights_forward(W, weight_ste="clipped")
    np.testing.assert_array_equal(sign_weights_backward(g, cache), [[1, 2, 0, 0, 5]])


# -- DoReFa weights ----------------------------------------------------------------
def test_dorefa_weights_one_bit_hand_computed():
    W = np.array([[0.5, -1.5], [0.0, 3.0]])
    W_q, cache = dorefa_weights_forward(W)  # E = (0.5 + 1.5 + 0 + 3) / 4 = 1.25
    np.testing.assert_array_equal(W_q, [[1.25, -1.25], [1.25, 1.25]])
    g = np.array([[1.0, -2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(dorefa_weights_backward(g, cache), g)
    W_q, _ = dorefa_weights_forward(W, per_channel=True)  # E = [1, 1.5]
    np.testing.assert_array_equal(W_q, [[1.0, -1.0], [1.5, 1.5]])
    W_q, _ = dorefa_weights_forward(W, zero_sign=-1)
    np.testing.assert_array_equal(W_q, [[1.25, -1.25], [-1.25, 1.25]])


def test_dorefa_weights_two_bits_hand_computed():
    # tanh W = [.5, -.25, .1, 0], max = .5; y = t/(2 .5) + .5 = [1, .25, .6, .5]
    # 3y = [3, .75, 1.8, 1.5] -> round -> [3, 1, 2, 2]; 2 q - 1 = [1, -1/3, 1/3, 1/3]
    W = np.arctanh(np.array([[0.5, -0.25], [0.1, 0.0]]))
    W_q, _ = dorefa_weights_forward(W, bits=2)
    np.testing.assert_allclose(W_q, [[1, -1 / 3], [1 / 3, 1 / 3]], rtol=1e-12)


def test_dorefa_kbit_weights_backward_is_derivative_of_tanh_normalisation():
    # quantize_k is straight-through; the rest, tanh(W) / max|tanh(W)|, is exact.
    rng = np.random.default_rng(3)
    W = rng.standard_normal((3, 2, 3, 3))
    g = rng.standard_normal(W.shape)
    _, cache = dorefa_weights_forward(W, bits=3)

    def surrogate(w):
        t = np.tanh(w)
        return t / np.max(np.abs(t))

    num = numerical_gradient(surrogate, W, g)
    assert relative_error(dorefa_weights_backward(g, cache), num) < 1e-7


def test_dorefa_kbit_weights_all_zero_is_an_error():
    with pytest.raises(ValueError, match="all zero"):
        dorefa_weights_forward(np.zeros((2, 2)), bits=2)


# -- dtype ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved_everywhere(dtype):
    W = np.random.default_rng(4).standard_normal((3, 2, 3, 3)).astype(dtype)
    cases = [
        (bwn_weights_forward, bwn_weights_backward, {"weight_ste": "exact"}),
        (bwn_weights_forward, bwn_weights_backward, {"weight_ste": "paper"}),
        (sign_weights_forward, sign_weights_backward, {"weight_ste": "clipped"}),
        (dorefa_weights_forward, dorefa_weights_backward, {}),
        (dorefa_weights_forward, dorefa_weights_backward, {"bits": 3}),
    ]
    for fwd, bwd, kwargs in cases:
        out, cache = fwd(W, **kwargs)
        assert out.dtype == dtype, fwd.__name__
        assert bwd(np.ones_like(W), cache).dtype == dtype, bwd.__name__


# -- bad inputs ------------------------------------------------------------------------
def test_bad_bits():
    with pytest.raises(ValueError, match="bits must be >= 1, got -1"):
        dorefa_weights_forward(np.ones((2, 2)), bits=-1)
    with pytest.raises(ValueError, match="per_channel applies to bits=1 only"):
        dorefa_weights_forward(np.ones((2, 2)), bits=2, per_channel=True)


def test_bad_arrays_and_options():
    with pytest.raises(ValueError, match="W must be finite"):
        bwn_weights_forward(np.array([[0.0, np.inf]]))
    with pytest.raises(TypeError, match="W must be a numpy.ndarray, got list"):
        sign_weights_forward([[1.0]])
    with pytest.raises(ValueError, match=r"at least 2 dimensions, got shape \(3,\)"):
        bwn_weights_forward(np.ones(3))
    with pytest.raises(ValueError, match="weight_ste must be one of"):
        bwn_weights_forward(np.ones((2, 2)), weight_ste="sum")
    with pytest.raises(ValueError, match="weight_ste must be one of"):
        sign_weights_forward(np.ones((2, 2)), weight_ste="paper")
    with pytest.raises(ValueError, match="zero_sign must be 1 or -1"):
        bwn_weights_forward(np.ones((2, 2)), zero_sign=True)
    with pytest.raises(TypeError, match="per_channel must be a bool"):
        dorefa_weights_forward(np.ones((2, 2)), per_channel=1)


def test_bad_upstream_gradients():
    _, cache = bwn_weights_forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match="dW_q must be finite"):
        bwn_weights_backward(np.full((2, 3), np.nan), cache)
    with pytest.raises(TypeError, match="dW_q must have dtype float64 like W"):
        bwn_weights_backward(np.ones((2, 3), dtype=np.float32), cache)
