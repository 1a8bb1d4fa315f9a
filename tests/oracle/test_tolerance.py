"""Tests of abcref.oracle.tolerance: NaN never passes, equal infinities do."""

import numpy as np

from abcref.oracle.tolerance import within_tolerance


def test_nan_fails_and_equal_infinities_pass():
    ref = np.array([1.0, np.inf, 2.0])
    other = np.array([1.0, np.inf, np.nan])
    np.testing.assert_array_equal(within_tolerance(ref, other, 1e-9, 1e-7), [True, True, False])
