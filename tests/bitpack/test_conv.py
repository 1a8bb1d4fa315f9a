import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abcref.bitpack import xnor_conv2d, xnor_conv2d_naive
from abcref.fast import xnor as fast
from abcref.fast.xnor import (
    pack_conv_input,
    pack_conv_weights,
    popcount_xor_matmul,
    xnor_popcount_conv2d_packed,
)
from tests._bitpack_helpers import float_conv2d, random_signs

CHANNELS = [1, 2, 7, 63, 64, 65, 130]


@st.composite
def conv_configs(draw, max_hw=9):
    c = draw(st.sampled_from(CHANNELS))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    square_padding = draw(st.booleans())  # an int padding means (ph, ph)
    if square_padding:
        pw = ph
    h = draw(st.integers(max(1, kh - 2 * ph), max_hw))
    w = draw(st.integers(max(1, kw - 2 * pw), max_hw))
    stride = draw(st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    return {
        "n": draw(st.integers(1, 3)),
        "o": draw(st.integers(1, 5)),
        "c": c,
        "hw": (h, w),
        "k": (kh, kw),
        "stride": stride,
        "padding": ph if square_padding else (ph, pw),
        "pad_value": draw(st.sampled_from([0, 1, -1, 0.0, 1.0, -1.0])),
        "dtype": draw(st.sampled_from([np.float32, np.float64, np.int8])),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def _draw_operands(cfg):
    rng = np.random.default_rng(cfg["seed"])
    a = random_signs(rng, (cfg["n"], cfg["c"], *cfg["hw"]), cfg["dtype"])
    b = random_signs(rng, (cfg["o"], cfg["c"], *cfg["k"]), cfg["dtype"])
    return a, b


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


def fast_xnor(a, b, *, stride=1, padding=0, pad_value=0, num_threads=None):
    """The fast conv takes normalised arguments, as the compiled engine passes them."""
    pairs = {"stride": _pair(stride), "padding": _pair(padding)}
    return fast.xnor_conv2d(a, b, pad_value=int(pad_value), num_threads=num_threads, **pairs)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(cfg=conv_configs(), threads=st.sampled_from([1, 2]))
def test_reference_and_fast_xnor_conv2d_equal_float_conv_exactly(cfg, threads):
    a, b = _draw_operands(cfg)
    kwargs = {"stride": cfg["stride"], "padding": cfg["padding"], "pad_value": cfg["pad_value"]}
    out = xnor_conv2d(a, b, **kwargs)
    np.testing.assert_array_equal(fast_xnor(a, b, num_threads=threads, **kwargs), out)
    expected = float_conv2d(
        a,
        b,
        stride=_pair(cfg["stride"]),
        padding=_pair(cfg["padding"]),
        pad_value=cfg["pad_value"],
    )
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, expected)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(cfg=conv_configs(max_hw=6))
def test_reference_equals_naive_loop(cfg):
    a, b = _draw_operands(cfg)
    kwargs = {"stride": cfg["stride"], "padding": cfg["padding"], "pad_value": cfg["pad_value"]}
    np.testing.assert_array_equal(xnor_conv2d(a, b, **kwargs), xnor_conv2d_naive(a, b, **kwargs))


def test_packed_entry_point_gives_mismatch_counts():
    rng = np.random.default_rng(0)
    a = random_signs(rng, (2, 65, 5, 5))
    b = random_signs(rng, (3, 65, 3, 3))
    a_words = pack_conv_input(a, padding=1, pad_value=-1)
    b_words = pack_conv_weights(b)
    assert a_words.shape == (2, 7, 7, 2) and b_words.shape == (3, 3, 3, 2)
    mismatches = xnor_popcount_conv2d_packed(a_words, b_words)
    expected = float_conv2d(a, b, padding=(1, 1), pad_value=-1.0)
    np.testing.assert_array_equal(65 * 9 - 2 * mismatches, expected)


def test_large_k_does_not_overflow():
    # K = 4100 * 4 * 4 = 65600 > 2**16: counts must leave uint16 behind.
    rng = np.random.default_rng(1)
    a = np.ones((1, 4100, 4, 4))
    b = np.ones((2, 4100, 4, 4))
    b[1] = -1
    for conv in (xnor_conv2d, fast_xnor):
        np.testing.assert_array_equal(conv(a, b)[:, :, 0, 0], [[65600, -65600]])
    a = random_signs(rng, (1, 4100, 5, 4), np.int8)
    b = random_signs(rng, (2, 4100, 4, 4), np.int8)
    expected = float_conv2d(a, b, padding=(1, 1))
    for conv in (xnor_conv2d, fast_xnor):
        np.testing.assert_array_equal(conv(a, b, padding=1), expected)


def test_popcount_matmul_all_ones_words():
    cols = np.full((1100, 3), 2**64 - 1, dtype=np.uint64)  # 70400 mismatching bits per row
    filt = np.zeros((1100, 2), dtype=np.uint64)
    np.testing.assert_array_equal(popcount_xor_matmul(cols, filt), np.full((1, 2, 3), 70400))


@pytest.mark.parametrize("block_elements", [8, 40, 1000])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_blocking_and_threads_cover_every_output(monkeypatch, block_elements, threads):
    # Small blocks force both block kinds: parts of one image, and groups of whole images.
    monkeypatch.setattr(fast, "_BLOCK_ELEMENTS", block_elements)
    rng = np.random.default_rng(4)
    a = random_signs(rng, (5, 3, 7, 6))
    b = random_signs(rng, (4, 3, 3, 3))
    out = fast_xnor(a, b, padding=1, stride=(1, 2), num_threads=threads)
    np.testing.assert_array_equal(out, float_conv2d(a, b, padding=(1, 1), stride=(1, 2)))


def test_padding_wider_than_kernel_gives_border_only_outputs():
    rng = np.random.default_rng(2)
    a = random_signs(rng, (1, 3, 2, 2))
    b = random_signs(rng, (2, 3, 2, 2))
    out = xnor_conv2d(a, b, padding=3)
    np.testing.assert_array_equal(out, float_conv2d(a, b, padding=(3, 3)))
    np.testing.assert_array_equal(fast_xnor(a, b, padding=3), out)
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
    with pytest.raises(ValueError, match="a_words has 1 words per pixel, b_words 2"):
        xnor_popcount_conv2d_packed(
            np.zeros((1, 4, 4, 1), np.uint64), np.zeros((1, 3, 3, 2), np.uint64)
        )
    with pytest.raises(ValueError, match=r"pad_value must be 0, \+1 or -1, got 2"):
        pack_conv_input(a, padding=1, pad_value=2)
    with pytest.raises(TypeError, match="a_words must be a 4-d uint64 ndarray"):
        xnor_popcount_conv2d_packed(np.zeros((1, 4, 4, 1)), np.zeros((1, 3, 3, 1), np.uint64))
