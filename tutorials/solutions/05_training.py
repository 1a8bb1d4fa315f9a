"""Worked solutions to the exercises of tutorial 05 (training).

Run ``python tutorials/solutions/05_training.py``: it prints each checker's
verdict on these solutions and exits 1 if any is not accepted. The test
suite runs it too (``tests/exercises/test_solutions.py``).
"""

import sys

import numpy as np

from abcref.exercises import training


def activation_param_grads(R, v, beta, grad):
    """dc/dv_n = beta_n sum(grad * 1[0 <= R + v_n <= 1]); dc/dbeta_n = sum(grad * A_n)."""
    dv = np.array(
        [
            b_n * np.sum(grad * ((R + v_n >= 0) & (R + v_n <= 1)))
            for v_n, b_n in zip(v, beta, strict=True)
        ]
    )
    dbeta = np.array([np.sum(grad * np.where(R >= 0.5 - v_n, 1.0, -1.0)) for v_n in v])
    return dv, dbeta


def adam_step(grad, m, s, t, lr, b1, b2, eps):
    """Adam with bias correction: returns (step, m, s); the parameter becomes p - step."""
    m = b1 * m + (1 - b1) * grad
    s = b2 * s + (1 - b2) * grad**2
    m_hat = m / (1 - b1**t)
    s_hat = s / (1 - b2**t)
    return lr * m_hat / (np.sqrt(s_hat) + eps), m, s


def verdicts():
    """Every checker of tutorial 05, run on the solutions above."""
    return [
        training.check_activation_param_grads(activation_param_grads),
        training.check_adam_step(adam_step),
    ]


if __name__ == "__main__":
    results = verdicts()
    for verdict in results:
        print(verdict)
    sys.exit(0 if all(results) else 1)
