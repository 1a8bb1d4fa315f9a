"""Worked solutions to the exercises of tutorial 04 (bits).

Run ``python tutorials/solutions/04_bits.py``: it prints each checker's
verdict on these solutions and exits 1 if any is not accepted. The test
suite runs it too (``tests/exercises/test_solutions.py``).
"""

import sys

import numpy as np

from abcref import ops
from abcref.exercises import bits


def xnor_dot(a_words, b_words, K):
    """a . b = 2 * (agreements) - K, the agreements counted by XNOR with the tail masked out."""
    agree = ~(a_words ^ b_words)
    tail = 64 * len(a_words) - K
    agree[-1] &= np.uint64(2**64 - 1) >> np.uint64(tail)  # keep the K real bits of the last word
    return 2 * int(np.bitwise_count(agree).sum()) - K


def padding_correction(filters, height, width, padding):
    """corr[o, y, x] = sum over the border taps of the window of sum_c filters[o, c, i, j]."""
    wsum = filters.sum(axis=1)  # (O, k, k)
    k = filters.shape[-1]
    border = np.ones((height + 2 * padding, width + 2 * padding))
    border[padding : padding + height, padding : padding + width] = 0
    ho, wo = height + 2 * padding - k + 1, width + 2 * padding - k + 1
    corr = np.zeros((filters.shape[0], ho, wo))
    for y in range(ho):
        for x in range(wo):
            corr[:, y, x] = (wsum * border[y : y + k, x : x + k]).sum(axis=(1, 2))
    return corr


def padding_correction_by_convolution(filters, height, width, padding):
    """The same correction in one line: a +1-padded convolution of an all-zero image."""
    zeros = np.zeros((1, filters.shape[1], height, width))
    return ops.conv2d_forward(zeros, filters, padding=padding, pad_value=1.0)[0][0]


def verdicts():
    """Every checker of tutorial 04, run on the solutions above."""
    return [
        bits.check_xnor_dot(xnor_dot),
        bits.check_padding_correction(padding_correction),
    ]


if __name__ == "__main__":
    results = verdicts()
    for verdict in results:
        print(verdict)
    sys.exit(0 if all(results) else 1)
