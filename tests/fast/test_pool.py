"""Tests of abcref.fast.pool: the running-maximum max pool equals the reference bitwise."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from abcref import ops
from abcref._checks import check_pair
from abcref.fast.pool import maxpool2d_backward, maxpool2d_forward
from abcref.gradcheck import check_gradient
from tests.ops.test_pool import make_pool, pool_cases

tie_cases = st.fixed_dictionaries(
    {
        "shape": st.tuples(
            st.integers(1, 2), st.integers(1, 3), st.integers(3, 8), st.integers(3, 8)
        ),
        "kernel": st.tuples(st.integers(1, 3), st.integers(1, 3)),
        "stride": st.tuples(st.integers(1, 3), st.integers(1, 3)),
        "levels": st.integers(1, 4),
        "dtype": st.sampled_from([np.float32, np.float64]),
        "seed": st.integers(0, 2**16),
    }
)


@settings(max_examples=80, deadline=None)
@given(case=tie_cases)
def test_fast_maxpool_equals_reference_bitwise_with_ties(case):
    # Few distinct values: many ties, which must go to the same (first) maximum.
    rng = np.random.default_rng(case["seed"])
    x = rng.integers(0, case["levels"], case["shape"]).astype(case["dtype"])
    kernel, stride = case["kernel"], case["stride"]
    ref, ref_cache = ops.maxpool2d_forward(x, kernel=kernel, stride=stride)
    out, cache = maxpool2d_forward(x, kernel=kernel, stride=stride)
    assert out.dtype == ref.dtype
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(cache["argmax"], ref_cache["argmax"])
    dout = rng.standard_normal(ref.shape).astype(case["dtype"])
    dx = maxpool2d_backward(dout, cache)
    assert dx.dtype == dout.dtype
    np.testing.assert_array_equal(dx, ops.maxpool2d_backward(dout, ref_cache))


@settings(max_examples=20, deadline=None)
@given(case=pool_cases)
def test_fast_maxpool_backward_matches_finite_differences(case):
    rng, x, kwargs = make_pool(case)
    kernel = check_pair(kwargs["kernel"], "kernel")
    stride = kernel if kwargs["stride"] is None else check_pair(kwargs["stride"], "stride")
    out, cache = maxpool2d_forward(x, kernel=kernel, stride=stride)
    dout = rng.standard_normal(out.shape)
    dx = maxpool2d_backward(dout, cache)

    def forward(_):
        return maxpool2d_forward(x, kernel=kernel, stride=stride)[0]

    check_gradient(forward, x, dout, dx, name="dx")


def test_fast_maxpool_keeps_the_first_of_tied_signed_zeros():
    # -0.0 == +0.0: the reference keeps the first; so must the bit selection.
    for dtype in (np.float32, np.float64):
        x = np.array([[[[-0.0, 0.0], [0.0, -0.0]], [[0.0, -0.0], [-0.0, 0.0]]]], dtype)
        out, cache = maxpool2d_forward(x, kernel=(2, 2), stride=(2, 2))
        ref, ref_cache = ops.maxpool2d_forward(x, kernel=2)
        np.testing.assert_array_equal(np.signbit(out), np.signbit(ref))
        np.testing.assert_array_equal(np.signbit(out), [[[[True]], [[False]]]])
        np.testing.assert_array_equal(cache["argmax"], ref_cache["argmax"])
