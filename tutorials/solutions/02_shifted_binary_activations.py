"""Worked solutions to the exercises of tutorial 02 (shifted binary activations).

Run ``python tutorials/solutions/02_shifted_binary_activations.py``: it prints
each checker's verdict on these solutions and exits 1 if any is not accepted.
"""

import sys

import numpy as np

from abcref.exercises import activations


def H_v_comparator(R, v):  # noqa: N802 (the paper's name)
    """Eq. 9 as a comparator: +1 where R >= 0.5 - v (ties to +1), else -1."""
    return np.where(R >= 0.5 - v, 1.0, -1.0)


def staircase(R, v, beta):
    """R_tilde = sum_n beta_n H_{v_n}(R), with the comparator above."""
    return sum(beta_n * H_v_comparator(R, v_n) for v_n, beta_n in zip(v, beta))


def ste_mask(R, v):
    """Where h_v(R) = clip(R + v, 0, 1) is not saturated: -v <= R <= 1 - v."""
    return (R >= -v) & (R <= 1 - v)


def verdicts():
    """Every checker of tutorial 02, run on the solutions above."""
    return [
        activations.check_H_v(H_v_comparator),
        activations.check_staircase(staircase),
        activations.check_ste_mask(ste_mask),
    ]


if __name__ == "__main__":
    results = verdicts()
    for verdict in results:
        print(verdict)
    sys.exit(0 if all(results) else 1)
