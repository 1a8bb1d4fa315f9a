"""Worked solutions to the exercises of tutorial 06 (inference with bits).

Run ``python tutorials/solutions/06_inference_with_bits.py``: it prints each
checker's verdict on these solutions and exits 1 if any is not accepted.
The test suite runs it too (``tests/exercises/test_solutions.py``).
"""

import sys

import numpy as np

from abcref.exercises import inference


def fold_threshold(a, b, t):
    """aR + b >= t as R >= (t - b)/a (a > 0), R <= (t - b)/a (a < 0), constant (a = 0)."""
    safe = np.where(a == 0, 1.0, a)
    constant = np.where(b >= t, -np.inf, np.inf)  # R >= -inf always holds, R >= +inf never
    threshold = np.where(a == 0, constant, (t - b) / safe)
    direction = np.where(a < 0, -1, 1)
    return threshold, direction


def combine_convolutions(dots, alphas, betas):
    """Eq. 12: sum over m and n of alpha_m beta_n Conv(B_m, A_n)."""
    return np.einsum("mnbohw,m,n->bohw", dots, alphas, betas)


def verdicts():
    """Every checker of tutorial 06, run on the solutions above."""
    return [
        inference.check_fold_threshold(fold_threshold),
        inference.check_combine_convolutions(combine_convolutions),
    ]


if __name__ == "__main__":
    results = verdicts()
    for verdict in results:
        print(verdict)
    sys.exit(0 if all(results) else 1)
