"""Tests of abcref.fast.abcconv: one float conv of W_tilde and R_tilde against the sums.

Both compute eq. (12) (eq. 6 for full-precision input) and its gradients;
they sum in different orders, so they agree to float64 rounding: every
output within 1e-10 relative to its largest magnitude.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from abcref import binarize
from abcref.fast import abcconv as fast

BOUND = 1e-10


def assert_close(got, want, name):
    scale = max(float(np.max(np.abs(want), initial=0.0)), 1.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=BOUND * scale, err_msg=name)


@settings(max_examples=40, deadline=None)
@given(
    M=st.integers(1, 3),
    N=st.one_of(st.none(), st.integers(1, 3)),
    size=st.integers(3, 7),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 2),
    padding=st.integers(0, 2),
    pad_value=st.sampled_from([0.0, 1.0, -1.0]),
    per_channel=st.booleans(),
    weight_ste=st.sampled_from(["paper", "sum", "identity"]),
    train_shifts=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_fast_abc_conv_equals_the_reference_forward_and_backward(
    M, N, size, kernel, stride, padding, pad_value, per_channel, weight_ste, train_shifts, seed
):
    rng = np.random.default_rng(seed)
    R = rng.normal(size=(2, 2, size, size))
    W = rng.normal(size=(3, 2, kernel, kernel))
    v = None if N is None else rng.uniform(-0.5, 1.5, size=N)
    beta = None if N is None else rng.uniform(-0.5, 1.0, size=N)
    u = np.sort(rng.uniform(-1.0, 1.0, size=M))
    kw = dict(
        M=M,
        shifts=u,
        per_channel=per_channel,
        pad_value=pad_value,
        weight_ste=weight_ste,
        train_shifts=train_shifts,
    )
    ref, ref_cache = binarize.abc_conv2d_forward(
        R, W, v, beta, stride=stride, padding=padding, **kw
    )
    pairs = {"stride": (stride, stride), "padding": (padding, padding)}
    out, cache = fast.abc_conv2d_forward(R, W, v, beta, **pairs, **kw)
    assert_close(out, ref, "out")
    dout = rng.normal(size=ref.shape)
    want = binarize.abc_conv2d_backward(dout, ref_cache)
    got = fast.abc_conv2d_backward(dout, cache)
    assert set(got) == set(want)
    for name, value in want.items():
        if value is None:
            assert got[name] is None, name
        else:
            assert_close(got[name], value, name)
