"""Tests of abcref.fast.xnor: the blocked, threaded popcount conv equals the reference.

Exact integer equality with :func:`abcref.bitpack.xnor_conv2d` over random
shapes, strides, paddings and thread counts; the packed entry point, the
uint16/uint32 counters, the blocking, and bad packed operands.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abcref.bitpack import xnor_conv2d
from abcref.fast import xnor as fast
from abcref.fast.xnor import (
    pack_conv_input,
    pack_conv_weights,
    popcount_xor_matmul,
    xnor_popcount_conv2d_packed,
)
from tests._bitpack_helpers import conv_configs, draw_operands, float_conv2d, pair, random_signs


def fast_xnor(a, b, *, stride=1, padding=0, pad_value=0, num_threads=None):
    """The fast conv takes normalised arguments, as the compiled engine passes them."""
    pairs = {"stride": pair(stride), "padding": pair(padding)}
    return fast.xnor_conv2d(a, b, pad_value=int(pad_value), num_threads=num_threads, **pairs)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(cfg=conv_configs(), threads=st.sampled_from([1, 2]))
def test_fast_xnor_conv2d_equals_the_reference_exactly(cfg, threads):
    a, b = draw_operands(cfg)
    kwargs = {"stride": cfg["stride"], "padding": cfg["padding"], "pad_value": cfg["pad_value"]}
    out = fast_xnor(a, b, num_threads=threads, **kwargs)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, xnor_conv2d(a, b, **kwargs))


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
    np.testing.assert_array_equal(fast_xnor(a, b)[:, :, 0, 0], [[65600, -65600]])
    a = random_signs(rng, (1, 4100, 5, 4), np.int8)
    b = random_signs(rng, (2, 4100, 4, 4), np.int8)
    expected = float_conv2d(a, b, padding=(1, 1))
    np.testing.assert_array_equal(fast_xnor(a, b, padding=1), expected)


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


def test_padding_wider_than_kernel_equals_the_reference():
    rng = np.random.default_rng(2)
    a = random_signs(rng, (1, 3, 2, 2))
    b = random_signs(rng, (2, 3, 2, 2))
    np.testing.assert_array_equal(fast_xnor(a, b, padding=3), xnor_conv2d(a, b, padding=3))


def test_bad_packed_operands():
    a = np.ones((1, 3, 5, 5))
    with pytest.raises(ValueError, match="a_words has 1 words per pixel, b_words 2"):
        xnor_popcount_conv2d_packed(
            np.zeros((1, 4, 4, 1), np.uint64), np.zeros((1, 3, 3, 2), np.uint64)
        )
    with pytest.raises(ValueError, match=r"pad_value must be 0, \+1 or -1, got 2"):
        pack_conv_input(a, padding=1, pad_value=2)
    with pytest.raises(TypeError, match="a_words must be a 4-d uint64 ndarray"):
        xnor_popcount_conv2d_packed(np.zeros((1, 4, 4, 1)), np.zeros((1, 3, 3, 1), np.uint64))


# -- silently wrong layouts: words or images that do not match -------------------
def test_popcount_matmul_rejects_mismatched_words_and_image_count():
    cols = np.zeros((3, 10), np.uint64)
    with pytest.raises(ValueError, match=r"filt must have 3 words per filter like cols"):
        popcount_xor_matmul(cols, np.ones((4, 2), np.uint64))  # word 4 was ignored
    with pytest.raises(ValueError, match="cols has 10 rows, not a multiple of n_images=3"):
        popcount_xor_matmul(cols, np.ones((3, 2), np.uint64), n_images=3)
    with pytest.raises(TypeError, match="filt must be a 2-d uint64 ndarray"):
        popcount_xor_matmul(cols, np.ones((3, 2)))


@pytest.mark.parametrize("channels", [64, 200])
def test_fast_xnor_counts_every_mismatch_at_the_uint8_partial_limit(channels):
    # a = +1 and b = -1 everywhere: every word of every tap counts 64
    # mismatches (tail bits excepted), so 3-word partial sums reach 192.
    a = np.ones((2, channels, 5, 6))
    b = -np.ones((3, channels, 3, 3))
    k = channels * 9
    for threads in (1, 3):
        out = fast_xnor(a, b, num_threads=threads)
        np.testing.assert_array_equal(out, np.full((2, 3, 3, 4), -k))
        np.testing.assert_array_equal(out, xnor_conv2d(a, b))


def test_fast_xnor_broadcast_filter_path_equals_the_repeated_one(monkeypatch):
    # Filters too large to repeat along the rows fall back to a broadcast
    # operand: the same counts, exactly.
    rng = np.random.default_rng(12)
    a = random_signs(rng, (3, 70, 6, 5))
    b = random_signs(rng, (5, 70, 3, 2))
    repeated = fast_xnor(a, b, padding=1, num_threads=2)
    monkeypatch.setattr(fast, "_REPEATED_FILTER_BYTES", 0)
    broadcast = fast_xnor(a, b, padding=1, num_threads=2)
    np.testing.assert_array_equal(broadcast, repeated)
    np.testing.assert_array_equal(broadcast, xnor_conv2d(a, b, padding=1))
