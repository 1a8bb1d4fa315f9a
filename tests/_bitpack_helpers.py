"""Shared helpers for the tests of the bit paths: bitpack, fast.xnor and compiler.

An einsum float convolution independent of abcref, random +-1 arrays,
float neighbours of thresholds, and the hypothesis strategy of xnor
convolution arguments that the reference and the fast conv share.
"""

import numpy as np
from hypothesis import strategies as st


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


CHANNELS = [1, 2, 7, 63, 64, 65, 130]


@st.composite
def conv_configs(draw, max_hw=9):
    """Arguments of one xnor convolution: shapes, stride, padding, pad value, dtype, seed."""
    c = draw(st.sampled_from(CHANNELS))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    square_padding = draw(st.booleans())  # an int padding means (ph, ph)
    if square_padding:
        pw = ph
    h = draw(st.integers(max(1, kh - 2 * ph), max_hw))
    w = draw(st.integers(max(1, kw - 2 * pw), max_hw))
    stride = draw(st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    return {
        "n": draw(st.integers(1, 3)),
        "o": draw(st.integers(1, 5)),
        "c": c,
        "hw": (h, w),
        "k": (kh, kw),
        "stride": stride,
        "padding": ph if square_padding else (ph, pw),
        "pad_value": draw(st.sampled_from([0, 1, -1, 0.0, 1.0, -1.0])),
        "dtype": draw(st.sampled_from([np.float32, np.float64, np.int8])),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def draw_operands(cfg):
    """The +-1 input ``a`` and filters ``b`` of a :func:`conv_configs` draw."""
    rng = np.random.default_rng(cfg["seed"])
    a = random_signs(rng, (cfg["n"], cfg["c"], *cfg["hw"]), cfg["dtype"])
    b = random_signs(rng, (cfg["o"], cfg["c"], *cfg["k"]), cfg["dtype"])
    return a, b


def pair(v):
    """``v`` as an (h, w) pair: an int means the same on both axes."""
    return v if isinstance(v, tuple) else (v, v)
