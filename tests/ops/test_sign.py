"""Tests of abcref.ops.sign: the one sign function and its rule at zero."""

import numpy as np

from abcref.ops import binary_sign


def test_binary_sign_zero_rule_and_no_zeros():
    x = np.array([-2.0, -0.0, 0.0, 1e-30, 3.0])
    np.testing.assert_array_equal(binary_sign(x, 1), [-1, 1, 1, 1, 1])
    np.testing.assert_array_equal(binary_sign(x, -1), [-1, -1, -1, 1, 1])
