"""Checkers of tutorial 5: any right answer accepted, typical wrong ones rejected with a hint."""

import inspect
import runpy
from pathlib import Path

import numpy as np
import pytest

from abcref.binarize import approximate_activations_backward, approximate_activations_forward
from abcref.exercises import training

SOLUTIONS = runpy.run_path(
    str(Path(__file__).parents[2] / "tutorials" / "solutions" / "05_training.py")
)


# -- activation_param_grads -------------------------------------------------------------


def by_library(R, v, beta, grad):
    _, cache = approximate_activations_forward(R, v, beta)
    _, dv, dbeta = approximate_activations_backward(grad, cache)
    return dv, dbeta


def with_mask(sign, *, scale_dv=True, dbeta_kind="A", dv_sign=1.0):
    def answer(R, v, beta, grad):
        masks = [(R + sign * v_n >= 0) & (R + sign * v_n <= 1) for v_n in v]
        dv = np.array([np.sum(grad * m) for m in masks]) * (beta if scale_dv else 1.0)
        A = [np.where(R >= 0.5 - v_n, 1.0, -1.0) for v_n in v]
        if dbeta_kind == "A":
            dbeta = np.array([np.sum(grad * a) for a in A])
        elif dbeta_kind == "beta*A":
            dbeta = beta * np.array([np.sum(grad * a) for a in A])
        else:  # the STE mask
            dbeta = np.array([np.sum(grad * m) for m in masks])
        return dv_sign * dv, dbeta

    return answer


def in_float32(R, v, beta, grad):
    dv, dbeta = by_library(R, v, beta, grad)
    return dv.astype(np.float32).tolist(), list(dbeta)


GRAD_RIGHT = [SOLUTIONS["activation_param_grads"], by_library, with_mask(+1), in_float32]


@pytest.mark.parametrize(
    "answer", GRAD_RIGHT, ids=["solution", "library", "masks", "float32-lists"]
)
def test_param_grads_accept_any_correct_answer(answer):
    assert training.check_activation_param_grads(answer)


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (with_mask(-1), "paper's printed eq. 10"),
        (with_mask(-1, scale_dv=False), "paper's printed eq. 10"),
        (with_mask(+1, scale_dv=False), "dv is missing a factor"),
        (with_mask(+1, dv_sign=-1.0), "dv has the wrong sign"),
        (with_mask(+1, dbeta_kind="beta*A"), "dbeta should not contain beta"),
        (with_mask(+1, dbeta_kind="mask"), "dbeta needs no straight-through mask"),
        (lambda R, v, beta, grad: (by_library(R, v, beta, grad)[0], v), "dbeta is wrong"),
        (lambda R, v, beta, grad: (2 * v, by_library(R, v, beta, grad)[1]), "dv is wrong"),
        (lambda R, v, beta, grad: by_library(R, v, beta, grad)[0], "return two arrays"),
    ],
    ids=[
        "printed-eq10",
        "printed-eq10-no-beta",
        "no-beta",
        "sign",
        "beta-in-dbeta",
        "mask-in-dbeta",
        "dbeta-other",
        "dv-other",
        "one-array",
    ],
)
def test_param_grads_reject_typical_mistakes(answer, hint):
    verdict = training.check_activation_param_grads(answer)
    assert not verdict
    assert hint in verdict.message


# -- adam_step ------------------------------------------------------------------------------


def adam(*, correct1=True, correct2=True, root=True, abs_second=False, eps_inside=False):
    def answer(grad, m, s, t, lr, b1, b2, eps):
        m = b1 * m + (1 - b1) * grad
        s = b2 * s + (1 - b2) * (np.abs(grad) if abs_second else grad * grad)
        m_hat = m / (1 - b1**t) if correct1 else m
        s_hat = s / (1 - b2**t) if correct2 else s
        if eps_inside:
            return lr * m_hat / np.sqrt(s_hat + eps**2), m, s
        return lr * m_hat / ((np.sqrt(s_hat) if root else s_hat) + eps), m, s

    return answer


def adam_folded_rate(grad, m, s, t, lr, b1, b2, eps):
    """PyTorch's arithmetic order: the bias corrections folded into the rate."""
    m = b1 * m + (1 - b1) * grad
    s = b2 * s + (1 - b2) * grad**2
    return (lr / (1 - b1**t)) * m / (np.sqrt(s) / np.sqrt(1 - b2**t) + eps), m, s


@pytest.mark.parametrize(
    "answer",
    [SOLUTIONS["adam_step"], adam_folded_rate, adam(eps_inside=True)],
    ids=["solution", "torch-order", "eps-inside-root"],
)
def test_adam_step_accepts_any_correct_answer(answer):
    assert training.check_adam_step(answer)


def wrong_m(grad, m, s, t, lr, b1, b2, eps):
    step, _, s = adam()(grad, m, s, t, lr, b1, b2, eps)
    return step, grad, s


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (adam(correct1=False, correct2=False), "no bias correction"),
        (adam(correct1=False), "corrects s but not m"),
        (adam(correct2=False), "corrects m but not s"),
        (adam(root=False), "divide by its square root"),
        (adam(abs_second=True), "s averages |grad|"),
        (wrong_m, "m is wrong at step 1"),
        (lambda g, m, s, t, lr, b1, b2, eps: (lr * g, m, s), "m is wrong at step 1"),
        (lambda *args: adam()(*args)[:2], "return three arrays"),
    ],
    ids=[
        "no-correction",
        "no-m-correction",
        "no-s-correction",
        "no-root",
        "abs",
        "m",
        "sgd",
        "two-arrays",
    ],
)
def test_adam_step_rejects_typical_mistakes(answer, hint):
    verdict = training.check_adam_step(answer)
    assert not verdict
    assert hint in verdict.message


# -- both ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "check", [training.check_activation_param_grads, training.check_adam_step]
)
def test_the_template_is_not_attempted_yet(check):
    verdict = check(lambda *args: None)
    assert not verdict
    assert verdict.message.startswith("not attempted yet")


def test_no_message_shows_the_solution():
    verdicts = [
        training.check_activation_param_grads(with_mask(-1)),
        training.check_activation_param_grads(with_mask(+1, scale_dv=False)),
        training.check_activation_param_grads(with_mask(+1, dbeta_kind="mask")),
        training.check_adam_step(adam(correct1=False, correct2=False)),
        training.check_adam_step(adam(root=False)),
        training.check_activation_param_grads(by_library),
        training.check_adam_step(adam()),
    ]
    code = [
        line.strip()
        for name in ("activation_param_grads", "adam_step")
        for line in inspect.getsource(SOLUTIONS[name]).splitlines()[2:]
        if len(line.strip()) > 12  # a statement, not a lone bracket
    ]
    for verdict in verdicts:
        for line in code:
            assert line not in verdict.message
        assert "sqrt(" not in verdict.message
