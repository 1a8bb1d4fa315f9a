"""Checkers for tutorial 5 (training): the gradients that train v and beta, and one Adam step."""

from __future__ import annotations

import numpy as np

from abcref.binarize import approximate_activations_forward
from abcref.binarize.activations import approximate_activations_backward
from abcref.exercises._verdict import Wrong, answer_array, checker

__all__ = ["check_activation_param_grads", "check_adam_step"]


def _grad_cases():
    rng = np.random.default_rng(50)
    for shape, v, beta in (
        ((4, 3, 5, 5), [0.5, 0.0, -0.5], [0.3, 0.5, 0.4]),
        ((2, 6, 4, 4), [0.9, 0.2], [0.8, -0.3]),
        ((3, 2, 3, 3), [0.5], [1.2]),
    ):
        R = rng.normal(size=shape)
        yield R, np.array(v), np.array(beta), rng.normal(size=shape)


def _grads(R, v, beta, g, *, mask_sign=1.0):
    """(dv, dbeta) of R_tilde = sum_n beta_n H_{v_n}(R); mask_sign=-1: the printed eq. 10."""
    A = np.stack([np.where(R >= 0.5 - v_n, 1.0, -1.0) for v_n in v])
    mask = np.stack([(0 <= R + mask_sign * v_n) & (R + mask_sign * v_n <= 1) for v_n in v])
    passed = np.array([np.sum(g * m) for m in mask])
    return beta * passed, np.array([np.sum(g * a) for a in A]), passed


@checker("gradients of v and beta")
def check_activation_param_grads(call):
    """Check ``activation_param_grads(R, v, beta, grad)``: the gradients that train v and beta.

    The learner's function takes the input ``R`` of the activation
    approximation ``R_tilde = sum_n beta_n H_{v_n}(R)`` (float64, any
    shape), the shifts ``v`` and scales ``beta`` (shape (N,)) and the
    upstream gradient ``grad`` = dc/dR_tilde (shape of R), and returns
    ``(dv, dbeta)``, each of shape (N,): dc/dv_n with the
    straight-through estimator of eq. 10 (erratum fixed, conventions row
    8) and dc/dbeta_n, as :mod:`abcref.binarize` trains them.

    Returns
    -------
    Verdict
    """
    for R, v, beta, g in _grad_cases():
        out = call(R.copy(), v.copy(), beta.copy(), g.copy())
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise Wrong("return two arrays: (dv, dbeta)")
        n = v.size
        dv = answer_array(out[0], (n,), "dv")
        dbeta = answer_array(out[1], (n,), "dbeta")
        _, cache = approximate_activations_forward(R, v, beta)
        _, want_dv, want_dbeta = approximate_activations_backward(g, cache)
        dbeta_ok = np.allclose(dbeta, want_dbeta, rtol=1e-5, atol=1e-9)
        dv_ok = np.allclose(dv, want_dv, rtol=1e-5, atol=1e-9)
        if dv_ok and dbeta_ok:
            continue
        printed_dv, _, printed_passed = _grads(R, v, beta, g, mask_sign=-1.0)
        _, _, passed = _grads(R, v, beta, g)
        if not dv_ok:
            if np.allclose(dv, printed_dv) or np.allclose(dv, printed_passed):
                return False, (
                    "your mask is the paper's printed eq. 10 (R - v): h_v(x) = clip(x + v, 0, 1) "
                    "is unsaturated where R + v, not R - v, lies in [0, 1] (tutorial 2)"
                )
            if np.allclose(dv, passed):
                return False, (
                    "dv is missing a factor: the gradient reaching A_n is dc/dR_tilde times "
                    "the scale that multiplies A_n in R_tilde"
                )
            if np.allclose(dv, -want_dv):
                return False, "dv has the wrong sign: h_v depends on R + v, so v enters as R does"
            return False, (
                "dv is wrong: pass dc/dA_n through where h_{v_n} is not saturated, "
                "then sum over every element"
            )
        if np.allclose(dbeta, beta * want_dbeta):
            return False, "dbeta should not contain beta: R_tilde is linear in beta"
        if np.allclose(dbeta, passed):
            return False, (
                "dbeta needs no straight-through mask: R_tilde is linear in beta_n, so its "
                "exact derivative is A_n itself"
            )
        return False, "dbeta is wrong: which array multiplies beta_n in R_tilde?"
    return True, "dv and dbeta match abcref's backward for N = 3, 2 and 1"


_ADAM_HYPER = ((1e-3, 0.9, 0.999, 1e-8), (0.05, 0.8, 0.99, 1e-6))


def _adam_reference(g, m, s, t, lr, b1, b2, eps, *, correct1=True, correct2=True, root=True):
    m = b1 * m + (1 - b1) * g
    s = b2 * s + (1 - b2) * g * g
    m_hat = m / (1 - b1**t) if correct1 else m
    s_hat = s / (1 - b2**t) if correct2 else s
    return lr * m_hat / ((np.sqrt(s_hat) if root else s_hat) + eps), m, s


@checker("one Adam step")
def check_adam_step(call):
    """Check ``adam_step(grad, m, s, t, lr, b1, b2, eps)``: Adam's update (Kingma & Ba, 2015).

    The learner's function takes the gradient ``grad`` (float64 array),
    the running first and second moments ``m`` and ``s`` (same shape,
    zeros before step 1), the 1-based step number ``t`` and the
    hyper-parameters, and returns ``(step, m, s)``: the new moments and
    the step that Adam subtracts from the parameter (with bias
    correction, as :class:`abcref.train.Adam`). Tested over six
    consecutive steps for two settings of the hyper-parameters.

    Returns
    -------
    Verdict
    """
    rng = np.random.default_rng(51)
    for lr, b1, b2, eps in _ADAM_HYPER:
        grads = rng.normal(scale=0.1, size=(6, 5))
        m = s = np.zeros(5)
        for t, g in enumerate(grads, start=1):
            out = call(g.copy(), m.copy(), s.copy(), t, lr, b1, b2, eps)
            if not isinstance(out, (tuple, list)) or len(out) != 3:
                raise Wrong("return three arrays: (step, m, s)")
            step, m_new, s_new = (
                answer_array(x, (5,), w) for x, w in zip(out, ("step", "m", "s"), strict=True)
            )
            want_step, want_m, want_s = _adam_reference(g, m, s, t, lr, b1, b2, eps)
            if not np.allclose(m_new, want_m, rtol=1e-6, atol=0):
                return False, f"m is wrong at step {t}: a moving average of grad"
            if not np.allclose(s_new, want_s, rtol=1e-6, atol=0):
                if np.allclose(s_new, b2 * s + (1 - b2) * np.abs(g)):
                    return False, "s averages |grad|; Adam's second moment averages the square"
                return False, f"s is wrong at step {t}: the moving average of the squared gradient"
            if not np.allclose(step, want_step, rtol=1e-4, atol=0):  # eps placement varies
                variants = {
                    (False, False, True): "without bias correction",
                    (False, True, True): "without bias correction of m",
                    (True, False, True): "without bias correction of s",
                    (True, True, False): "without the square root",
                }
                for (c1, c2, root), what in variants.items():
                    other, _, _ = _adam_reference(
                        g, m, s, t, lr, b1, b2, eps, correct1=c1, correct2=c2, root=root
                    )
                    if np.allclose(step, other, rtol=1e-4, atol=0):
                        return False, _ADAM_HINTS[what].format(t=t)
                return False, f"the step is wrong at step {t} (m and s are right)"
            m, s = want_m, want_s
    return True, "six steps exact for two settings of lr, betas and eps"


_ADAM_HINTS = {
    "without bias correction": (
        "your step has no bias correction: m and s start at 0, so in the first steps they "
        "are too small by the factors 1 - b1**t and 1 - b2**t"
    ),
    "without bias correction of m": (
        "your step corrects s but not m: m starts at 0 too, too small by 1 - b1**t"
    ),
    "without bias correction of s": (
        "your step corrects m but not s: s starts at 0 too, too small by 1 - b2**t"
    ),
    "without the square root": (
        "your step divides by the second moment itself: divide by its square root, "
        "so that the step has the units of the parameter"
    ),
}
