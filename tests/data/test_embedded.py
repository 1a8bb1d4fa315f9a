"""Tests for abcref.data: embedded digits, MNIST IDX and CIFAR-10 binary loaders.

The loaders are checked against files the tests write byte by byte in the
real formats (with ``struct``, independently of the code under test).
"""

from __future__ import annotations

import gzip
import pickle
import shutil
import struct

import numpy as np
import pytest

from abcref.data import (
    DataFormatError,
    Dataset,
    detect_format,
    embedded,
    load_cifar10,
    load_dataset,
    load_digits,
    load_mnist,
    read_idx,
)
from abcref.data.embedded import DIGITS_PATH, content_sha256, read_digits_npz

MNIST_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CIFAR_TRAIN = [f"data_batch_{i}.bin" for i in range(1, 6)]


# ---------------------------------------------------------------- embedded digits


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


# ---------------------------------------------------------------- MNIST IDX


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """An IDX file, written from the format description."""
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    big_endian = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    return header + array.astype(big_endian[type_code]).tobytes()


def write_mnist(directory, *, n_train=7, n_test=5, rows=4, cols=3, gz=False, seed=0):
    """Write the four MNIST files; return the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, rows, cols), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, rows, cols), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    arrays["train_images"][0, 0, 0], arrays["train_images"][0, 0, 1] = 0, 255
    directory.mkdir(parents=True, exist_ok=True)
    for role, array in arrays.items():
        data = idx_bytes(array)
        name = MNIST_NAMES[role]
        if gz:
            (directory / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (directory / name).write_bytes(data)
    return arrays


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


# ---------------------------------------------------------------- CIFAR-10 binary


def write_cifar(folder, counts=(3, 2, 1, 2, 4, 3), seed=0):
    """Write five train batches and a test batch; return (x_train, y_train, x_test, y_test)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    pixels, labels = [], []
    for name, n in zip([*CIFAR_TRAIN, "test_batch.bin"], counts, strict=True):
        y = rng.integers(0, 10, n, dtype=np.uint8)
        x = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        with open(folder / name, "wb") as f:
            for label, image in zip(y, x, strict=True):
                f.write(struct.pack("B", label))
                for channel in image:  # red plane, green plane, blue plane, row-major
                    f.write(channel.tobytes(order="C"))
        pixels.append(x)
        labels.append(y)
    return (np.concatenate(pixels[:5]), np.concatenate(labels[:5]), pixels[5], labels[5])


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
def test_loaders_bad_arguments(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        load_cifar10(tmp_path, **kwargs)
    with pytest.raises(error, match=match):
        load_mnist(tmp_path, **kwargs)


# ---------------------------------------------------------------- load_dataset


def test_load_dataset_dispatch(tmp_path):
    digits = load_dataset("digits", limit=5)
    assert digits.name == "digits" and digits.x_train.shape == (5, 1, 8, 8)
    write_mnist(tmp_path / "m", gz=True)
    write_cifar(tmp_path / "c" / "cifar-10-batches-bin")
    assert detect_format(tmp_path / "m") == "mnist"
    assert detect_format(tmp_path / "c") == "cifar10"
    assert load_dataset(tmp_path / "m").name == "mnist"
    assert load_dataset(str(tmp_path / "c"), dtype=np.float64).x_test.dtype == np.float64


def test_load_dataset_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no embedded dataset named 'mnist'.*'digits'"):
        load_dataset("mnist")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(FileNotFoundError, match="neither MNIST .* it holds: notes.txt"):
        load_dataset(tmp_path)
    with pytest.raises(TypeError, match="name_or_dir must be a str or a path, got int"):
        load_dataset(3)


def test_dataset_validates_its_arrays():
    x = np.zeros((2, 1, 3, 3), np.float32)
    y = np.zeros(2, np.int64)
    with pytest.raises(TypeError, match="y_train must be an int64 array"):
        Dataset("t", x, y.astype(np.int32), x, y)
    with pytest.raises(ValueError, match="y_test must lie in 0..9"):
        Dataset("t", x, y, x, y + 10)
    with pytest.raises(ValueError, match="share image shape and dtype"):
        Dataset("t", x, y, x.astype(np.float64), y)
