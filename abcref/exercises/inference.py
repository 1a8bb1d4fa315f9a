"""Checkers for tutorial 6 (inference with bits): batch norm folded into a threshold, eq. 12."""

from __future__ import annotations

import numpy as np

from abcref.bitpack import fold_batchnorm
from abcref.exercises._verdict import Wrong, answer_array, checker

__all__ = ["check_combine_convolutions", "check_fold_threshold"]


def _fold_cases():
    """(a, b, t, R): channels with a > 0, a < 0 and a = 0; R includes every exact boundary.

    The first case uses powers of two and short binary fractions, so the
    boundary (t - b) / a is exact however it is computed and R can sit
    exactly on it (a tie) and one ulp either side. The second is random,
    with R kept away from the boundaries (where rounding could decide).
    """
    a = np.array([2.0, 0.5, -0.25, -4.0, 0.0, 0.0, 1.0, -1.0])
    b = np.array([0.75, -1.5, 0.25, 2.0, 0.5, -0.5, 0.0, 0.125])
    t = 0.25
    q = np.where(a == 0, 0.0, (t - b) / np.where(a == 0, 1.0, a))
    columns = [q, np.nextafter(q, np.inf), np.nextafter(q, -np.inf), q + 1.0, q - 1.0, 0.0 * q]
    rng = np.random.default_rng(60)
    columns += [rng.normal(scale=4.0, size=a.shape) for _ in range(20)]
    yield a, b, t, np.stack(columns)  # R: (samples, C)

    a = rng.normal(size=16)
    a[[3, 7]] = 0.0
    b = rng.normal(size=16)
    t = float(rng.normal(scale=0.5))
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(a == 0, 0.0, (t - b) / a)
    r = q[None] + rng.normal(scale=2.0, size=(60, 16))
    r = np.where(np.abs(r - q) < 1e-6, r + 1e-3, r)
    yield a, b, t, r


def _bits(threshold, direction, r):
    """+1 (True) iff R >= threshold (direction +1) or R <= threshold (direction -1)."""
    return np.where(direction > 0, r >= threshold, r <= threshold)


@checker("batch norm folded into a threshold")
def check_fold_threshold(call):
    """Check ``fold_threshold(a, b, t)``: ``H(aR + b >= t)`` as a comparator on R.

    The learner's function takes the batch norm's per-channel scale
    ``a`` and shift ``b`` (float64 arrays of shape (C,), any sign, zeros
    included) and the binariser's threshold ``t = 0.5 - v`` (float), and
    returns ``(threshold, direction)``, two arrays of shape (C,): the
    binary activation of channel c is +1 iff ``R >= threshold[c]`` where
    ``direction[c]`` is +1, iff ``R <= threshold[c]`` where it is -1
    (thresholds may be -inf or +inf). Correct means: equal to
    ``aR + b >= t`` for every R tested, exact boundaries (ties) included.

    Returns
    -------
    Verdict
    """
    for a, b, t, r in _fold_cases():
        out = call(a.copy(), b.copy(), t)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise Wrong("return two arrays: (threshold, direction)")
        try:
            threshold = np.asarray(out[0], dtype=np.float64)
            direction = np.asarray(out[1], dtype=np.float64)
        except (TypeError, ValueError):
            raise Wrong("threshold and direction should be arrays of numbers") from None
        c = a.shape[0]
        if threshold.shape != (c,) or direction.shape != (c,):
            raise Wrong(
                f"threshold and direction should have shape ({c},), one per channel; "
                f"got {threshold.shape} and {direction.shape}"
            )
        if not np.all(np.isin(direction, (-1.0, 1.0))):
            raise Wrong(
                "direction should be +1 (R >= threshold) or -1 (R <= threshold) on every "
                "channel; a constant output is a comparison against an infinite threshold"
            )
        if np.any(np.isnan(threshold)):
            zero = bool(np.all(a[np.isnan(threshold)] == 0))
            raise Wrong(
                "a NaN threshold makes every comparison false"
                + (": on a channel with a = 0, BN(R) = b whatever R is" if zero else "")
            )
        # The reference: abcref's fold (flip for a < 0, constant for a = 0).
        comparator = fold_batchnorm(a, b, np.array([0.5 - t]))
        reference = comparator.bits(r[:, :, None, None])[0, :, :, 0, 0]
        got = _bits(threshold[None], direction[None], r)
        if np.array_equal(got, reference):
            continue
        wrong = got != reference
        pos, neg, zero = a > 0, a < 0, a == 0
        with np.errstate(divide="ignore", invalid="ignore"):
            tie = (r == ((t - b) / a)[None]) & ~zero[None]  # R exactly on the boundary
        flipped = wrong[:, neg][~tie[:, neg]]
        if flipped.size and flipped.all() and not wrong[:, pos | zero].any():
            return False, (
                "every bit is inverted on the channels with a < 0: dividing both sides of "
                "aR + b >= t by a negative number flips the inequality"
            )
        if wrong[:, zero].any() and not wrong[:, ~zero].any():
            return False, (
                "wrong on the channels with a = 0: there BN(R) = b for every R, so the output "
                "is one constant, decided by b and t alone"
            )
        if wrong[tie].any() and not wrong[~tie].any():
            return False, (
                "right everywhere except for R exactly on the boundary: BN(R) = t counts as "
                "+1 (the comparison is >=), whichever way the inequality points"
            )
        c = int(np.argwhere(wrong.any(axis=0))[0, 0])
        return False, (
            f"wrong on channel {c} (a = {a[c]:g}, b = {b[c]:g}, t = {t:g}): solve aR + b >= t "
            f"for R, minding the sign of a"
        )
    return True, "matches aR + b >= t on every R tested, ties included, for a > 0, a < 0 and a = 0"


def _combine_cases():
    rng = np.random.default_rng(61)
    for m, n in ((3, 3), (2, 3), (1, 2)):
        dots = rng.integers(-27, 28, size=(m, n, 2, 4, 3, 3)).astype(np.int64)
        alphas = rng.uniform(0.2, 1.5, size=m)
        betas = rng.uniform(0.2, 1.5, size=n)
        yield dots, alphas, betas


@checker("eq. 12's combination")
def check_combine_convolutions(call):
    """Check ``combine_convolutions(dots, alphas, betas)``: a layer's output from its integers.

    The learner's function takes ``dots`` (int64, shape
    ``(M, N, batch, O, Ho, Wo)``, the exact ``Conv(B_m, A_n)`` of
    :meth:`abcref.compiler.PackedABCConv2d.integer_convolutions`),
    ``alphas`` (M,) and ``betas`` (N,), and returns the layer output of
    eq. 12 (float, shape ``(batch, O, Ho, Wo)``). Tested with M = N and
    with M != N.

    Returns
    -------
    Verdict
    """
    for dots, alphas, betas in _combine_cases():
        want = np.einsum("mnbohw,m,n->bohw", dots.astype(np.float64), alphas, betas)
        got = answer_array(
            call(dots.copy(), alphas.copy(), betas.copy()), want.shape, "your output"
        )
        if np.allclose(got, want, rtol=1e-10, atol=1e-10):
            continue
        m, n = alphas.size, betas.size
        shape = f"(M = {m}, N = {n})"
        sums = {
            "alpha": np.einsum("mnbohw,m->bohw", dots, alphas),
            "beta": np.einsum("mnbohw,n->bohw", dots, betas),
            "none": dots.sum(axis=(0, 1)),
        }
        if np.allclose(got, sums["alpha"]) or np.allclose(got, sums["none"] * betas.sum()):
            return False, f"your output does not weight Conv(B_m, A_n) by beta_n {shape}"
        if np.allclose(got, sums["beta"]) or np.allclose(got, sums["none"] * alphas.sum()):
            return False, f"your output does not weight Conv(B_m, A_n) by alpha_m {shape}"
        if np.allclose(got, sums["none"]):
            return False, f"your output ignores alpha and beta {shape}: they carry the scale"
        if m == n:
            diagonal = np.einsum("mmbohw,m,m->bohw", dots, alphas, betas)
            if np.allclose(got, diagonal):
                return False, (
                    "you paired alpha_m with beta_m only: eq. 12 sums over all M x N pairs "
                    "(m, n), every weight base with every activation base"
                )
        return False, f"your output differs from eq. 12 {shape}: sum alpha_m beta_n Conv(B_m, A_n)"
    return True, "equals eq. 12 for (M, N) = (3, 3), (2, 3) and (1, 2)"
