"""Tests of abcref.ops.activation: ReLU and clip, their gradients at the kinks, dtypes, checks."""

import numpy as np
import pytest

from abcref.gradcheck import check_gradient
from abcref.ops import clip_backward, clip_forward, relu_backward, relu_forward


def away_from(x, points, margin=1e-3):
    """Move entries off kinks so finite differences see a smooth function."""
    for p in points:
        near = np.abs(x - p) < margin
        x[near] = p + 2 * margin
    return x


def test_relu_forward_and_gradient():
    rng = np.random.default_rng(0)
    x = away_from(rng.standard_normal((3, 4, 5)), [0.0])
    out, cache = relu_forward(x)
    np.testing.assert_array_equal(out, np.maximum(x, 0))
    dout = rng.standard_normal(x.shape)
    check_gradient(lambda _: relu_forward(x)[0], x, dout, relu_backward(dout, cache))


def test_relu_gradient_at_zero_is_zero():
    x = np.array([-1.0, 0.0, 2.0])
    _, cache = relu_forward(x)
    np.testing.assert_array_equal(relu_backward(np.ones(3), cache), [0.0, 0.0, 1.0])
    out, _ = relu_forward(np.array([-3.0, -0.0]))
    assert not np.signbit(out).any()  # +0.0, not -0.0, for non-positive inputs


def test_clip_forward_and_gradient():
    rng = np.random.default_rng(1)
    x = away_from(3 * rng.standard_normal((4, 6)), [-0.5, 2.0])
    out, cache = clip_forward(x, low=-0.5, high=2.0)
    np.testing.assert_array_equal(out, np.clip(x, -0.5, 2.0))
    dout = rng.standard_normal(x.shape)
    check_gradient(
        lambda _: clip_forward(x, low=-0.5, high=2.0)[0], x, dout, clip_backward(dout, cache)
    )


def test_clip_gradient_is_zero_at_the_bounds_like_hardtanh():
    x = np.array([-2.0, -1.0, -0.999, 0.0, 0.999, 1.0, 2.0])
    out, cache = clip_forward(x)
    np.testing.assert_array_equal(out, [-1.0, -1.0, -0.999, 0.0, 0.999, 1.0, 1.0])
    np.testing.assert_array_equal(clip_backward(np.ones(7), cache), [0, 0, 1, 1, 1, 0, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_preserve_dtype(dtype):
    x = np.linspace(-2, 2, 12).astype(dtype).reshape(3, 4)
    for fwd, bwd in ((relu_forward, relu_backward), (clip_forward, clip_backward)):
        out, cache = fwd(x)
        assert out.dtype == dtype
        assert bwd(np.ones_like(out), cache).dtype == dtype


def test_activations_reject_bad_input():
    with pytest.raises(TypeError, match="x must be a numpy.ndarray"):
        relu_forward([1.0, 2.0])
    with pytest.raises(TypeError, match="x must have dtype float32 or float64"):
        relu_forward(np.arange(3))
    with pytest.raises(ValueError, match="x must be finite"):
        clip_forward(np.array([np.inf]))
    with pytest.raises(ValueError, match="low must be < high, got low=1.0, high=1.0"):
        clip_forward(np.zeros(2), low=1.0, high=1.0)
    with pytest.raises(TypeError, match="high must be a real number"):
        clip_forward(np.zeros(2), high="1")
    _, cache = relu_forward(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 2\)"):
        relu_backward(np.zeros(4), cache)
    with pytest.raises(TypeError, match="dout must have dtype float64"):
        relu_backward(np.zeros((2, 2), dtype=np.float32), cache)
