"""Tutorial 01's checkers: every correct form accepted, each typical mistake named."""

import numpy as np
import pytest

from abcref.exercises import weights

from ._solutions import assert_rejected, load_solution, solution_tokens

solution = load_solution("01_weight_approximation")
TOKENS = solution_tokens(solution)


def _design(W, B):
    return B.reshape(len(B), -1).T, W.ravel()


def _shifts(M):
    return np.zeros(1) if M == 1 else np.linspace(-1, 1, M)


def _divide_by_m_minus_1(M):
    with np.errstate(divide="ignore", invalid="ignore"):
        return -1 + 2 * np.arange(M) / (M - 1)


def _bases(W, M, *, shifts=_shifts, std=lambda W: W.std(), sign=None, mean=True):
    sign = sign or (lambda x: np.where(x > 0, 1.0, -1.0))
    centred = W - W.mean() if mean else W
    return np.stack([sign(centred + u * std(W)) for u in shifts(M)])


# -- eq. 2: the bases ---------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        solution.shifted_sign_bases,
        lambda W, M: _bases(W, M),  # linspace for M > 1
        lambda W, M: _bases(W, M).astype(np.int8),  # any numeric dtype
        lambda W, M: [b.tolist() for b in _bases(W, M)],  # nested lists
    ],
    ids=["solution", "linspace", "int8", "lists"],
)
def test_correct_bases_are_accepted(answer):
    verdict = weights.check_weight_bases(answer)
    assert verdict.ok, verdict.message


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            lambda W, M: _bases(W, M, std=lambda W: W.std(ddof=1)),
            "your std is the sample std (ddof=1",
        ),
        (
            lambda W, M: _bases(W, M, shifts=lambda M: np.linspace(-1, 1, M)),
            "with M = 1 your one shift is u = -1",
        ),
        (
            lambda W, M: _bases(W, M, shifts=_divide_by_m_minus_1),
            "with M = 1 your base is -1 everywhere: is your shift NaN or infinite?",
        ),
        (
            lambda W, M: _bases(W, M, shifts=_divide_by_m_minus_1, sign=np.sign),
            "with M = 1 your bases hold NaN: is a shift NaN?",
        ),
        (
            lambda W, M: _bases(W, M, sign=np.sign),
            "your base holds 0 where W - mean + u std is exactly 0",
        ),
        (
            lambda W, M: _bases(W, M, sign=lambda x: np.where(x >= 0, 1.0, -1.0)),
            "at exactly 0 your base gives +1",
        ),
        (lambda W, M: _bases(W, M)[::-1], "with M = 3 your bases come in reverse order"),
        (lambda W, M: _bases(W, M, mean=False), "your bases do not subtract mean(W)"),
        (
            lambda W, M: np.stack([_bases(w[None], M)[:, 0] for w in W], axis=1),
            "your mean and std are per output channel (section 3.1.2)",
        ),
        (
            lambda W, M: np.stack([W - W.mean()] * M),
            "with M = 3 your bases hold ",
        ),
        (
            lambda W, M: _bases(W, M, std=lambda W: 1.0),
            "with M = 3 your bases differ from eq. 2 at",
        ),
        (
            lambda W, M: _bases(W, M)[:, 0],
            "bases(W, M=3) should have shape (3, 4, 3, 3, 3), got (3, 3, 3, 3)",
        ),
    ],
    ids=[
        "ddof1",
        "linspace-M1",
        "nan-M1",
        "nan-M1-np-sign",
        "np-sign",
        "zero-to-plus",
        "reversed",
        "no-mean",
        "per-channel",
        "not-binary",
        "other",
        "shape",
    ],
)
def test_typical_wrong_bases_are_named(answer, message):
    verdict = weights.check_weight_bases(answer)
    assert_rejected(verdict, message, TOKENS)


# -- eq. 3: the normal equations -------------------------------------------------------


def _lstsq(W, B):
    return np.linalg.lstsq(*_design(W, B), rcond=None)[0]


def _pinv_column(W, B):
    D, w = _design(W, B)
    return np.linalg.pinv(D) @ w[:, None]  # an (M, 1) column


@pytest.mark.parametrize(
    "answer",
    [solution.fit_alphas_normal_equations, _lstsq, _pinv_column],
    ids=["solution", "lstsq", "pinv-column"],
)
def test_correct_alphas_are_accepted(answer):
    verdict = weights.check_alphas_normal_equations(answer)
    assert verdict.ok, verdict.message


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda W, B: _design(W, B)[0].T @ W.ravel() / W.size, "you divided D^T w by K"),
        (lambda W, B: _design(W, B)[0].T @ W.ravel(), "you returned D^T w"),
        (lambda W, B: _lstsq(W, B)[::-1], "your alphas come in reverse order"),
        (
            lambda W, B: np.abs(W).mean() * np.ones(len(B)),
            "with M = 3 your alpha is not the least-squares",
        ),
        (lambda W, B: np.zeros(4), "alpha should have shape (3,), got (4,)"),
    ],
    ids=["diagonal", "no-inverse", "reversed", "bwn-scale", "shape"],
)
def test_typical_wrong_alphas_are_named(answer, message):
    verdict = weights.check_alphas_normal_equations(answer)
    assert_rejected(verdict, message, TOKENS)


# -- section 3.3: the ridge --------------------------------------------------------------


def _augmented(W, B, ridge):
    D, w = _design(W, B)
    M = D.shape[1]
    return np.linalg.lstsq(
        np.vstack([D, np.sqrt(ridge) * np.eye(M)]), np.concatenate([w, np.zeros(M)]), rcond=None
    )[0]


def _ridge_variant(W, B, ridge, *, add=lambda M, r: r * np.eye(M)):
    D, w = _design(W, B)
    return np.linalg.solve(D.T @ D + add(D.shape[1], ridge), D.T @ w)


@pytest.mark.parametrize(
    "answer", [solution.fit_alphas_ridge, _augmented], ids=["solution", "augmented-lstsq"]
)
def test_correct_ridge_alphas_are_accepted(answer):
    verdict = weights.check_alphas_ridge(answer)
    assert verdict.ok, verdict.message


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            lambda W, B, r: solution.fit_alphas_normal_equations(W, B),
            "your solver says the matrix is singular",
        ),
        (lambda W, B, r: _lstsq(W, B), "your alpha ignores the ridge: it is plain least squares"),
        (lambda W, B, r: _augmented(W, B, r**2), "your alpha is the ridge solution for ridge**2"),
        (
            lambda W, B, r: _ridge_variant(W, B, np.sqrt(r)),
            "your alpha is the ridge solution for sqrt(ridge)",
        ),
        (
            lambda W, B, r: (
                np.linalg.pinv(_design(W, B)[0].T @ _design(W, B)[0] + r)
                @ _design(W, B)[0].T
                @ W.ravel()
            ),
            "you added the ridge to every entry of D^T D",
        ),
        (lambda W, B, r: _ridge_variant(W, B, r) * 1.01, "your alpha does not minimise"),
    ],
    ids=["singular", "no-ridge", "ridge-squared", "sqrt-ridge", "ridge-everywhere", "other"],
)
def test_typical_wrong_ridge_alphas_are_named(answer, message):
    verdict = weights.check_alphas_ridge(answer)
    assert_rejected(verdict, message, TOKENS)


# -- every checker ----------------------------------------------------------------------


CHECKERS = [
    weights.check_weight_bases,
    weights.check_alphas_normal_equations,
    weights.check_alphas_ridge,
]


@pytest.mark.parametrize("check", CHECKERS, ids=lambda c: c.__name__)
def test_the_template_is_not_attempted_yet(check):
    verdict = check(lambda *args: None)
    assert not verdict.ok
    assert verdict.message.startswith("not attempted yet")


def test_the_solution_code_is_among_the_forbidden_tokens():
    """The guard of assert_rejected is live: it sees the solution's key calls."""
    assert {"np.linalg.solve(", "np.where(", "W.std("} <= TOKENS
