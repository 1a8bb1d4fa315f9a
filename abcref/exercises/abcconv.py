"""Checkers for tutorial 03, the ABC convolution (paper section 3.3, eq. 12).

==============================  ==============================================
exercise                        the learner writes
==============================  ==============================================
:func:`check_abc_conv_sum`      ``abc_conv_sum(B, alphas, A, beta) -> out``,
                                eq. (12) as M x N binary convolutions
:func:`check_abc_conv_one`      ``abc_conv_one(x, W, v, beta, M) -> out``, the
                                same output from one float convolution
==============================  ==============================================

Both use stride 1 and zero padding 1 (a 3x3 kernel keeps the image size).
The right answers come from :mod:`abcref.binarize` and :mod:`abcref.ops`
(the reference tier); the inputs are seeded, so a verdict never changes
between runs.
"""

from __future__ import annotations

import numpy as np

from abcref.binarize import (
    abc_conv2d_forward,
    approximate_activations_forward,
    approximate_weights,
    binarize_activations,
    combine_bases,
    default_activation_params,
)
from abcref.exercises._verdict import Verdict, Wrong, answer_array, checker
from abcref.ops import conv2d_forward

__all__ = ["Verdict", "check_abc_conv_one", "check_abc_conv_sum"]

# Sums of a few hundred float64 products in another order agree to ~1e-15
# relative; every mistake named below is off by more than 1e-3.
RTOL, ATOL = 1e-9, 1e-12


def _problem(seed: int, M: int, N: int):
    """Seeded x (2, 3, 5, 5), W (4, 3, 3, 3), v and beta (N,), and the layer's B, alphas, A."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 5, 5))
    W = rng.standard_normal((4, 3, 3, 3)) * 0.2
    v, beta = default_activation_params(N, np.float64)
    beta = beta * rng.uniform(0.5, 1.5, N)  # distinct scales, so a swapped index shows
    B, alphas = approximate_weights(W, M)
    return x, W, v, beta, B, alphas, binarize_activations(x, v)


def _conv(x, w):
    return conv2d_forward(x, w, padding=1)[0]


def _close(a, b) -> bool:
    return np.allclose(a, b, rtol=RTOL, atol=ATOL)


def _output(call, shape, what, *args):
    out = np.asarray(call(*args))
    if out.ndim == 4 and out.shape[:2] == shape[:2] and out.shape[2] == shape[2] - 2:
        raise Wrong(
            f"{what} has shape {out.shape}, 2 smaller than the image: pad each input with "
            "one row and column of zeros (padding=1), so a 3x3 conv keeps the size"
        )
    return answer_array(out, shape, what)


@checker("eq. 12 as M x N binary convolutions")
def check_abc_conv_sum(call):
    """Check ``abc_conv_sum(B, alphas, A, beta) -> out``: eq. (12) term by term.

    The learner's function takes the weight bases ``B`` (shape
    ``(M, C_out, C_in, 3, 3)``, ±1), their scales ``alphas`` (shape
    ``(M,)``), the binary activations ``A`` (shape ``(N, batch, C_in, H, W)``,
    ±1) and their scales ``beta`` (shape ``(N,)``), and returns
    ``sum_m sum_n alpha_m beta_n Conv(B_m, A_n)`` of shape
    ``(batch, C_out, H, W)`` (stride 1, zero padding 1).

    Parameters
    ----------
    answer : callable
        The learner's ``abc_conv_sum(B, alphas, A, beta)``.

    Returns
    -------
    Verdict
    """
    for seed, M, N in ((0, 3, 3), (1, 2, 4), (2, 1, 1)):
        x, _, _, beta, B, alphas, A = _problem(seed, M, N)
        right = _conv(np.tensordot(beta, A, axes=1), combine_bases(B, alphas))  # bilinearity
        out = _output(call, right.shape, "your output", B.copy(), alphas.copy(), A.copy(), beta)
        if _close(out, right):
            continue
        conv = {(m, n): _conv(A[n], B[m]) for m in range(M) for n in range(N)}
        weighted = {
            "no scales": sum(conv.values()),
            "alphas only": sum(alphas[m] * c for (m, n), c in conv.items()),
            "betas only": sum(beta[n] * c for (m, n), c in conv.items()),
            "pairs": sum(alphas[k] * beta[k] * conv[k, k] for k in range(min(M, N))),
            "mean": right / (M * N),
        }
        if M == N:
            weighted["swapped"] = sum(alphas[n] * beta[m] * c for (m, n), c in conv.items())
        hints = {
            "no scales": "you summed the M x N convolutions without their scales alpha_m beta_n",
            "alphas only": "each term needs both scales: you kept alpha_m but dropped beta_n",
            "betas only": "each term needs both scales: you kept beta_n but dropped alpha_m",
            "pairs": (
                "you paired B_m with A_m only (as zip does): eq. 12 sums over every pair (m, n), "
                "M x N convolutions"
            ),
            "mean": "you averaged the M x N terms: eq. 12 adds them",
            "swapped": (
                "your scales are swapped: alpha_m belongs to the weight base B_m, beta_n to the "
                "activation A_n"
            ),
        }
        for name, wrong in weighted.items():
            if _close(out, wrong):
                raise Wrong(hints[name])
        raise Wrong(
            f"with M = {M}, N = {N} your output differs from eq. 12 (largest difference "
            f"{np.max(np.abs(out - right)):.3g}): each of the M x N terms is alpha_m beta_n "
            "times the convolution of A_n with B_m"
        )
    return True, "the M x N binary convolutions of eq. 12, each scaled by alpha_m beta_n"


@checker("eq. 12 as one float convolution")
def check_abc_conv_one(call):
    """Check ``abc_conv_one(x, W, v, beta, M) -> out``: eq. (12) by bilinearity.

    The learner's function takes the real input ``x`` (shape
    ``(batch, C_in, H, W)``), latent weights ``W`` (shape
    ``(C_out, C_in, 3, 3)``), activation shifts ``v`` and scales ``beta``
    (shape ``(N,)``) and the number of weight bases ``M``, and returns the
    ABC convolution's output, shape ``(batch, C_out, H, W)`` (stride 1,
    zero padding 1, abcref's defaults otherwise): the same numbers as
    ``abcref.binarize.abc_conv2d_forward``, from a single convolution.

    Parameters
    ----------
    answer : callable
        The learner's ``abc_conv_one(x, W, v, beta, M)``.

    Returns
    -------
    Verdict
    """
    for seed, M, N in ((3, 3, 2), (4, 1, 3), (5, 4, 1)):
        x, W, v, beta, B, alphas, _ = _problem(seed, M, N)
        right, _ = abc_conv2d_forward(x, W, v, beta, M=M, padding=1)
        out = _output(call, right.shape, "your output", x.copy(), W.copy(), v.copy(), beta, M)
        if _close(out, right):
            continue
        W_tilde = combine_bases(B, alphas)
        R_tilde, _ = approximate_activations_forward(x, v, beta)
        padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        R_padded, _ = approximate_activations_forward(padded, v, beta)
        mistakes = [
            (_conv(x, W_tilde), "you convolved the real input x: binarise it first (eq. 11)"),
            (_conv(R_tilde, W), "you convolved the latent W: the layer uses sum_m alpha_m B_m"),
            (
                _conv(R_tilde, B.sum(axis=0)),
                "your weights are the sum of the bases without their scales alpha_m",
            ),
            (
                _conv(binarize_activations(x, v).sum(axis=0), W_tilde),
                "your activations are the sum of the A_n without their scales beta_n",
            ),
            (
                conv2d_forward(R_padded, W_tilde)[0],
                "your output is wrong only at the border: you padded x before binarising, so "
                "the border holds H_v(0) = ±1 instead of 0; pad the binarised sum instead "
                "(zero padding, docs/conventions.md row 10)",
            ),
        ]
        for wrong, hint in mistakes:
            if _close(out, wrong):
                raise Wrong(hint)
        raise Wrong(
            f"with M = {M}, N = {N} your output differs from abc_conv2d_forward (largest "
            f"difference {np.max(np.abs(out - right)):.3g}): by bilinearity eq. 12 is one "
            "convolution of the two approximations"
        )
    return True, "one convolution of the approximated weights and activations equals eq. 12"
