"""Tests of abcref.data.cifar: CIFAR-10 binary batches, written byte by byte.

The files are written with ``struct`` (tests/data/_files.py), independently
of the code under test; the pickled Python version is refused unread.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from abcref.data import DataFormatError, load_cifar10, load_dataset
from tests.data._files import write_cifar


@pytest.mark.parametrize("subfolder", [False, True])
def test_cifar_reads_what_was_written(tmp_path, subfolder):
    folder = tmp_path / "cifar-10-batches-bin" if subfolder else tmp_path
    x_train, y_train, x_test, y_test = write_cifar(folder)
    data = load_cifar10(tmp_path)
    assert data.name == "cifar10" and data.image_shape == (3, 32, 32)
    assert data.x_train.shape == (12, 3, 32, 32) and data.x_test.shape == (3, 3, 32, 32)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    np.testing.assert_array_equal(data.x_train, x_train / np.float32(255))
    np.testing.assert_array_equal(data.x_test * 255, x_test)
    np.testing.assert_array_equal(data.y_train, y_train)
    np.testing.assert_array_equal(data.y_test, y_test)


def test_cifar_channel_layout(tmp_path):
    # one record whose red, green and blue planes are constant 10, 20, 30
    write_cifar(tmp_path)
    record = bytes([7]) + bytes([10]) * 1024 + bytes([20]) * 1024 + bytes([30]) * 1024
    (tmp_path / "test_batch.bin").write_bytes(record)
    data = load_cifar10(tmp_path)
    np.testing.assert_array_equal(data.y_test, [7])
    np.testing.assert_array_equal(data.x_test[0, :, 5, 9] * 255, [10, 20, 30])


def test_cifar_limit_spans_batches_and_float64(tmp_path):
    x_train, y_train, x_test, _ = write_cifar(tmp_path)
    data = load_cifar10(tmp_path, limit=4, dtype=np.float64)  # batch 1 has 3 records
    assert data.x_train.dtype == np.float64 and data.x_train.shape == (4, 3, 32, 32)
    np.testing.assert_array_equal(data.x_train * 255, x_train[:4])
    np.testing.assert_array_equal(data.y_train, y_train[:4])
    np.testing.assert_array_equal(data.x_test * 255, x_test)  # only 3 test records


def test_cifar_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_cifar10(tmp_path / "nowhere")
    write_cifar(tmp_path)
    (tmp_path / "data_batch_3.bin").unlink()
    with pytest.raises(
        FileNotFoundError, match="batch files missing in .*: data_batch_3.bin; expected"
    ):
        load_cifar10(tmp_path)
    archive = tmp_path / "cifar-10-binary.tar.gz"
    archive.write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="is a file.*extract it first"):
        load_cifar10(archive)


def test_cifar_python_version_is_refused_without_unpickling(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    # a pickle that would create a file if it were ever loaded
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(_Boobytrap(str(marker)))
    for name in ["data_batch_1", "test_batch", "batches.meta"]:
        (folder / name).write_bytes(payload)
    for target in (tmp_path, folder):
        with pytest.raises(DataFormatError, match="python version .* pickled.*binary"):
            load_cifar10(target)
        with pytest.raises(DataFormatError, match="python version"):
            load_dataset(target)
    # a pickle renamed to .bin is recognised from its first bytes
    write_cifar(tmp_path / "bin")
    (tmp_path / "bin" / "data_batch_2.bin").write_bytes(payload)
    with pytest.raises(DataFormatError, match="starts like a Python pickle"):
        load_cifar10(tmp_path / "bin")
    assert not marker.exists()


class _Boobytrap:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_cifar_truncated_and_bad_label(tmp_path):
    write_cifar(tmp_path)
    path = tmp_path / "data_batch_2.bin"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(
        DataFormatError,
        match="data_batch_2.bin: size 6046 bytes is not a positive multiple of 3073",
    ):
        load_cifar10(tmp_path)
    write_cifar(tmp_path)
    (tmp_path / "test_batch.bin").write_bytes(b"")
    with pytest.raises(DataFormatError, match="test_batch.bin: size 0 bytes"):
        load_cifar10(tmp_path)
    write_cifar(tmp_path)
    data = bytearray((tmp_path / "data_batch_5.bin").read_bytes())
    data[2 * 3073] = 10  # label of the third record
    (tmp_path / "data_batch_5.bin").write_bytes(bytes(data))
    with pytest.raises(DataFormatError, match="data_batch_5.bin: record 2 has label 10"):
        load_cifar10(tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [({"limit": -1}, ValueError, "limit"), ({"dtype": np.uint8}, TypeError, "dtype")],
)
def test_loader_bad_arguments(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        load_cifar10(tmp_path, **kwargs)
