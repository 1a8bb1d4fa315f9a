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


def values_around(thresholds, dtype, steps=3):
    """Each finite threshold and its `steps` float neighbours on both sides, per channel."""
    t = np.where(np.isfinite(thresholds), thresholds, 0).astype(dtype)
    out = [t]
    up, down = t, t
    for _ in range(steps):
        up = np.nextafter(up, dtype(np.inf))
        down = np.nextafter(down, dtype(-np.inf))
        out += [up, down]
    return np.concatenate(out, axis=0)  # (values, C)
