"""Tests of abcref.bitpack.conv: the reference xnor/popcount convolution.

Exact equality with a float convolution of the same +-1 arrays (written
independently in tests/_bitpack_helpers.py) and with the naive loop; the
fast conv is tied to this one in tests/fast/test_xnor.py.
"""

import numpy as np
import pytest
from hypothesis import given, settings

from abcref.bitpack import xnor_conv2d, xnor_conv2d_naive, zero_padding_correction
from tests._bitpack_helpers import conv_configs, draw_operands, float_conv2d, pair, random_signs


@settings(max_examples=50, deadline=None, derandomize=True)
@given(cfg=conv_configs())
def test_reference_xnor_conv2d_equals_float_conv_exactly(cfg):
    a, b = draw_operands(cfg)
    kwargs = {"stride": cfg["stride"], "padding": cfg["padding"], "pad_value": cfg["pad_value"]}
    out = xnor_conv2d(a, b, **kwargs)
    expected = float_conv2d(
        a,
        b,
        stride=pair(cfg["stride"]),
        padding=pair(cfg["padding"]),
        pad_value=cfg["pad_value"],
    )
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, expected)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(cfg=conv_configs(max_hw=6))
def test_reference_equals_naive_loop(cfg):
    a, b = draw_operands(cfg)
    kwargs = {"stride": cfg["stride"], "padding": cfg["padding"], "pad_value": cfg["pad_value"]}
    np.testing.assert_array_equal(xnor_conv2d(a, b, **kwargs), xnor_conv2d_naive(a, b, **kwargs))


def test_large_k_does_not_overflow():
    # K = 4100 * 4 * 4 = 65600 > 2**16: counts must leave uint16 behind.
    rng = np.random.default_rng(1)
    a = np.ones((1, 4100, 4, 4))
    b = np.ones((2, 4100, 4, 4))
    b[1] = -1
    np.testing.assert_array_equal(xnor_conv2d(a, b)[:, :, 0, 0], [[65600, -65600]])
    a = random_signs(rng, (1, 4100, 5, 4), np.int8)
    b = random_signs(rng, (2, 4100, 4, 4), np.int8)
    expected = float_conv2d(a, b, padding=(1, 1))
    np.testing.assert_array_equal(xnor_conv2d(a, b, padding=1), expected)


def test_padding_wider_than_kernel_gives_border_only_outputs():
    rng = np.random.default_rng(2)
    a = random_signs(rng, (1, 3, 2, 2))
    b = random_signs(rng, (2, 3, 2, 2))
    out = xnor_conv2d(a, b, padding=3)
    np.testing.assert_array_equal(out, float_conv2d(a, b, padding=(3, 3)))
    assert (out[:, :, 0, :] == 0).all()  # windows lying wholly in the zero border


def _ab():
    return np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"stride": 1.5}, TypeError, "stride must be an integer"),
        ({"stride": (1, 2.0)}, TypeError, r"stride\[1\] must be an integer"),
        ({"stride": 0}, ValueError, "stride must be >= 1"),
        ({"padding": -1}, ValueError, "padding must be >= 0"),
        ({"pad_value": 0.5}, ValueError, r"pad_value must be 0, \+1 or -1, got 0.5"),
        ({"pad_value": "zero"}, TypeError, "pad_value must be a real number"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    a, b = _ab()
    with pytest.raises(error, match=match):
        xnor_conv2d(a, b, **kwargs)


def test_bad_operands():
    a, b = _ab()
    with pytest.raises(ValueError, match=r"a must hold only \+1 and -1"):
        xnor_conv2d(a * 0.5, b)
    with pytest.raises(ValueError, match=r"b must hold only \+1 and -1"):
        xnor_conv2d(a, b - 1)
    with pytest.raises(ValueError, match="b has 4 input channels .* a has 3 channels"):
        xnor_conv2d(a, np.ones((2, 4, 3, 3)))
    with pytest.raises(ValueError, match=r"a must be 4-dimensional, got .*\(N, C, H, W\)"):
        xnor_conv2d(a[0], b)
    with pytest.raises(ValueError, match=r"b must be 4-dimensional, got .*\(O, C, kh, kw\)"):
        xnor_conv2d(a, b[0])
    with pytest.raises(ValueError, match=r"kernel \(7, 1\) is larger than the padded input"):
        xnor_conv2d(a, np.ones((2, 3, 7, 1)))


# -- 0-valued filters were silently counted as -1 ------------------------------
def test_zero_padding_correction_rejects_zero_valued_filters():
    b = np.sign(np.array([0.0, 1.0])).reshape(2, 1, 1, 1)  # np.sign(0) = 0
    with pytest.raises(ValueError, match=r"b must hold only \+1 and -1"):
        zero_padding_correction(b, (2, 2), padding=1)  # 0 was counted as -1
