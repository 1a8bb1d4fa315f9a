"""Tests of abcref.bitpack.pack: +-1 signs to 64-bit words and back; bit order, tail bits."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abcref.bitpack import num_words, pack_signs, unpack_signs
from tests._bitpack_helpers import random_signs


def test_bit_order_lsb_first_and_bit_one_is_plus_one():
    x = -np.ones(70)
    x[[0, 2, 63, 64, 69]] = 1
    words = pack_signs(x)
    assert words.dtype == np.uint64
    assert words.tolist() == [1 + 4 + 2**63, 1 + 2**5]


def test_tail_bits_are_zero():
    words = pack_signs(np.ones(65))
    assert words.tolist() == [2**64 - 1, 1]


def test_num_words():
    assert [num_words(n) for n in (0, 1, 63, 64, 65, 128, 130)] == [0, 1, 1, 1, 2, 2, 3]


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    length=st.sampled_from([1, 7, 63, 64, 65, 130]),
    axis_pick=st.integers(0, 3),
    dtype=st.sampled_from([np.float32, np.float64, np.int8, np.int64]),
    seed=st.integers(0, 2**32 - 1),
)
def test_pack_unpack_round_trip(shape, length, axis_pick, dtype, seed):
    axis = axis_pick % (len(shape) + 1)
    full = list(shape)
    full.insert(axis, length)
    x = random_signs(np.random.default_rng(seed), tuple(full), dtype)
    words = pack_signs(x, axis=axis)
    assert words.shape[axis] == num_words(length)
    back = unpack_signs(words, length=length, axis=axis, dtype=dtype)
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, x)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(length=st.integers(1, 200), seed=st.integers(0, 2**32 - 1))
def test_unpack_pack_round_trip_on_words(length, seed):
    rng = np.random.default_rng(seed)
    words = rng.integers(0, 2**64, size=(3, num_words(length)), dtype=np.uint64, endpoint=False)
    tail = length % 64
    if tail:
        words[:, -1] &= np.uint64((1 << tail) - 1)
    signs = unpack_signs(words, length=length)
    np.testing.assert_array_equal(pack_signs(signs), words)


@pytest.mark.parametrize("bad", [0.0, 0.5, np.nan, 2.0, -np.inf])
def test_rejects_values_other_than_plus_minus_one(bad):
    x = np.ones(10)
    x[3] = bad
    with pytest.raises(ValueError, match=r"x must hold only \+1 and -1"):
        pack_signs(x)


def test_rejects_bool_and_lists():
    with pytest.raises(TypeError, match="x must have a float or integer dtype"):
        pack_signs(np.ones(4, dtype=bool))
    with pytest.raises(TypeError, match="x must be a numpy.ndarray"):
        pack_signs([1, -1])


def test_rejects_bad_axis():
    with pytest.raises(ValueError, match="axis must be in"):
        pack_signs(np.ones((2, 3)), axis=2)


def test_unpack_rejects_bad_words():
    with pytest.raises(TypeError, match="words must be a numpy.ndarray of dtype uint64"):
        unpack_signs(np.zeros(2, dtype=np.int64), length=100)
    with pytest.raises(ValueError, match="words must have 2 word"):
        unpack_signs(np.zeros(1, dtype=np.uint64), length=100)
    with pytest.raises(ValueError, match="tail bits set beyond length 3"):
        unpack_signs(np.array([8], dtype=np.uint64), length=3)
    with pytest.raises(TypeError, match="dtype must be float32, float64 or a signed integer"):
        unpack_signs(np.zeros(1, dtype=np.uint64), length=3, dtype=np.uint8)


def test_rejects_int8_minimum():
    # abs(-128) overflows to -128 in int8: still not a sign.
    with pytest.raises(ValueError, match=r"x must hold only \+1 and -1"):
        pack_signs(np.array([1, -128, -1], dtype=np.int8))
