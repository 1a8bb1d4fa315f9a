"""Tests of abcref.data.embedded: the embedded UCI digits, their split and their file checks."""

from __future__ import annotations

import numpy as np
import pytest

from abcref.data import DataFormatError, Dataset, embedded, load_digits
from abcref.data.embedded import DIGITS_PATH, content_sha256, read_digits_npz


def test_digits_shapes_dtypes_ranges():
    data = load_digits()
    assert isinstance(data, Dataset)
    assert data.name == "digits" and data.num_classes == 10
    assert data.x_train.shape == (1437, 1, 8, 8) and data.x_test.shape == (360, 1, 8, 8)
    assert data.x_train.dtype == np.float32 and data.x_test.dtype == np.float32
    assert data.y_train.dtype == np.int64 and data.y_test.dtype == np.int64
    assert data.image_shape == (1, 8, 8)
    for x in (data.x_train, data.x_test):
        assert x.min() == 0.0 and x.max() == 1.0
        # 17 grey levels: every pixel is an exact multiple of 1/16
        np.testing.assert_array_equal(x * 16, np.round(x * 16))
    assert "train=1437" in repr(data)


def test_digits_class_counts_and_stratification():
    data = load_digits()
    train = np.bincount(data.y_train, minlength=10)
    test = np.bincount(data.y_test, minlength=10)
    np.testing.assert_array_equal(train, [142, 146, 142, 146, 145, 145, 145, 143, 139, 144])
    np.testing.assert_array_equal(test, [36, 36, 35, 37, 36, 37, 36, 36, 35, 36])
    # UCI class totals, and every class within one image of a 20% test share
    np.testing.assert_array_equal(train + test, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
    assert np.all(np.abs(test - 0.2 * (train + test)) <= 1)


def test_digits_split_is_a_partition_and_deterministic():
    raw = read_digits_npz()
    train, test = raw["train_index"].astype(int), raw["test_index"].astype(int)
    assert np.intersect1d(train, test).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(1797))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)  # stored sorted
    a, b = load_digits(), load_digits()
    for name in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    # the loaded splits are exactly the stored pixels / 16 at the stored indices
    np.testing.assert_array_equal(a.x_test[:, 0] * 16, raw["images"][test])
    np.testing.assert_array_equal(a.y_train, raw["labels"][train])
    assert content_sha256(raw) == embedded.DIGITS_SHA256


def test_digits_limit_and_float64():
    small = load_digits(limit=50, dtype=np.float64)
    full = load_digits()
    assert small.x_train.shape == (50, 1, 8, 8) and small.x_test.shape == (50, 1, 8, 8)
    assert small.x_train.dtype == np.float64
    np.testing.assert_array_equal(small.x_train, full.x_train[:50].astype(np.float64))
    np.testing.assert_array_equal(small.y_test, full.y_test[:50])
    assert load_digits(limit=10_000).x_train.shape[0] == 1437


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"limit": 0}, ValueError, "limit must be >= 1"),
        ({"limit": 2.5}, TypeError, "limit must be an integer"),
        ({"dtype": np.int32}, TypeError, "dtype must be float32 or float64"),
        ({"dtype": "nonsense"}, TypeError, "dtype must be float32 or float64"),
        ({"dtype": None}, TypeError, "dtype must be float32 or float64, got None"),
    ],
)
def test_digits_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        load_digits(**kwargs)


def test_digits_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="digits file .* is missing; reinstall"):
        read_digits_npz(tmp_path / "digits.npz")


def test_digits_truncated_and_garbage_files(tmp_path):
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(DIGITS_PATH.read_bytes()[:20_000])
    with pytest.raises(DataFormatError, match="corrupt or truncated"):
        read_digits_npz(truncated)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all" * 10)
    with pytest.raises(DataFormatError, match="corrupt or truncated"):
        read_digits_npz(garbage)


def _save(path, **arrays):
    np.savez_compressed(path, **arrays)
    return path


def test_digits_wrong_contents(tmp_path):
    raw = read_digits_npz()
    wrong_keys = _save(tmp_path / "a.npz", images=raw["images"])
    with pytest.raises(DataFormatError, match="holds arrays \\['images'\\], expected"):
        read_digits_npz(wrong_keys)
    wrong_dtype = _save(tmp_path / "b.npz", **{**raw, "labels": raw["labels"].astype(np.int64)})
    with pytest.raises(DataFormatError, match="'labels' has dtype int64 .* expected uint8"):
        read_digits_npz(wrong_dtype)
    bright = raw["images"].copy()
    bright[0, 0, 0] = 17
    with pytest.raises(DataFormatError, match="pixels must lie in 0..16"):
        read_digits_npz(_save(tmp_path / "c.npz", **{**raw, "images": bright}))
    overlap = raw["test_index"].copy()
    overlap[0] = raw["train_index"][0]
    with pytest.raises(DataFormatError, match="must partition"):
        read_digits_npz(_save(tmp_path / "d.npz", **{**raw, "test_index": overlap}))
    flipped = raw["labels"].copy()
    flipped[0] = (flipped[0] + 1) % 10
    with pytest.raises(DataFormatError, match="does not match its recorded checksum"):
        read_digits_npz(_save(tmp_path / "e.npz", **{**raw, "labels": flipped}))


def test_digits_file_with_pickled_object_is_refused(tmp_path):
    raw = read_digits_npz()
    path = tmp_path / "obj.npz"
    np.savez(path, **{**raw, "labels": np.array([object()] * 1797, dtype=object)})
    with pytest.raises(DataFormatError, match="corrupt or truncated"):
        read_digits_npz(path)
