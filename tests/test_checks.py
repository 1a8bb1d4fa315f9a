"""Tests of abcref._checks: the argument checks every public function uses."""

import numpy as np
import pytest

from abcref._checks import check_array, check_int, check_pair, check_same_dtype


def test_check_array_rejects_wrong_type_dtype_ndim_nonfinite():
    with pytest.raises(TypeError, match="x must be a numpy.ndarray"):
        check_array([1.0], "x")
    with pytest.raises(TypeError, match="x must have dtype float32 or float64, got dtype int64"):
        check_array(np.zeros(3, dtype=np.int64), "x")
    with pytest.raises(ValueError, match="x must be 4-dimensional, got shape"):
        check_array(np.zeros(3), "x", ndim=4)
    with pytest.raises(ValueError, match="x must be finite, got 1 NaN"):
        check_array(np.array([1.0, np.nan]), "x")


def test_check_int_and_pair():
    assert check_int(np.int64(3), "stride", min_value=1) == 3
    with pytest.raises(TypeError, match="stride must be an integer, got 1.5"):
        check_int(1.5, "stride")
    with pytest.raises(TypeError, match="stride must be an integer, got True"):
        check_int(True, "stride")
    with pytest.raises(ValueError, match="stride must be >= 1, got 0"):
        check_int(0, "stride", min_value=1)
    assert check_pair(2, "padding", min_value=0) == (2, 2)
    assert check_pair((1, 2), "padding", min_value=0) == (1, 2)
    with pytest.raises(ValueError, match="padding must be an int or a pair"):
        check_pair((1, 2, 3), "padding")


def test_check_same_dtype():
    a32, a64 = np.zeros(2, np.float32), np.zeros(2, np.float64)
    assert check_same_dtype(x=a32, w=a32) == np.float32
    with pytest.raises(TypeError, match="x: float32, w: float64"):
        check_same_dtype(x=a32, w=a64)


def test_non_finite_arrays_raise_their_own_value_error():
    # The trainer tells "the numbers blew up" from other bad input by this class.
    from abcref._checks import NonFiniteError

    with pytest.raises(NonFiniteError, match="x must be finite, got 2 NaN or Inf"):
        check_array(np.array([1.0, np.nan, np.inf]), "x")
    assert issubclass(NonFiniteError, ValueError)
