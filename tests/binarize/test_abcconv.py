"""Tests of abcref.binarize.abcconv (paper eqs. 6 and 12; conventions 7, 8, 10, 14)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abcref.binarize import (
    abc_conv2d_backward,
    abc_conv2d_forward,
    activation_ste_mask,
    approx_conv2d_backward,
    approx_conv2d_forward,
    approximate_weights,
    binarize_activations,
    combine_bases,
)
from abcref.gradcheck import numerical_gradient, relative_error
from abcref.ops import conv2d_forward, conv2d_naive


def setup(rng, *, N=3, C_in=3, C_out=4, size=6, dtype=np.float64):
    x = rng.normal(size=(2, C_in, size, size)).astype(dtype)
    W = rng.normal(size=(C_out, C_in, 3, 3)).astype(dtype)
    v = np.linspace(1.0, 0.0, N).astype(dtype)
    beta = rng.uniform(0.2, 0.5, size=N).astype(dtype)
    return x, W, v, beta


def looped_eq12(x, W, v, beta, *, M, stride=1, padding=0, per_channel=False, pad_value=0.0):
    """Eq. (12) with the looped conv: sum_m sum_n alpha_m beta_n Conv(B_m, A_n).

    Independent of the reference's code path (conv2d_naive, no cache, the
    alpha broadcast written out); eq. (6) when v and beta are None.
    """
    B, alphas = approximate_weights(W, M, per_channel=per_channel)
    alphas = alphas if per_channel else np.broadcast_to(alphas, (W.shape[0], M))
    if v is None:
        inputs, scales = [x], [1.0]
    else:
        inputs, scales = list(binarize_activations(x, v)), list(beta)
    out = 0
    for m in range(M):
        for A_n, beta_n in zip(inputs, scales, strict=True):
            conv = conv2d_naive(A_n, B[m], stride=stride, padding=padding, pad_value=pad_value)
            out = out + alphas[:, m][None, :, None, None] * beta_n * conv
    return out


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("pad_value", [0.0, 1.0, -1.0])
@pytest.mark.parametrize(("stride", "padding"), [(1, 1), (2, (1, 0)), (1, 0)])
def test_eq12_equals_the_looped_MxN_sum(per_channel, pad_value, stride, padding):
    rng = np.random.default_rng(0)
    x, W, v, beta = setup(rng)
    kw = dict(M=3, stride=stride, padding=padding, per_channel=per_channel, pad_value=pad_value)
    out, _ = abc_conv2d_forward(x, W, v, beta, **kw)
    np.testing.assert_allclose(out, looped_eq12(x, W, v, beta, **kw), rtol=0, atol=1e-12)


@pytest.mark.parametrize("per_channel", [False, True])
def test_full_precision_input_is_eq6(per_channel):
    rng = np.random.default_rng(1)
    x, W, _, _ = setup(rng)
    kw = dict(M=2, padding=1, per_channel=per_channel)
    out, _ = abc_conv2d_forward(x, W, None, None, **kw)
    eq6, _ = approx_conv2d_forward(x, W, **kw)
    np.testing.assert_array_equal(out, eq6)
    np.testing.assert_allclose(out, looped_eq12(x, W, None, None, **kw), rtol=0, atol=1e-12)


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("pad_value", [0.0, 1.0])
def test_eq6_input_gradient_by_finite_differences(per_channel, pad_value):
    # Eq. (6) is linear in A: its gradient is exact.
    rng = np.random.default_rng(11)
    x, W, _, _ = setup(rng)
    kw = dict(M=3, padding=(1, 2), stride=(2, 1), per_channel=per_channel, pad_value=pad_value)
    out, cache = approx_conv2d_forward(x, W, **kw)
    dout = rng.normal(size=out.shape)
    grads = approx_conv2d_backward(dout, cache)

    def f(x_):
        return approx_conv2d_forward(x_, W, **kw)[0]

    assert relative_error(grads["A"], numerical_gradient(f, x.copy(), dout)) < 1e-8


def _grads(x, W, v, beta, dout, **kw):
    out, cache = abc_conv2d_forward(x, W, v, beta, **kw)
    return out, abc_conv2d_backward(dout, cache)


@pytest.mark.parametrize("padding", [1, (2, 0), (0, 1)])
@pytest.mark.parametrize("pad_value", [0.0, 1.0, -1.0])
def test_beta_gradient_by_finite_differences_including_padding(pad_value, padding):
    # out is linear in beta (A and alpha do not depend on it), border too.
    rng = np.random.default_rng(2)
    x, W, v, beta = setup(rng)
    kw = dict(M=3, padding=padding, pad_value=pad_value, stride=2)
    out, _ = abc_conv2d_forward(x, W, v, beta, **kw)
    dout = rng.normal(size=out.shape)
    _, grads = _grads(x, W, v, beta, dout, **kw)

    def f(b):
        return abc_conv2d_forward(x, W, v, b, **kw)[0]

    assert relative_error(grads["beta"], numerical_gradient(f, beta.copy(), dout)) < 1e-8


def test_full_precision_input_gradient_by_finite_differences():
    # With v = beta = None the output is exactly linear in x.
    rng = np.random.default_rng(3)
    x, W, _, _ = setup(rng)
    kw = dict(M=3, padding=1, stride=2)
    out, _ = abc_conv2d_forward(x, W, None, None, **kw)
    dout = rng.normal(size=out.shape)
    _, grads = _grads(x, W, None, None, dout, **kw)

    def f(x_):
        return abc_conv2d_forward(x_, W, None, None, **kw)[0]

    assert relative_error(grads["R"], numerical_gradient(f, x.copy(), dout)) < 1e-8
    assert grads["v"] is None and grads["beta"] is None


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("weight_ste", ["paper", "sum", "identity"])
@pytest.mark.parametrize(("pad_value", "stride"), [(1.0, 1), (0.0, 1), (0.0, 2), (-1.0, 2)])
def test_R_v_W_gradients_are_the_STE_formulas_on_the_frozen_linear_parts(
    per_channel, weight_ste, pad_value, stride
):
    # Freeze the binarisations: out = Conv(W_tilde, pad(R_tilde)) is linear in
    # both W_tilde and R_tilde, so their exact gradients G_W, G_R come from
    # finite differences. Then the STE outputs must be
    #   dW = s * G_W (s from the weight_ste reading),
    #   dx = G_R * sum_n beta_n mask_n,  dv_n = beta_n * sum(G_R * mask_n).
    rng = np.random.default_rng(4)
    x, W, v, beta = setup(rng)
    kw = dict(M=3, padding=1, stride=stride, per_channel=per_channel, pad_value=pad_value)
    out, _ = abc_conv2d_forward(x, W, v, beta, weight_ste=weight_ste, **kw)
    dout = rng.normal(size=out.shape)
    _, grads = _grads(x, W, v, beta, dout, weight_ste=weight_ste, **kw)

    B, alphas = approximate_weights(W, 3, per_channel=per_channel)
    W_tilde = combine_bases(B, alphas)
    A = binarize_activations(x, v)
    R_tilde = np.tensordot(beta, A, axes=(0, 0))
    border = pad_value * beta.sum()  # every padded A_n holds pad_value

    def conv(R_, W_):
        # The border is a constant: with zero padding its gradient is cropped.
        padded = np.pad(R_, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=border)
        return conv2d_forward(padded, W_, stride=stride)[0]

    G_W = numerical_gradient(lambda w_: conv(R_tilde, w_), W_tilde.copy(), dout)
    G_R = numerical_gradient(lambda r_: conv(r_, W_tilde), R_tilde.copy(), dout)
    a2 = alphas if per_channel else np.broadcast_to(alphas, (4, 3))
    scale = {"paper": (a2**2).sum(1), "sum": a2.sum(1), "identity": np.ones(4)}[weight_ste]
    mask = activation_ste_mask(x, v)
    assert relative_error(grads["W"], scale[:, None, None, None] * G_W) < 1e-8
    expected_dx = G_R * np.tensordot(beta, mask.astype(float), axes=(0, 0))
    assert relative_error(grads["R"], expected_dx) < 1e-8
    expected_dv = beta * (G_R[None] * mask).reshape(3, -1).sum(1)
    assert relative_error(grads["v"], expected_dv) < 1e-8


def test_trainable_shifts_gradient_formula():
    # du_i = alpha_i * std(W) * sum(dc/dW_tilde)   (sign STE, see weights.py)
    rng = np.random.default_rng(5)
    x, W, v, beta = setup(rng)
    u = np.array([-0.9, 0.0, 0.7])
    kw = dict(M=3, padding=1, shifts=u)
    out, _ = abc_conv2d_forward(x, W, v, beta, **kw)
    dout = rng.normal(size=out.shape)
    _, grads = _grads(x, W, v, beta, dout, train_shifts=True, **kw)
    _, plain = _grads(x, W, v, beta, dout, **kw)
    assert "u" not in plain
    # G = dc/dW_tilde from finite differences of the frozen linear graph
    # Conv(W_tilde, pad(R_tilde)) (zero padding), not from the code's dW.
    B, alphas = approximate_weights(W, 3, shifts=u)
    R_tilde = np.tensordot(beta, binarize_activations(x, v), axes=(0, 0))

    def conv(W_):
        return conv2d_forward(R_tilde, W_, padding=1)[0]

    G = numerical_gradient(conv, combine_bases(B, alphas), dout)
    assert relative_error(grads["u"], alphas * W.std() * G.sum()) < 1e-8


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(dtype):
    rng = np.random.default_rng(6)
    x, W, v, beta = setup(rng, dtype=dtype)
    out, grads = _grads(x, W, v, beta, np.ones((2, 4, 6, 6), dtype), M=2, padding=1)
    assert out.dtype == dtype
    assert all(g.dtype == dtype for g in grads.values())
    looped = looped_eq12(x.astype(float), W.astype(float), v.astype(float), beta, M=2, padding=1)
    np.testing.assert_allclose(out, looped, rtol=1e-5, atol=1e-5)


def test_no_bias_inside_the_sum():
    # Row 14: with every A_n = -1 (input far below all thresholds) the output
    # is exactly -sum(beta) * Conv(W_tilde, ones) = -Conv(W_tilde, ones) here
    # (sum(beta) = 1): no bias term is added anywhere.
    rng = np.random.default_rng(7)
    x, W, _, _ = setup(rng)
    x[:] = -5.0
    v = np.array([0.0, 0.2])
    beta = np.array([0.3, 0.7])
    out, _ = abc_conv2d_forward(x, W, v, beta, M=2)
    B, alphas = approximate_weights(W, 2)
    expected = -1.0 * conv2d_forward(np.ones_like(x), combine_bases(B, alphas))[0]
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_bad_inputs_raise_clear_errors():
    rng = np.random.default_rng(8)
    x, W, v, beta = setup(rng)
    with pytest.raises(ValueError, match="v and beta must both be arrays"):
        abc_conv2d_forward(x, W, v, None, M=2)
    with pytest.raises(ValueError, match="beta must have the shape of v"):
        abc_conv2d_forward(x, W, v, beta[:2], M=2)
    with pytest.raises(ValueError, match="v must hold at least one value"):
        abc_conv2d_forward(x, W, v[:0], beta[:0], M=2)
    with pytest.raises(ValueError, match="M must be >= 1"):
        abc_conv2d_forward(x, W, v, beta, M=0)
    with pytest.raises(ValueError, match="W has 3 input channels .* R has 2 channels"):
        abc_conv2d_forward(x[:, :2], W, v, beta, M=2)
    with pytest.raises(ValueError, match="R must be 4-dimensional"):
        abc_conv2d_forward(x[0], W, v, beta, M=2)
    with pytest.raises(ValueError, match="W must be 4-dimensional"):
        abc_conv2d_forward(x, W[0], v, beta, M=2)
    with pytest.raises(TypeError, match="arrays must share one dtype"):
        abc_conv2d_forward(x.astype(np.float32), W, v, beta, M=2)
    with pytest.raises(ValueError, match="weight_ste must be one of"):
        abc_conv2d_forward(x, W, v, beta, M=2, weight_ste="scaled")
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="R must be finite"):
        abc_conv2d_forward(bad, W, v, beta, M=2)
    badW = W.copy()
    badW[0, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="W must be finite"):
        abc_conv2d_forward(x, badW, v, beta, M=2)
    with pytest.raises(ValueError, match="padding"):
        abc_conv2d_forward(x, W, v, beta, M=2, padding=-1)
    out, cache = abc_conv2d_forward(x, W, v, beta, M=2)
    with pytest.raises(ValueError, match="dout must have shape"):
        abc_conv2d_backward(out[:1], cache)
    with pytest.raises(ValueError, match="A must be 4-dimensional"):
        approx_conv2d_forward(x[0], W, M=2)


@settings(max_examples=25, deadline=None)
@given(
    M=st.integers(1, 3),
    N=st.integers(1, 3),
    size=st.integers(3, 7),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 2),
    padding=st.integers(0, 2),
    pad_value=st.sampled_from([0.0, 1.0, -1.0]),
    per_channel=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_eq12_identity_over_random_shapes(
    M, N, size, kernel, stride, padding, pad_value, per_channel, seed
):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(1, 2, size, size))
    W = rng.normal(size=(3, 2, kernel, kernel))
    v = rng.uniform(-0.5, 1.5, size=N)
    beta = rng.uniform(0.1, 1.0, size=N)
    kw = dict(M=M, stride=stride, padding=padding, per_channel=per_channel, pad_value=pad_value)
    out, _ = abc_conv2d_forward(x, W, v, beta, **kw)
    np.testing.assert_allclose(out, looped_eq12(x, W, v, beta, **kw), rtol=0, atol=1e-12)


# -- v and beta that are not arrays: a TypeError naming the argument -----------
def test_abc_conv_with_list_v_or_beta_names_the_argument():
    rng = np.random.default_rng(2)
    x, W = rng.normal(size=(1, 2, 4, 4)), rng.normal(size=(3, 2, 3, 3))
    with pytest.raises(TypeError, match="v must be a numpy.ndarray, got list"):
        abc_conv2d_forward(x, W, [0.5], np.array([1.0]), M=2)
    with pytest.raises(TypeError, match="beta must be a numpy.ndarray, got float"):
        abc_conv2d_forward(x, W, np.array([0.5]), 1.0, M=2)


def test_pad_value_of_binary_activations_is_a_bit_or_zero():
    rng = np.random.default_rng(12)
    x, W, v, beta = setup(rng)
    with pytest.raises(ValueError, match="pad_value must be 0, \\+1 or -1 with binary"):
        abc_conv2d_forward(x, W, v, beta, M=2, padding=1, pad_value=0.5)
    out, _ = abc_conv2d_forward(x, W, None, None, M=2, padding=1, pad_value=0.5)  # real input
    expected = looped_eq12(x, W, None, None, M=2, padding=1, pad_value=0.5)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)
