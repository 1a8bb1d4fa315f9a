"""Checkers for tutorial 02, shifted binary activations (paper section 3.2, eqs. 8-10).

==========================  ==================================================
exercise                    the learner writes
==========================  ==================================================
:func:`check_H_v`           ``H_v(R, v) -> A``, eq. (9) as a comparator
:func:`check_staircase`     ``staircase(R, v, beta) -> R_tilde``, the sum
                            ``sum_n beta_n H_{v_n}(R)`` of eq. (11)
:func:`check_ste_mask`      ``ste_mask(R, v) -> mask``, where eq. (10)'s
                            straight-through gradient passes
==========================  ==================================================

The right answers come from :mod:`abcref.binarize` (the reference tier);
the inputs are seeded, so a verdict never changes between runs.
"""

from __future__ import annotations

import numpy as np

from abcref.binarize import H_v, activation_ste_mask, approximate_activations_forward, h_v
from abcref.exercises._verdict import Verdict, Wrong, answer_array, checker

__all__ = ["Verdict", "check_H_v", "check_staircase", "check_ste_mask"]


def _cases():
    """(R, v) pairs: a grid through the threshold and the window's ends, exactly; Gaussian R."""
    grid = np.arange(-24, 25) / 8  # multiples of 1/8: R + v, 0.5 - v, -v, 1 - v are exact
    normal = np.random.default_rng(2).standard_normal(200)
    return [(grid, 0.25), (grid, 0.5), (grid, -0.75), (normal, -0.3), (normal, 1.0)]


def _binary_answer(call, R, v, what):
    out = answer_array(call(R.copy(), v), R.shape, what)
    if not np.all((out == 1) | (out == -1) | (out == 0)):
        raise Wrong(f"{what} should hold -1 and +1 only")
    return out


@checker("H_v as a comparator (eq. 9)")
def check_H_v(call):  # noqa: N802 (the paper's name)
    """Check ``H_v(R, v) -> A``: the binarization of eq. (9), ``+1`` or ``-1``.

    The learner's function takes real activations ``R`` (ndarray,
    float64, any shape) and a shift ``v`` (float), and returns ``A`` of
    the shape of ``R``: +1 where ``h_v(R) = clip(R + v, 0, 1) >= 0.5``,
    else -1, evaluated as the comparator of section 5.3, ``R`` against
    the threshold ``0.5 - v`` (ties to +1; ``docs/conventions.md`` row 2).

    Parameters
    ----------
    answer : callable
        The learner's ``H_v(R, v)``.

    Returns
    -------
    Verdict
    """
    for R, v in _cases():
        A = answer_array(call(R.copy(), v), R.shape, "H_v(R, v)")
        right = H_v(R, v)
        if np.array_equal(A, right):
            continue
        t = 0.5 - v
        if np.all((A == 0) | (A == 1)):
            raise Wrong("your output holds 0 and 1: H_v is -1 or +1 (eq. 9: 2 * 1[...] - 1)")
        if np.array_equal(A, -right):
            raise Wrong("your H_v is -1 above the threshold and +1 below: the other way round")
        tie = R == t
        if np.array_equal(A[~tie], right[~tie]):
            said = A[tie][A[tie] != right[tie]][0]
            raise Wrong(
                f"at R exactly on the threshold 0.5 - v your output is {said:+g}: eq. 9 "
                "has >= (h_v(R) >= 0.5), so a tie gives +1 (docs/conventions.md row 2)"
            )
        if np.array_equal(A, np.where(R >= 0.5 + v, 1.0, -1.0)):
            raise Wrong(
                f"your threshold is 0.5 + v (with v = {v}): h_v adds v to R, so solve "
                "R + v >= 0.5 for R"
            )
        if np.array_equal(A, np.where(R >= 0, 1.0, -1.0)):
            raise Wrong("your threshold is 0 whatever v is: the shift v moves it")
        raise Wrong(
            f"with v = {v} your H_v differs from eq. 9 at {int(np.sum(A != right))} of "
            f"{R.size} points: it should be +1 exactly where R is at least the threshold"
        )
    # Eq. 9 read literally rounds R + v first; 0.7 + (-0.2) is just below 0.5 in float64.
    R, v = np.array([0.7]), -0.2
    if _binary_answer(call, R, v, "H_v(R, v)")[0] != H_v(R, v)[0]:
        raise Wrong(
            "right except at R = 0.7, v = -0.2, where the rounded R + v falls just below 0.5: "
            "compare R itself with the threshold 0.5 - v, as the comparator of section 5.3 "
            "does (docs/conventions.md row 2)"
        )
    return True, "a comparator at 0.5 - v, ties to +1, on every float"


@checker("the staircase sum_n beta_n H_{v_n}(R) (eq. 11)")
def check_staircase(call):
    """Check ``staircase(R, v, beta) -> R_tilde``: N shifted binary activations, scaled and summed.

    The learner's function takes real activations ``R`` (ndarray,
    float64, any shape), shifts ``v`` and scales ``beta`` (ndarrays of
    shape ``(N,)``), and returns ``R_tilde = sum_n beta_n H_{v_n}(R)`` of
    the shape of ``R``, with ``H_v`` the ±1 comparator of eq. (9).

    Parameters
    ----------
    answer : callable
        The learner's ``staircase(R, v, beta)``.

    Returns
    -------
    Verdict
    """
    R = np.random.default_rng(3).standard_normal((4, 50))
    cases = [
        (np.array([0.9, 0.5, 0.1]), np.array([0.2, 0.5, 0.3])),  # thresholds -0.4, 0, 0.4
        (np.array([0.5]), np.array([0.6])),
        (np.array([1.2, 0.8, 0.4, -0.1]), np.array([0.1, 0.2, 0.3, 0.4])),
    ]
    for v, beta in cases:
        out = answer_array(call(R.copy(), v.copy(), beta.copy()), R.shape, "R_tilde")
        right, _ = approximate_activations_forward(R, v, beta)
        if np.allclose(out, right, rtol=1e-12, atol=1e-12):
            continue
        codes = np.stack([R >= 0.5 - v_n for v_n in v])  # 1[R >= t_n], for naming mistakes
        mistakes = [
            (
                sum(b * h_v(R, v_n) for v_n, b in zip(v, beta, strict=True)),
                "you summed beta_n h_{v_n}(R), the clipped surrogate of eq. 8: the forward uses "
                "the binary H_{v_n}(R), -1 or +1",
            ),
            (
                np.tensordot(beta, codes.astype(float), axes=1),
                "your A_n are 0 or 1: eq. 9 makes them -1 or +1 (2 * 1[...] - 1)",
            ),
            (
                np.tensordot(np.ones_like(beta), 2.0 * codes - 1, axes=1),
                "you summed the A_n without their scales beta_n",
            ),
            (
                np.tensordot(beta[::-1], 2.0 * codes - 1, axes=1),
                "your scales are reversed: beta_n belongs to the activation with shift v_n",
            ),
            (
                np.tensordot(beta, 2.0 * codes - 1, axes=1) / len(v),
                "you averaged the N terms: eq. 11's approximation adds them",
            ),
        ]
        for wrong, hint in mistakes:
            if np.allclose(out, wrong, rtol=1e-12, atol=1e-12):
                raise Wrong(hint)
        raise Wrong(
            f"with N = {len(v)} your R_tilde differs (largest difference "
            f"{np.max(np.abs(out - right)):.3g}): it takes N + 1 levels, one between each pair "
            "of neighbouring thresholds 0.5 - v_n"
        )
    return True, "an (N + 1)-level staircase: sum_n beta_n H_{v_n}(R)"


@checker("straight-through mask (eq. 10)")
def check_ste_mask(call):
    """Check ``ste_mask(R, v) -> mask``: where the STE of eq. (10) lets the gradient pass.

    The learner's function takes real activations ``R`` (ndarray,
    float64, any shape) and a shift ``v`` (float), and returns a mask of
    the shape of ``R`` (bool, or 0 and 1): 1 where the surrogate
    ``h_v(R) = clip(R + v, 0, 1)`` is not saturated, bounds included;
    the paper's printed eq. (10) has a sign error (``docs/conventions.md``
    row 8).

    Parameters
    ----------
    answer : callable
        The learner's ``ste_mask(R, v)``.

    Returns
    -------
    Verdict
    """
    for R, v in _cases():
        out = answer_array(call(R.copy(), v), R.shape, "ste_mask(R, v)")
        if not np.all((out == 0) | (out == 1)):
            raise Wrong("a mask holds 0 and 1 (or False and True): 1 where the gradient passes")
        mask = out == 1
        right = activation_ste_mask(R, np.array([v]))[0]
        if np.array_equal(mask, right):
            continue
        if np.array_equal(mask, (R - v >= 0) & (R - v <= 1)):
            raise Wrong(
                f"your mask is the paper's printed eq. 10, 1[0 <= R - v <= 1]: for v = {v} its "
                f"window [{v}, {1 + v}] is not centred on the threshold 0.5 - v = {0.5 - v}. "
                "Derive the window from eq. 8: where is h_v(R) = clip(R + v, 0, 1) not "
                "saturated? (docs/conventions.md row 8)"
            )
        if np.array_equal(mask, (R + v > 0) & (R + v < 1)):
            raise Wrong(
                "at the two ends of the window (h_v(R) exactly 0 or 1) your mask is 0: the "
                "bounds are included, as in the gradient of PyTorch's clamp "
                "(docs/conventions.md row 8)"
            )
        if np.array_equal(mask, np.abs(R) <= 1):
            raise Wrong(
                "your mask is the hard tanh's, |R| <= 1, whatever v is: the surrogate of H_v "
                "is h_v(R) = clip(R + v, 0, 1), shifted by v"
            )
        raise Wrong(
            f"with v = {v} your mask differs at {int(np.sum(mask != right))} of {R.size} "
            "points: the gradient passes exactly where h_v(R) = clip(R + v, 0, 1) is not "
            "saturated"
        )
    return True, "the window where h_v is not saturated, bounds included (eq. 10 corrected)"
