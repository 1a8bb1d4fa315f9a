"""Tutorial 02's checkers: every correct form accepted, each typical mistake named."""

import numpy as np
import pytest

from abcref.exercises import activations

from ._solutions import assert_rejected, load_solution, solution_tokens

solution = load_solution("02_shifted_binary_activations")
TOKENS = solution_tokens(solution)


def _pm(condition):
    return np.where(condition, 1.0, -1.0)


# -- eq. 9: H_v as a comparator -----------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        solution.H_v_comparator,
        lambda R, v: 2 * (R >= 0.5 - v).astype(int) - 1,  # eq. 9's 2 * 1[...] - 1, ints
        lambda R, v: _pm(~(R < 0.5 - v)).tolist(),  # a list
    ],
    ids=["solution", "two-indicator-minus-one", "list"],
)
def test_correct_comparators_are_accepted(answer):
    verdict = activations.check_H_v(answer)
    assert verdict.ok, verdict.message


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda R, v: (R >= 0.5 - v).astype(float), "your output holds 0 and 1: H_v is -1 or +1"),
        (
            lambda R, v: _pm(R > 0.5 - v),
            "on the threshold 0.5 - v your output is -1: eq. 9 has >=",
        ),
        (lambda R, v: np.sign(R - (0.5 - v)), "on the threshold 0.5 - v your output is +0"),
        (lambda R, v: _pm(R >= 0.5 + v), "your threshold is 0.5 + v (with v = 0.25)"),
        (lambda R, v: _pm(R >= 0), "your threshold is 0 whatever v is"),
        (lambda R, v: -_pm(R >= 0.5 - v), "your H_v is -1 above the threshold and +1 below"),
        (
            lambda R, v: _pm(np.clip(R + v, 0, 1) >= 0.5),  # eq. 9 read literally
            "right except at R = 0.7, v = -0.2, where the rounded R + v falls just below 0.5",
        ),
        (lambda R, v: _pm(R >= 0.4 - v), "with v = -0.3 your H_v differs from eq. 9 at 9 of 200"),
        (lambda R, v: _pm(R >= 0.5 - v)[:-1], "H_v(R, v) should have shape (49,), got (48,)"),
    ],
    ids=[
        "zero-one",
        "strict",
        "np-sign",
        "plus-v",
        "no-v",
        "flipped",
        "eq9-literal",
        "other",
        "shape",
    ],
)
def test_typical_wrong_comparators_are_named(answer, message):
    assert_rejected(activations.check_H_v(answer), message, TOKENS)


# -- eq. 11: the staircase ----------------------------------------------------------------


def _codes(R, v):
    return np.stack([R >= 0.5 - v_n for v_n in v]).astype(float)


@pytest.mark.parametrize(
    "answer",
    [
        solution.staircase,
        lambda R, v, beta: np.tensordot(beta, 2 * _codes(R, v) - 1, axes=1),
        lambda R, v, beta: np.einsum("n,n...->...", beta, np.where(_codes(R, v) > 0, 1.0, -1.0)),
    ],
    ids=["solution", "tensordot", "einsum"],
)
def test_correct_staircases_are_accepted(answer):
    verdict = activations.check_staircase(answer)
    assert verdict.ok, verdict.message


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            lambda R, v, beta: sum(
                b * np.clip(R + v_n, 0, 1) for v_n, b in zip(v, beta, strict=True)
            ),
            "you summed beta_n h_{v_n}(R), the clipped surrogate of eq. 8",
        ),
        (
            lambda R, v, beta: np.tensordot(beta, _codes(R, v), axes=1),
            "your A_n are 0 or 1: eq. 9 makes them -1 or +1",
        ),
        (
            lambda R, v, beta: (2 * _codes(R, v) - 1).sum(axis=0),
            "you summed the A_n without their scales beta_n",
        ),
        (
            lambda R, v, beta: np.tensordot(beta[::-1], 2 * _codes(R, v) - 1, axes=1),
            "your scales are reversed",
        ),
        (
            lambda R, v, beta: np.tensordot(beta, 2 * _codes(R, v) - 1, axes=1) / len(v),
            "you averaged the N terms",
        ),
        (
            lambda R, v, beta: np.tensordot(beta, 2 * _codes(R, -v) - 1, axes=1),
            "with N = 3 your R_tilde differs (largest difference",
        ),
        (lambda R, v, beta: beta, "R_tilde should have shape (4, 50), got (3,)"),
    ],
    ids=["surrogate", "zero-one", "no-beta", "reversed", "mean", "other", "shape"],
)
def test_typical_wrong_staircases_are_named(answer, message):
    assert_rejected(activations.check_staircase(answer), message, TOKENS)


# -- eq. 10: the straight-through mask --------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        solution.ste_mask,
        lambda R, v: ((0 <= R + v) & (R + v <= 1)).astype(np.float64),  # 0/1 floats, R + v form
        lambda R, v: np.clip(R + v, 0, 1) == R + v,  # "not clipped"
    ],
    ids=["solution", "r-plus-v-floats", "not-clipped"],
)
def test_correct_masks_are_accepted(answer):
    verdict = activations.check_ste_mask(answer)
    assert verdict.ok, verdict.message


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            lambda R, v: (0 <= R - v) & (R - v <= 1),
            "your mask is the paper's printed eq. 10, 1[0 <= R - v <= 1]: for v = 0.25 its "
            "window [0.25, 1.25] is not centred on the threshold 0.5 - v = 0.25.",
        ),
        (lambda R, v: (-v < R) & (R < 1 - v), "at the two ends of the window"),
        (lambda R, v: np.abs(R) <= 1, "your mask is the hard tanh's, |R| <= 1, whatever v is"),
        (lambda R, v: _pm((-v <= R) & (R <= 1 - v)), "a mask holds 0 and 1 (or False and True)"),
        (lambda R, v: np.abs(R - (0.5 - v)) <= 1, "with v = 0.25 your mask differs at 8 of 49"),
    ],
    ids=["printed-eq10", "strict-bounds", "hard-tanh", "plus-minus-one", "too-wide"],
)
def test_typical_wrong_masks_are_named(answer, message):
    assert_rejected(activations.check_ste_mask(answer), message, TOKENS)


@pytest.mark.parametrize(
    "check", [activations.check_H_v, activations.check_staircase, activations.check_ste_mask]
)
def test_the_template_is_not_attempted_yet(check):
    verdict = check(lambda *args: None)
    assert not verdict.ok
    assert verdict.message.startswith("not attempted yet")


def test_the_solution_code_is_among_the_forbidden_tokens():
    assert {"np.where(", "return np.where(R >= 0.5 - v, 1.0, -1.0)"} <= TOKENS
