"""Checkers for tutorial 01, weight approximation (paper section 3.1, eqs. 2-3).

=================================  ==============================================
exercise                           the learner writes
=================================  ==============================================
:func:`check_weight_bases`         ``bases(W, M) -> B``, the M bases of eq. (2)
:func:`check_alphas_normal_equations`  ``alphas(W, B) -> alpha`` from eq. (3)'s
                                   normal equations
:func:`check_alphas_ridge`         ``alphas(W, B, ridge) -> alpha`` with an l2
                                   penalty, which survives coinciding bases
=================================  ==============================================

The right answers come from :mod:`abcref.binarize` (the reference tier);
the inputs are seeded, so a verdict never changes between runs.
"""

from __future__ import annotations

import numpy as np

from abcref.binarize import fit_alphas, weight_bases
from abcref.exercises._verdict import AnswerFailed, Verdict, Wrong, answer_array, checker

__all__ = ["Verdict", "check_alphas_normal_equations", "check_alphas_ridge", "check_weight_bases"]

# float64 answers that solve the same well-conditioned system another way
# (solve, inv, pinv, lstsq) agree to ~1e-12; a wrong formula is off by far more.
RTOL, ATOL = 1e-7, 1e-10


def _gaussian_weights(seed: int, shape=(4, 3, 3, 3), offset: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape) * 0.1 + offset


def _integer_weights() -> np.ndarray:
    """Weights with mean exactly 0, so ``W - mean + 0 * std`` is exactly 0 at the zeros."""
    return np.array([-2.0, -1.0, 0.0, 1.0, 2.0, 0.0, -3.0, 3.0, 0.0]).reshape(1, 1, 3, 3)


def _sign(x: np.ndarray, zero: float) -> np.ndarray:
    return np.where(x > 0, 1.0, np.where(x < 0, -1.0, zero))


def _bases_with(W, u, *, ddof=0, zero=-1.0, centre=True, per_channel=False):
    """Eq. (2) bases with a given variant of its details (for naming mistakes)."""
    axes = tuple(range(1, W.ndim)) if per_channel else None
    mean = W.mean(axis=axes, keepdims=True) if centre else 0.0
    std = W.std(axis=axes, ddof=ddof, keepdims=True)
    return np.stack([_sign(W - mean + u_i * std, zero) for u_i in u])


def _paper_shifts(M: int) -> np.ndarray:
    return np.zeros(1) if M == 1 else -1 + 2 * np.arange(M) / (M - 1)


@checker("weight bases (eq. 2)")
def check_weight_bases(call):
    """Check ``bases(W, M) -> B``: the M binary bases of eq. (2).

    The learner's function takes real weights ``W`` (ndarray, float64, any
    shape, e.g. OIHW) and the number of bases ``M >= 1``, and returns ``B``
    of shape ``(M, *W.shape)`` holding only -1 and +1, with
    ``B_i = sign(W - mean(W) + u_i std(W))`` for the paper's shifts
    ``u_i = -1 + 2 (i - 1) / (M - 1)``, the whole tensor's mean and std,
    and abcref's conventions (``docs/conventions.md`` rows 1, 3 and 4).

    Parameters
    ----------
    answer : callable
        The learner's ``bases(W, M)``.

    Returns
    -------
    Verdict
    """
    # A mean far from 0 and channels of unequal spread (so per-channel statistics differ);
    # seed 26 puts weights between the ddof=0 and ddof=1 cuts.
    W = _gaussian_weights(26, offset=0.3) * np.array([0.5, 1.0, 1.5, 2.0])[:, None, None, None]
    for M in (3, 5, 2):
        B = _answer_bases(call, W, M)
        right = weight_bases(W, M)
        if np.array_equal(B, right):
            continue
        u = _paper_shifts(M)
        if np.array_equal(B, right[::-1]):
            raise Wrong(
                f"with M = {M} your bases come in reverse order: B_1 should be the base with the "
                "fewest +1s, shifted by u_1 = -1 std (check the sign in front of u_i std)"
            )
        if np.array_equal(B, _bases_with(W, u, ddof=1)):
            raise Wrong(
                "your std is the sample std (ddof=1, torch.std's default); eq. 2 here uses the "
                "population std, ddof=0, as np.std does by default (docs/conventions.md row 3)"
            )
        if np.array_equal(B, _bases_with(W, u, centre=False)):
            raise Wrong("your bases do not subtract mean(W): eq. 2 centres the weights first")
        if np.array_equal(B, _bases_with(W, u, per_channel=True)):
            raise Wrong(
                "your mean and std are per output channel (section 3.1.2); this exercise is eq. 2 "
                "of section 3.1.1: one mean and one std for the whole tensor"
            )
        raise Wrong(
            f"with M = {M} your bases differ from eq. 2 at {int(np.sum(B != right))} of "
            f"{B.size} entries: check the shifts u_i (evenly spaced from -1 to 1), the whole "
            "tensor's mean and std, and the sign"
        )
    _check_one_base(call, W)
    _check_sign_of_zero(call)
    return True, "eq. 2 bases, with u = 0 at M = 1, population std and sign(0) = -1"


def _answer_bases(call, W, M):
    out = np.asarray(call(W.copy(), M))
    if M == 1 and out.dtype.kind in "fc" and np.isnan(out).any():
        raise Wrong(
            "with M = 1 your bases hold NaN: is a shift NaN? 2 / (M - 1) divides by zero "
            "at M = 1, where the paper's formula has no value (docs/conventions.md row 4)"
        )
    B = answer_array(out, (M, *W.shape), f"bases(W, M={M})")
    other = B[(B != 1) & (B != -1) & (B != 0)]  # a 0 gets its own message (sign of zero)
    if other.size:
        raise Wrong(f"with M = {M} your bases hold {other[0]:.3g}: a base holds only -1 and +1")
    return B


def _check_one_base(call, W):
    B = _answer_bases(call, W, 1)
    if np.array_equal(B, weight_bases(W, 1)):
        return
    if np.array_equal(B, _bases_with(W, [-1.0])):
        raise Wrong(
            "with M = 1 your one shift is u = -1 (what np.linspace(-1, 1, 1) gives): the "
            "formula divides by M - 1, so M = 1 needs its own rule; one base is the plain "
            "centred sign, with no shift (docs/conventions.md row 4)"
        )
    if np.all(B == B.flat[0]):
        raise Wrong(
            f"with M = 1 your base is {B.flat[0]:+.0f} everywhere: is your shift NaN or "
            "infinite? 2 / (M - 1) divides by zero at M = 1, where the paper's formula has no "
            "value (docs/conventions.md row 4)"
        )
    raise Wrong("with M = 1 your base is not the centred sign sign(W - mean(W))")


def _check_sign_of_zero(call):
    W = _integer_weights()
    B = _answer_bases(call, W, 3)  # the middle shift is 0: W - mean + 0 * std hits 0 exactly
    right = weight_bases(W, 3)
    if np.array_equal(B, right):
        return
    zeros = W[0, 0] == 0
    if np.any(B[1, 0, 0][zeros] == 0):
        raise Wrong(
            "your base holds 0 where W - mean + u std is exactly 0 (np.sign(0) = 0): a base must "
            "be binary; the convention is sign(0) = -1 (docs/conventions.md row 1)"
        )
    if np.all(B[1, 0, 0][zeros] == 1):
        raise Wrong(
            "at exactly 0 your base gives +1; the convention is sign(0) = -1: +1 only where "
            "the shifted weight is positive, otherwise -1 (paper section 5.1, conventions row 1)"
        )
    raise Wrong("on weights with exact zeros your bases are not ±1 with sign(0) = -1")


# -- alpha by the normal equations, and with a ridge ------------------------------------


def _design(W, B):
    return B.reshape(B.shape[0], -1).T, W.ravel()


def _answer_alphas(call, W, B, *args):
    out = np.asarray(call(W.copy(), B.copy(), *args))
    M = B.shape[0]
    # an (M, 1) column from a matrix solve is the same answer
    return answer_array(out.reshape(M) if out.size == M else out, (M,), "alpha")


def _diagnose_alphas(alpha, W, B):
    """Raise :class:`Wrong` naming the typical mistake that gives ``alpha``, if one does."""
    D, w = _design(W, B)
    K = w.size
    if np.allclose(alpha, D.T @ w / K, rtol=RTOL, atol=ATOL):
        raise Wrong(
            "you divided D^T w by K: that is the one-base answer (mean |w| for B = sign(w)); "
            "with several bases they overlap, so D^T D is not K times the identity: solve "
            "the whole system"
        )
    if np.allclose(alpha, D.T @ w, rtol=RTOL, atol=ATOL):
        raise Wrong("you returned D^T w: the normal equations still need (D^T D) on the left")


@checker("alpha by the normal equations (eq. 3)")
def check_alphas_normal_equations(call):
    """Check ``alphas(W, B) -> alpha``: the least-squares scales of eq. (3).

    The learner's function takes real weights ``W`` (ndarray, float64, any
    shape) and bases ``B`` of shape ``(M, *W.shape)`` (±1, full column
    rank here), and returns ``alpha`` of shape ``(M,)`` minimising
    ``||vec(W) - D alpha||^2`` with ``D = [vec(B_1), ..., vec(B_M)]``.
    Any correct way is accepted (the normal equations, lstsq, pinv).

    Parameters
    ----------
    answer : callable
        The learner's ``alphas(W, B)``.

    Returns
    -------
    Verdict
    """
    for seed, M in ((1, 3), (2, 1), (3, 5)):
        W = _gaussian_weights(seed)
        B = weight_bases(W, M)
        alpha = _answer_alphas(call, W, B)
        right = fit_alphas(W, B, ridge=0.0)
        if np.allclose(alpha, right, rtol=RTOL, atol=ATOL):
            continue
        _diagnose_alphas(alpha, W, B)
        if np.allclose(alpha, right[::-1], rtol=RTOL, atol=ATOL):
            raise Wrong("your alphas come in reverse order: alpha_m belongs to base B_m")
        raise Wrong(
            f"with M = {M} your alpha is not the least-squares solution: its residual "
            "w - D alpha should be orthogonal to every base (D^T (w - D alpha) = 0)"
        )
    return True, "alpha solves the normal equations (D^T D) alpha = D^T w"


@checker("alpha with a ridge (section 3.3)")
def check_alphas_ridge(call):
    """Check ``alphas(W, B, ridge) -> alpha``: least squares with an l2 penalty.

    The learner's function takes real weights ``W`` (ndarray, float64),
    bases ``B`` of shape ``(M, *W.shape)`` (±1, possibly with repeated
    bases, so ``D^T D`` may be singular) and ``ridge > 0``, and returns
    ``alpha`` of shape ``(M,)`` minimising
    ``||vec(W) - D alpha||^2 + ridge ||alpha||^2``. Any correct way is
    accepted (regularised normal equations, lstsq of the augmented system).

    Parameters
    ----------
    answer : callable
        The learner's ``alphas(W, B, ridge)``.

    Returns
    -------
    Verdict
    """
    tiny = np.array([[[[0.3, -0.1], [0.05, -0.4]]]])  # 4 weights, 5 bases: rank 4 at most
    cases = [
        (tiny, 5, 0.1),  # first: an unregularised solve fails here, with a teaching message
        (_gaussian_weights(4), 3, 0.5),  # full rank, K = 108: 0.5 moves alpha visibly
        (np.full((2, 3, 3, 3), 0.7), 3, 0.01),  # constant W: every base is -1
    ]
    for W, M, ridge in cases:
        B = weight_bases(W, M)
        try:
            alpha = _answer_alphas(call, W, B, ridge)
        except AnswerFailed as failed:
            if "LinAlgError" in str(failed):
                raise Wrong(
                    f"with M = {M} bases of a {W.size}-weight W your solver says the matrix is "
                    "singular: repeated bases make D^T D singular; the penalty ridge ||alpha||^2 "
                    "adds a term to D^T D that makes it invertible"
                ) from None
            raise
        right = fit_alphas(W, B, ridge=ridge)
        if np.allclose(alpha, right, rtol=RTOL, atol=ATOL):
            continue
        D, w = _design(W, B)
        plain = np.linalg.lstsq(D, w, rcond=None)[0]
        if np.allclose(alpha, plain, rtol=RTOL, atol=ATOL):
            raise Wrong("your alpha ignores the ridge: it is plain least squares")
        if np.allclose(alpha, np.linalg.pinv(D.T @ D + ridge) @ D.T @ w, rtol=RTOL, atol=ATOL):
            raise Wrong(
                "you added the ridge to every entry of D^T D: the penalty ridge ||alpha||^2 "
                "adds ridge only on the diagonal (differentiate it to see)"
            )
        for wrong_ridge, name in ((ridge**2, "ridge**2"), (np.sqrt(ridge), "sqrt(ridge)")):
            if np.allclose(alpha, fit_alphas(W, B, ridge=wrong_ridge), rtol=RTOL, atol=ATOL):
                raise Wrong(
                    f"your alpha is the ridge solution for {name}, not ridge: check how the "
                    "penalty enters (its gradient is 2 ridge alpha)"
                )
        _diagnose_alphas(alpha, W, B)
        raise Wrong(
            f"with M = {M} and ridge = {ridge} your alpha does not minimise "
            "||w - D alpha||^2 + ridge ||alpha||^2: set its gradient to zero"
        )
    return True, "alpha minimises ||w - D alpha||^2 + ridge ||alpha||^2, even with repeated bases"
