"""Worked solutions to the exercises of tutorial 03 (the ABC convolution).

Run ``python tutorials/solutions/03_abc_convolution.py``: it prints each
checker's verdict on these solutions and exits 1 if any is not accepted.
"""

import sys

from abcref import ops
from abcref.binarize import approximate_activations_forward, approximate_weights, combine_bases
from abcref.exercises import abcconv


def abc_conv_sum(B, alphas, A, beta):
    """Eq. 12 term by term: sum over m, n of alpha_m beta_n Conv(B_m, A_n), padding 1."""
    out = 0.0
    for alpha_m, B_m in zip(alphas, B):
        for beta_n, A_n in zip(beta, A):
            out = out + alpha_m * beta_n * ops.conv2d_forward(A_n, B_m, padding=1)[0]
    return out


def abc_conv_one(x, W, v, beta, M):
    """Eq. 12 as one convolution: Conv(sum_m alpha_m B_m, sum_n beta_n A_n), padding 1."""
    W_tilde = combine_bases(*approximate_weights(W, M))
    R_tilde, _ = approximate_activations_forward(x, v, beta)
    return ops.conv2d_forward(R_tilde, W_tilde, padding=1)[0]


def verdicts():
    """Every checker of tutorial 03, run on the solutions above."""
    return [abcconv.check_abc_conv_sum(abc_conv_sum), abcconv.check_abc_conv_one(abc_conv_one)]


if __name__ == "__main__":
    results = verdicts()
    for verdict in results:
        print(verdict)
    sys.exit(0 if all(results) else 1)
