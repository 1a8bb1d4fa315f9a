"""The checkers' machinery: verdicts, answers not attempted, errors in the learner's code."""

import numpy as np
import pytest

from abcref.exercises._verdict import Verdict, answer_array, checker


@checker("double")
def check_double(call):
    x = np.arange(3.0)
    out = answer_array(call(x), (3,), "your result")
    if np.array_equal(out, x):
        return False, "you returned x itself: multiply by 2"
    return np.allclose(out, 2 * x), "doubles every entry"


def test_a_right_answer_is_accepted_and_true():
    verdict = check_double(lambda x: 2 * x)
    assert verdict == Verdict("double", True, "doubles every entry")
    assert verdict
    assert repr(verdict) == "[Correct] double: doubles every entry"


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda x: None, "not attempted yet: fill in the function above, then re-run"),
        (lambda x: x, "you returned x itself: multiply by 2"),
        (lambda x: 1 / 0, "your function raised ZeroDivisionError: division by zero"),
        (lambda x: x[:2], "your result should have shape (3,), got (2,)"),
        (lambda x: x * np.nan, "your result holds NaN or Inf"),
        (lambda x: "two", "your result should be an array of numbers, got str"),
    ],
    ids=["template", "typical-mistake", "raises", "shape", "nan", "not-numbers"],
)
def test_every_other_answer_is_rejected_with_its_message(answer, message):
    verdict = check_double(answer)
    assert not verdict
    assert verdict.message == message
    assert repr(verdict).startswith("[Not yet] double: ")


def test_an_error_in_the_answer_is_reported_in_one_bounded_line():
    def noisy(x):
        raise ValueError("a\nlong\n" + "x" * 1000)

    message = check_double(noisy).message
    assert "\n" not in message
    assert len(message) < 300


def test_passing_a_result_instead_of_the_function_is_a_type_error():
    with pytest.raises(TypeError, match="pass your function itself"):
        check_double(np.arange(3.0))
