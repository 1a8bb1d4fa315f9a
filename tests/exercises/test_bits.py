"""Checkers of tutorial 4: any right answer accepted, typical wrong ones rejected with a hint."""

import inspect
import runpy
from pathlib import Path

import numpy as np
import pytest

from abcref import ops
from abcref.bitpack import zero_padding_correction
from abcref.exercises import bits

SOLUTIONS = runpy.run_path(
    str(Path(__file__).parents[2] / "tutorials" / "solutions" / "04_bits.py")
)


def popcount_xor(a_words, b_words):
    return int(np.bitwise_count(a_words ^ b_words).sum())


def whole_words_xnor(a_words, b_words, K):
    agree = int(np.bitwise_count(~(a_words ^ b_words)).sum())  # tail bits count as agreements
    return 2 * agree - K


def unsigned_dot(a_words, b_words, K):
    with np.errstate(over="ignore"):  # the learner would see numpy's overflow warning
        return K - 2 * np.bitwise_count(a_words ^ b_words).sum()


# -- xnor_dot --------------------------------------------------------------------

DOT_RIGHT = [
    SOLUTIONS["xnor_dot"],
    lambda a, b, K: K - 2 * popcount_xor(a, b),
    lambda a, b, K: np.int64(K - 2 * popcount_xor(a, b)),
    lambda a, b, K: float(K - 2 * popcount_xor(a, b)),
]


@pytest.mark.parametrize("answer", DOT_RIGHT, ids=["solution", "xor", "numpy-int", "float"])
def test_xnor_dot_accepts_any_correct_answer(answer):
    assert bits.check_xnor_dot(answer)


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (lambda a, b, K: K - popcount_xor(a, b), "counts the agreeing positions only"),
        (lambda a, b, K: 2 * popcount_xor(a, b) - K, "opposite sign"),
        (lambda a, b, K: 64 * len(a) - 2 * popcount_xor(a, b), "unused tail bits"),
        (whole_words_xnor, "the XNOR of the tail bits is 1"),
        (lambda a, b, K: popcount_xor(a, b), "number of differing positions"),
        (lambda a, b, K: K - 2 * popcount_xor(a, b) + 1, "for K = 10 your function returned"),
        (unsigned_dot, "wraps round"),
        (lambda a, b, K: K / 3, "is an integer"),
        (lambda a, b, K: "one", "should return one number"),
    ],
    ids=[
        "agreements",
        "sign",
        "bits-not-K",
        "xnor-unmasked",
        "p",
        "off-by-one",
        "unsigned",
        "float",
        "str",
    ],
)
def test_xnor_dot_rejects_typical_mistakes(answer, hint):
    verdict = bits.check_xnor_dot(answer)
    assert not verdict
    assert hint in verdict.message


# -- padding_correction ----------------------------------------------------------------


def by_library(filters, height, width, padding):
    return zero_padding_correction(filters, (height, width), padding=padding)


def inside_sum(filters, height, width, padding):
    zeros = np.ones((1, filters.shape[1], height, width))
    return ops.conv2d_forward(zeros, filters, padding=padding)[0][0]


def border_count(filters, height, width, padding):
    ones = np.ones_like(filters)
    return by_library(ones, height, width, padding)


def doubled(filters, height, width, padding):
    return 2 * by_library(filters, height, width, padding)


def shifted(filters, height, width, padding):
    corr = by_library(filters, height, width, padding)
    return np.roll(corr, 1, axis=2)


PAD_RIGHT = [
    SOLUTIONS["padding_correction"],
    SOLUTIONS["padding_correction_by_convolution"],
    by_library,
]


@pytest.mark.parametrize("answer", PAD_RIGHT, ids=["loops", "conv-of-zeros", "library"])
def test_padding_correction_accepts_any_correct_answer(answer):
    assert bits.check_padding_correction(answer)


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (lambda f, h, w, p: -by_library(f, h, w, p), "wrong sign"),
        (inside_sum, "never touches the border"),
        (border_count, "ignores the filters' signs"),
        (shifted, "never touches the border"),
        (doubled, "wrong near the edges"),
        (lambda f, h, w, p: np.zeros((f.shape[0], h + 2 * p, w + 2 * p)), "should have shape"),
    ],
    ids=["sign", "inside", "count", "shifted", "doubled", "shape"],
)
def test_padding_correction_rejects_typical_mistakes(answer, hint):
    verdict = bits.check_padding_correction(answer)
    assert not verdict
    assert hint in verdict.message


# -- both ---------------------------------------------------------------------------


@pytest.mark.parametrize("check", [bits.check_xnor_dot, bits.check_padding_correction])
def test_the_template_is_not_attempted_yet(check):
    verdict = check(lambda *args: None)
    assert not verdict
    assert verdict.message.startswith("not attempted yet")


def _messages():
    wrong = [
        bits.check_xnor_dot(lambda a, b, K: K - popcount_xor(a, b)),
        bits.check_xnor_dot(whole_words_xnor),
        bits.check_xnor_dot(lambda a, b, K: K - 2 * popcount_xor(a, b) + 1),
        bits.check_padding_correction(inside_sum),
        bits.check_padding_correction(doubled),
    ]
    right = [bits.check_xnor_dot(DOT_RIGHT[1]), bits.check_padding_correction(by_library)]
    return [v.message for v in wrong + right]


def test_no_message_shows_the_solution():
    code = [
        line.strip()
        for name in ("xnor_dot", "padding_correction")
        for line in inspect.getsource(SOLUTIONS[name]).splitlines()[2:]
        if len(line.strip()) > 12  # a statement, not a lone bracket
    ]
    for message in _messages():
        for line in code:
            assert line not in message
        assert "bitwise_count" not in message
        assert "K - 2" not in message
