"""Tests of abcref.quantize.activations: the activation quantizers of the comparison systems.

BNN's sign with its clipped straight-through estimator, DoReFa-Net's k-bit
activations and the full-precision identity: forward values against arrays
written out by hand, straight-through estimators against their written
formulas (both ends of the window included).
"""

import numpy as np
import pytest

from abcref.quantize import (
    dorefa_activations_backward,
    dorefa_activations_forward,
    identity_backward,
    identity_forward,
    sign_activations_backward,
    sign_activations_forward,
)


def test_sign_activations_forward_and_clipped_ste():
    x = np.array([-1.5, -1.0, -0.3, 0.0, 0.3, 1.0, 1.5])
    g = np.arange(1.0, 8.0)
    A, cache = sign_activations_forward(x)
    np.testing.assert_array_equal(A, [-1, -1, -1, 1, 1, 1, 1])
    np.testing.assert_array_equal(sign_activations_backward(g, cache), [0, 2, 3, 4, 5, 6, 0])
    A, _ = sign_activations_forward(x, zero_sign=-1)
    np.testing.assert_array_equal(A, [-1, -1, -1, -1, 1, 1, 1])


def test_dorefa_activations_hand_computed():
    x = np.array([-0.5, 0.0, 0.2, 0.5, 0.6, 1.0, 1.5])
    g = np.arange(1.0, 8.0)
    # bits = 2: clip, 3x = [0, 0, .6, 1.5, 1.8, 3, 3], round -> [0, 0, 1, 2, 2, 3, 3]
    out, cache = dorefa_activations_forward(x, bits=2)
    np.testing.assert_allclose(out, [0, 0, 1 / 3, 2 / 3, 2 / 3, 1, 1], rtol=1e-15)
    # STE: 1 on [0, 1], both ends included
    np.testing.assert_array_equal(dorefa_activations_backward(g, cache), [0, 2, 3, 4, 5, 6, 0])
    # bits = 4 (Table 3): 15 x = [0, 0, 3, 7.5, 9, 15, 15] -> [0, 0, 3, 8, 9, 15, 15]
    out, _ = dorefa_activations_forward(x)
    np.testing.assert_allclose(out, np.array([0, 0, 3, 8, 9, 15, 15]) / 15, rtol=1e-15)


def test_dorefa_activations_one_bit_tie_rule():
    x = np.array([0.25, 0.5, 0.75])
    np.testing.assert_array_equal(dorefa_activations_forward(x, bits=1)[0], [0, 0, 1])
    out, _ = dorefa_activations_forward(x, bits=1, rounding="half_up")
    np.testing.assert_array_equal(out, [0, 1, 1])


def test_dorefa_activations_levels_for_any_k():
    x = np.linspace(-0.5, 1.5, 401)
    for bits in (1, 2, 3, 5, 8):
        out, _ = dorefa_activations_forward(x, bits=bits)
        levels = out * (2**bits - 1)
        np.testing.assert_allclose(levels, np.round(levels), atol=1e-9)
        assert np.all(np.abs(out - np.clip(x, 0, 1)) <= 0.5 / (2**bits - 1) + 1e-12)


def test_identity_quantizer():
    x = np.array([[-3.0, 0.5]])
    out, cache = identity_forward(x)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(identity_backward(2 * x, cache), 2 * x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved_everywhere(dtype):
    x = np.random.default_rng(4).standard_normal((2, 3, 4, 4)).astype(dtype)
    cases = [
        (sign_activations_forward, sign_activations_backward, {}),
        (dorefa_activations_forward, dorefa_activations_backward, {"bits": 4}),
        (identity_forward, identity_backward, {}),
    ]
    for fwd, bwd, kwargs in cases:
        out, cache = fwd(x, **kwargs)
        assert out.dtype == dtype, fwd.__name__
        assert bwd(np.ones_like(x), cache).dtype == dtype, bwd.__name__


def test_bad_bits():
    x = np.zeros(3)
    with pytest.raises(ValueError, match="bits must be >= 1, got 0"):
        dorefa_activations_forward(x, bits=0)
    with pytest.raises(TypeError, match="bits must be an integer, got 2.5"):
        dorefa_activations_forward(x, bits=2.5)
    with pytest.raises(TypeError, match="bits must be an integer, got True"):
        dorefa_activations_forward(x, bits=True)
    with pytest.raises(ValueError, match="bits must be <= 24, got 25"):
        dorefa_activations_forward(x, bits=25)


def test_bad_arrays_and_options():
    with pytest.raises(ValueError, match="x must be finite, got 1 NaN"):
        sign_activations_forward(np.array([0.0, np.nan]))
    with pytest.raises(TypeError, match="x must have dtype float32 or float64, got dtype int64"):
        dorefa_activations_forward(np.array([1, 2]))
    with pytest.raises(ValueError, match="rounding must be one of"):
        dorefa_activations_forward(np.ones(2), rounding="up")
    with pytest.raises(ValueError, match="zero_sign must be 1 or -1"):
        sign_activations_forward(np.ones(2), zero_sign=0)


def test_bad_upstream_gradients():
    _, cache = sign_activations_forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 3\)"):
        sign_activations_backward(np.ones((3, 2)), cache)
    with pytest.raises(TypeError, match="dout must have dtype float64"):
        sign_activations_backward(np.ones((2, 3), dtype=np.float32), cache)
