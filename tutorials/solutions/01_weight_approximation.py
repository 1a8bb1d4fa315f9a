"""Worked solutions to the exercises of tutorial 01 (weight approximation).

Run ``python tutorials/solutions/01_weight_approximation.py``: it prints each
checker's verdict on these solutions and exits 1 if any is not accepted.
The test suite runs it too (``tests/exercises/test_solutions.py``).
"""

import sys

import numpy as np

from abcref.exercises import weights


def shifted_sign_bases(W, M):
    """The M bases of eq. 2, B_i = sign(W - mean(W) + u_i std(W)), shape (M, *W.shape)."""
    u = np.zeros(1) if M == 1 else -1 + 2 * np.arange(M) / (M - 1)
    centred = W - W.mean()
    std = W.std()  # population std, ddof=0
    return np.stack([np.where(centred + u_i * std > 0, 1.0, -1.0) for u_i in u])


def fit_alphas_normal_equations(W, B):
    """Alpha of eq. 3 from the normal equations (D^T D) alpha = D^T w, shape (M,)."""
    D = B.reshape(len(B), -1).T
    return np.linalg.solve(D.T @ D, D.T @ W.ravel())


def fit_alphas_ridge(W, B, ridge):
    """Alpha minimising ||w - D alpha||^2 + ridge ||alpha||^2, shape (M,)."""
    D = B.reshape(len(B), -1).T
    return np.linalg.solve(D.T @ D + ridge * np.eye(D.shape[1]), D.T @ W.ravel())


def verdicts():
    """Every checker of tutorial 01, run on the solutions above."""
    return [
        weights.check_weight_bases(shifted_sign_bases),
        weights.check_alphas_normal_equations(fit_alphas_normal_equations),
        weights.check_alphas_ridge(fit_alphas_ridge),
    ]


if __name__ == "__main__":
    results = verdicts()
    for verdict in results:
        print(verdict)
    sys.exit(0 if all(results) else 1)
