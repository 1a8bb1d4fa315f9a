"""Shared helpers for the bitpack tests: an einsum float convolution."""

import numpy as np


def float_conv2d(a, b, *, stride=(1, 1), padding=(0, 0), pad_value=0.0):
    """Plain float64 convolution (cross-correlation) of +-1 arrays, tap by tap.

    Independent of abcref: pad with ``pad_value``, then sum one einsum
    per kernel tap. Sums of +-1 in float64 are exact integers.
    """
    (sh, sw), (ph, pw) = stride, padding
    padded = np.pad(
        a.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value
    )
    _, _, kh, kw = b.shape
    ho = (padded.shape[2] - kh) // sh + 1
    wo = (padded.shape[3] - kw) // sw + 1
    out = np.zeros((a.shape[0], b.shape[0], ho, wo))
    for i in range(kh):
        for j in range(kw):
            window = padded[:, :, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw]
            out += np.einsum("nchw,oc->nohw", window, b[:, :, i, j].astype(np.float64))
    return out


def random_signs(rng, shape, dtype=np.float64):
    """Array of the given shape holding +1/-1 drawn uniformly."""
    return np.where(rng.random(shape) < 0.5, -1, 1).astype(dtype)
