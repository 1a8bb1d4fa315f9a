"""Tests of abcref.data.dataset: a Dataset checks its arrays."""

from __future__ import annotations

import numpy as np
import pytest

from abcref.data import Dataset


def test_dataset_validates_its_arrays():
    x = np.zeros((2, 1, 3, 3), np.float32)
    y = np.zeros(2, np.int64)
    with pytest.raises(TypeError, match="y_train must be an int64 array"):
        Dataset("t", x, y.astype(np.int32), x, y)
    with pytest.raises(ValueError, match="y_test must lie in 0..9"):
        Dataset("t", x, y, x, y + 10)
    with pytest.raises(ValueError, match="share image shape and dtype"):
        Dataset("t", x, y, x.astype(np.float64), y)


def test_dataset_refuses_non_finite_images():
    x = np.zeros((2, 1, 3, 3), np.float32)
    y = np.zeros(2, np.int64)
    bad = x.copy()
    bad[1, 0, 2, 2] = np.nan
    with pytest.raises(ValueError, match="x_train holds NaN or Inf"):
        Dataset("t", bad, y, x, y)
    bad[1, 0, 2, 2] = -np.inf
    with pytest.raises(ValueError, match="x_test holds NaN or Inf"):
        Dataset("t", x, y, bad, y)
