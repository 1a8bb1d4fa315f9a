"""Tutorial 03's checkers: every correct form accepted, each typical mistake named."""

import numpy as np
import pytest

from abcref import ops
from abcref.binarize import (
    abc_conv2d_forward,
    approximate_activations_forward,
    approximate_weights,
    binarize_activations,
    combine_bases,
)
from abcref.exercises import abcconv
from abcref.fast.abcconv import abc_conv2d_forward as fast_abc_conv2d_forward

from ._solutions import assert_rejected, load_solution, solution_tokens

solution = load_solution("03_abc_convolution")
TOKENS = solution_tokens(solution)


def _conv(x, w, padding=1):
    return ops.conv2d_forward(x, w, padding=padding)[0]


def _terms(B, A):
    return {(m, n): _conv(A[n], B[m]) for m in range(len(B)) for n in range(len(A))}


def _scaled_sum(B, alphas, A, beta, scale):
    return sum(scale(alphas, beta, m, n) * c for (m, n), c in _terms(B, A).items())


def _einsum_form(B, alphas, A, beta):
    convs = np.stack([np.stack([_conv(A_n, B_m) for A_n in A]) for B_m in B])  # (M, N, ...)
    return np.einsum("m,n,mn...->...", alphas, beta, convs)


# -- eq. 12 as M x N binary convolutions ------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        solution.abc_conv_sum,
        _einsum_form,
        lambda B, alphas, A, beta: _conv(np.tensordot(beta, A, 1), np.tensordot(alphas, B, 1)),
    ],
    ids=["solution", "einsum", "bilinearity"],
)
def test_correct_sums_are_accepted(answer):
    verdict = abcconv.check_abc_conv_sum(answer)
    assert verdict.ok, verdict.message


def _zip_pairs(B, alphas, A, beta):
    return sum(
        a * b * _conv(A_n, B_m) for a, B_m, b, A_n in zip(alphas, B, beta, A, strict=False)
    )  # the mistake: truncates


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            lambda *p: _scaled_sum(*p, lambda a, b, m, n: 1.0),
            "without their scales alpha_m beta_n",
        ),
        (
            lambda *p: _scaled_sum(*p, lambda a, b, m, n: a[m]),
            "you kept alpha_m but dropped beta_n",
        ),
        (
            lambda *p: _scaled_sum(*p, lambda a, b, m, n: b[n]),
            "you kept beta_n but dropped alpha_m",
        ),
        (_zip_pairs, "you paired B_m with A_m only (as zip does)"),
        (lambda *p: _einsum_form(*p) / 9, "you averaged the M x N terms: eq. 12 adds them"),
        (lambda *p: _scaled_sum(*p, lambda a, b, m, n: a[n] * b[m]), "your scales are swapped"),
        (lambda *p: 1.01 * _einsum_form(*p), "with M = 3, N = 3 your output differs from eq. 12"),
        (
            lambda B, alphas, A, beta: sum(
                a * b * ops.conv2d_forward(A_n, B_m)[0]
                for a, B_m in zip(alphas, B, strict=True)
                for b, A_n in zip(beta, A, strict=True)
            ),
            "your output has shape (2, 4, 3, 3), 2 smaller than the image: pad each input",
        ),
    ],
    ids=["no-scales", "alphas-only", "betas-only", "zip", "mean", "swapped", "other", "no-pad"],
)
def test_typical_wrong_sums_are_named(answer, message):
    assert_rejected(abcconv.check_abc_conv_sum(answer), message, TOKENS)


# -- eq. 12 as one float convolution ----------------------------------------------------------


def _approximations(x, W, v, beta, M):
    W_tilde = combine_bases(*approximate_weights(W, M))
    return W_tilde, approximate_activations_forward(x, v, beta)[0]


@pytest.mark.parametrize(
    "answer",
    [
        solution.abc_conv_one,
        lambda x, W, v, beta, M: abc_conv2d_forward(x, W, v, beta, M=M, padding=1)[0],
        lambda x, W, v, beta, M: fast_abc_conv2d_forward(x, W, v, beta, M=M, padding=(1, 1))[0],
    ],
    ids=["solution", "reference-tier", "fast-tier"],
)
def test_correct_one_convs_are_accepted(answer):
    verdict = abcconv.check_abc_conv_one(answer)
    assert verdict.ok, verdict.message


def _pad_first(x, W, v, beta, M):
    W_tilde, _ = _approximations(x, W, v, beta, M)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    return _conv(approximate_activations_forward(padded, v, beta)[0], W_tilde, padding=0)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            lambda x, W, v, b, M: _conv(x, _approximations(x, W, v, b, M)[0]),
            "you convolved the real input x",
        ),
        (
            lambda x, W, v, b, M: _conv(_approximations(x, W, v, b, M)[1], W),
            "you convolved the latent W",
        ),
        (
            lambda x, W, v, b, M: _conv(
                _approximations(x, W, v, b, M)[1], approximate_weights(W, M)[0].sum(0)
            ),
            "your weights are the sum of the bases without their scales alpha_m",
        ),
        (
            lambda x, W, v, b, M: _conv(
                binarize_activations(x, v).sum(0), _approximations(x, W, v, b, M)[0]
            ),
            "your activations are the sum of the A_n without their scales beta_n",
        ),
        (_pad_first, "your output is wrong only at the border: you padded x before binarising"),
        (
            lambda x, W, v, b, M: _conv(*_approximations(x, W, v, b, M)[::-1]) + 1e-3,
            "with M = 3, N = 2 your output differs from abc_conv2d_forward",
        ),
    ],
    ids=["real-x", "latent-W", "no-alphas", "no-betas", "pad-first", "other"],
)
def test_typical_wrong_one_convs_are_named(answer, message):
    assert_rejected(abcconv.check_abc_conv_one(answer), message, TOKENS)


@pytest.mark.parametrize("check", [abcconv.check_abc_conv_sum, abcconv.check_abc_conv_one])
def test_the_template_is_not_attempted_yet(check):
    verdict = check(lambda *args: None)
    assert not verdict.ok
    assert verdict.message.startswith("not attempted yet")


def test_the_solution_code_is_among_the_forbidden_tokens():
    assert {"ops.conv2d_forward(", "approximate_activations_forward("} <= TOKENS
