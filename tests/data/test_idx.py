"""Tests of abcref.data.idx: MNIST IDX files, written byte by byte from the format description.

The files are written with ``struct`` (tests/data/_files.py), independently
of the code under test.
"""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest

from abcref.data import DataFormatError, load_mnist, read_idx
from tests.data._files import MNIST_NAMES, idx_bytes, write_mnist


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_what_was_written(tmp_path, gz):
    arrays = write_mnist(tmp_path, gz=gz)
    data = load_mnist(tmp_path)
    assert data.name == "mnist" and data.num_classes == 10
    assert data.x_train.shape == (7, 1, 4, 3) and data.x_test.shape == (5, 1, 4, 3)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    np.testing.assert_array_equal(data.x_train[:, 0], arrays["train_images"] / np.float32(255))
    np.testing.assert_array_equal(data.x_test[:, 0] * 255, arrays["test_images"])
    np.testing.assert_array_equal(data.y_train, arrays["train_labels"])
    np.testing.assert_array_equal(data.y_test, arrays["test_labels"])
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0


def test_mnist_name_variants_limit_float64(tmp_path):
    # torchvision layout (raw/), dotted spelling, mixed compression, Fashion-MNIST name
    arrays = write_mnist(tmp_path / "raw", gz=True)
    gzipped = tmp_path / "raw" / "t10k-images-idx3-ubyte.gz"
    gzipped.rename(tmp_path / "raw" / "t10k-images.idx3-ubyte.gz")
    data = load_mnist(tmp_path, limit=3, dtype=np.float64, name="fashion-mnist")
    assert data.name == "fashion-mnist" and data.x_train.dtype == np.float64
    assert data.x_train.shape == (3, 1, 4, 3) and data.x_test.shape == (3, 1, 4, 3)
    np.testing.assert_array_equal(data.x_test[:, 0] * 255, arrays["test_images"][:3])
    np.testing.assert_array_equal(data.y_train, arrays["train_labels"][:3])


@pytest.mark.parametrize(
    ("type_code", "dtype"),
    [
        (0x08, np.uint8),
        (0x09, np.int8),
        (0x0B, np.int16),
        (0x0C, np.int32),
        (0x0D, np.float32),
        (0x0E, np.float64),
    ],
)
def test_read_idx_all_types(tmp_path, type_code, dtype):
    low = 0 if dtype == np.uint8 else -5  # negative values for the signed types
    array = np.arange(low, low + 24).reshape(2, 3, 4).astype(dtype)
    (tmp_path / "f").write_bytes(idx_bytes(array, type_code))
    out = read_idx(tmp_path / "f")
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative and out.flags.writeable
    np.testing.assert_array_equal(out, array)


@pytest.mark.parametrize(("type_code", "dtype"), [(0x0D, np.float32), (0x0E, np.float64)])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_read_idx_refuses_non_finite_floats(tmp_path, type_code, dtype, bad):
    array = np.zeros((2, 3), dtype)
    array[1, 2] = bad
    (tmp_path / "f").write_bytes(idx_bytes(array, type_code))
    with pytest.raises(DataFormatError, match=r"value -?(nan|inf) at flat index 5 is not finite"):
        read_idx(tmp_path / "f")


def test_mnist_missing_directory_and_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist or is not a directory"):
        load_mnist(tmp_path / "nowhere")
    write_mnist(tmp_path)
    (tmp_path / MNIST_NAMES["test_labels"]).unlink()
    (tmp_path / MNIST_NAMES["train_images"]).unlink()
    with pytest.raises(
        FileNotFoundError,
        match="MNIST files missing in .*train-images-idx3-ubyte or "
        "train-images-idx3-ubyte.gz; t10k-labels-idx1-ubyte or",
    ):
        load_mnist(tmp_path)


def test_mnist_bad_magic(tmp_path):
    write_mnist(tmp_path)
    # labels file where the images file should be
    shutil.copy(tmp_path / MNIST_NAMES["train_labels"], tmp_path / MNIST_NAMES["train_images"])
    with pytest.raises(
        DataFormatError,
        match="train-images-idx3-ubyte: bad magic number 0x00000801 \\(IDX uint8, 1-d\\), "
        "expected 0x00000803",
    ):
        load_mnist(tmp_path)
    (tmp_path / "junk").write_bytes(b"\x12\x34\x56\x78" + bytes(20))
    with pytest.raises(DataFormatError, match="0x12345678 \\(not an IDX header\\)"):
        read_idx(tmp_path / "junk")
    (tmp_path / "tiny").write_bytes(b"\x00\x00")
    with pytest.raises(DataFormatError, match="too short for an IDX header"):
        read_idx(tmp_path / "tiny")


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_truncated_file(tmp_path, gz):
    write_mnist(tmp_path, gz=gz)
    name = MNIST_NAMES["test_images"] + (".gz" if gz else "")
    raw = idx_bytes(np.zeros((5, 4, 3), np.uint8))
    cut = raw[:-7]
    (tmp_path / name).write_bytes(gzip.compress(cut) if gz else cut)
    suffix = " after decompression" if gz else ""
    with pytest.raises(
        DataFormatError,
        match=f"t10k-images-idx3-ubyte(.gz)?: truncated: header declares shape \\(5, 4, 3\\) "
        f"of uint8, i.e. 76 bytes in total, but the file holds 69 bytes{suffix}",
    ):
        load_mnist(tmp_path)


def test_mnist_corrupt_gzip_and_truncated_header_and_extra_bytes(tmp_path):
    write_mnist(tmp_path, gz=True)
    path = tmp_path / (MNIST_NAMES["train_labels"] + ".gz")
    path.write_bytes(path.read_bytes()[:-12])  # gzip stream cut short
    with pytest.raises(DataFormatError, match="corrupt or truncated gzip stream"):
        load_mnist(tmp_path)
    (tmp_path / "h").write_bytes(b"\x00\x00\x08\x03" + bytes(5))
    with pytest.raises(DataFormatError, match="truncated IDX header: 3 dimensions need 16"):
        read_idx(tmp_path / "h")
    (tmp_path / "long").write_bytes(idx_bytes(np.zeros(4, np.uint8)) + b"\x00")
    with pytest.raises(DataFormatError, match="longer than its header declares"):
        read_idx(tmp_path / "long")


def test_mnist_count_mismatch_label_range_size_mismatch_empty(tmp_path):
    write_mnist(tmp_path)
    labels = tmp_path / MNIST_NAMES["train_labels"]
    labels.write_bytes(idx_bytes(np.zeros(6, np.uint8)))
    with pytest.raises(DataFormatError, match="holds 6 labels but .* holds 7 images"):
        load_mnist(tmp_path)
    labels.write_bytes(idx_bytes(np.array([0, 1, 2, 10, 3, 4, 5], np.uint8)))
    with pytest.raises(
        DataFormatError, match="label 10 at index 3 is out of range, expected 0..9"
    ):
        load_mnist(tmp_path)
    write_mnist(tmp_path)
    (tmp_path / MNIST_NAMES["test_images"]).write_bytes(idx_bytes(np.zeros((5, 4, 4), np.uint8)))
    with pytest.raises(
        DataFormatError, match="images of \\(4, 3\\) pixels but .* holds \\(4, 4\\)"
    ):
        load_mnist(tmp_path)
    write_mnist(tmp_path)
    (tmp_path / MNIST_NAMES["test_images"]).write_bytes(idx_bytes(np.zeros((0, 4, 3), np.uint8)))
    (tmp_path / MNIST_NAMES["test_labels"]).write_bytes(idx_bytes(np.zeros(0, np.uint8)))
    with pytest.raises(DataFormatError, match="holds no image data"):
        load_mnist(tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [({"limit": -1}, ValueError, "limit"), ({"dtype": np.uint8}, TypeError, "dtype")],
)
def test_loader_bad_arguments(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        load_mnist(tmp_path, **kwargs)
