"""CIFAR-10, binary version (``cifar-10-binary.tar.gz``), read as raw bytes.

Each batch file is a sequence of 3,073-byte records: one label byte
(0..9) then 3,072 pixel bytes, the 32x32 red plane, then green, then
blue, each row-major -- so a record reshapes directly to (3, 32, 32).
The *python* version of CIFAR-10 is a set of pickles; unpickling can run
arbitrary code, so abcref refuses it and says which file to get instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from abcref._checks import check_float_dtype
from abcref.data.dataset import (
    DataFormatError,
    Dataset,
    check_limit,
)

IMAGE_SHAPE = (3, 32, 32)
RECORD_BYTES = 1 + 3 * 32 * 32  # 3073
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILES = ("test_batch.bin",)
SUBFOLDER = "cifar-10-batches-bin"
PYTHON_VERSION_MARKERS = ("cifar-10-batches-py", "data_batch_1", "batches.meta", "test_batch")

_GET_BINARY = (
    "download the CIFAR-10 *binary* version (cifar-10-binary.tar.gz from "
    "https://www.cs.toronto.edu/~kriz/cifar.html) and extract it"
)


def resolve_cifar10_directory(directory) -> Path:
    """The folder holding the batch files: ``directory`` or its ``cifar-10-batches-bin``.

    Raises
    ------
    FileNotFoundError
        If a batch file is missing (the message lists them all).
    DataFormatError
        If the folder holds the pickled python version instead.
    """
    directory = Path(directory)
    if directory.is_file():
        hint = "; extract it first" if directory.name.endswith((".tar.gz", ".tgz")) else ""
        raise NotADirectoryError(
            f"CIFAR-10 path {directory} is a file, expected a directory holding "
            f"{', '.join(TRAIN_FILES + TEST_FILES)}{hint}"
        )
    if not directory.is_dir():
        raise FileNotFoundError(
            f"CIFAR-10 directory {directory} does not exist; expected a directory holding "
            f"{', '.join(TRAIN_FILES + TEST_FILES)} (or a {SUBFOLDER} subfolder)"
        )
    folder = directory / SUBFOLDER if (directory / SUBFOLDER).is_dir() else directory
    missing = [name for name in TRAIN_FILES + TEST_FILES if not (folder / name).is_file()]
    if not missing:
        return folder
    pickled = [m for m in PYTHON_VERSION_MARKERS if (directory / m).exists()]
    pickled += [m for m in PYTHON_VERSION_MARKERS if (folder / m).exists() and folder != directory]
    if pickled:
        raise DataFormatError(
            f"{directory} holds the CIFAR-10 python version ({', '.join(sorted(set(pickled)))}), "
            f"which is pickled; abcref never unpickles files, since loading a pickle can run "
            f"arbitrary code. Instead {_GET_BINARY}, then point abcref at that directory"
        )
    raise FileNotFoundError(
        f"CIFAR-10 binary batch files missing in {folder}: {', '.join(missing)}; "
        f"expected {', '.join(TRAIN_FILES + TEST_FILES)} (or a {SUBFOLDER} subfolder). "
        f"To get them, {_GET_BINARY}"
    )


def _record_count(path: Path) -> int:
    """Number of records in a batch file, checked from its size alone."""
    size = path.stat().st_size
    if size == 0 or size % RECORD_BYTES:
        with path.open("rb") as f:
            head = f.read(2)
        pickle_hint = ""
        if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
            pickle_hint = "; it starts like a Python pickle, which abcref never loads: "
            pickle_hint += _GET_BINARY
        raise DataFormatError(
            f"{path}: size {size} bytes is not a positive multiple of {RECORD_BYTES} "
            f"(1 label byte + 3072 pixel bytes per record); the file is truncated or "
            f"not a CIFAR-10 binary batch{pickle_hint}"
        )
    return size // RECORD_BYTES


def _read_records(paths: list[Path], limit, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate the records of ``paths``, at most ``limit`` of them."""
    counts = [_record_count(p) for p in paths]  # every file's size checked up front
    total = sum(counts) if limit is None else min(limit, sum(counts))
    x = np.empty((total, *IMAGE_SHAPE), dtype=dtype)
    y = np.empty(total, dtype=np.int64)
    start = 0
    for path, count in zip(paths, counts, strict=True):
        take = min(count, total - start)
        if take == 0:
            break
        records = np.fromfile(path, dtype=np.uint8, count=take * RECORD_BYTES)
        records = records.reshape(take, RECORD_BYTES)
        labels = records[:, 0]
        if labels.max() > 9:
            bad = int(np.argmax(labels > 9))
            raise DataFormatError(
                f"{path}: record {bad} has label {labels[bad]}, expected 0..9 (corrupt file, "
                f"or not CIFAR-10: CIFAR-100 binary records are 3074 bytes with two labels)"
            )
        # convert in place, batch by batch: no second full-size temporary
        block = x[start : start + take]
        block[...] = records[:, 1:].reshape(take, *IMAGE_SHAPE)
        block /= dtype.type(255)
        y[start : start + take] = labels
        start += take
    return x, y


def load_cifar10(directory, *, limit: int | None = None, dtype=np.float32) -> Dataset:
    """Load CIFAR-10 from its binary batch files.

    Parameters
    ----------
    directory : str or os.PathLike
        Folder holding ``data_batch_1.bin`` ... ``data_batch_5.bin`` and
        ``test_batch.bin``, or its parent (with a ``cifar-10-batches-bin``
        subfolder, as the archive extracts).
    limit : int, optional
        Keep only the first ``limit`` images of each split; only the
        records needed are read.
    dtype : {numpy.float32, numpy.float64}
        Image dtype.

    Returns
    -------
    Dataset
        ``x_train`` (50000, 3, 32, 32) and ``x_test`` (10000, 3, 32, 32),
        channels RGB, pixel / 255; int64 labels in 0..9 (airplane,
        automobile, bird, cat, deer, dog, frog, horse, ship, truck).

    Raises
    ------
    FileNotFoundError
        If the directory or a batch file is missing.
    DataFormatError
        For the pickled python version, a file whose size is not a positive
        multiple of 3073 bytes, or a label above 9.
    """
    limit = check_limit(limit)
    dtype = check_float_dtype(dtype)
    folder = resolve_cifar10_directory(directory)
    x_train, y_train = _read_records([folder / n for n in TRAIN_FILES], limit, dtype)
    x_test, y_test = _read_records([folder / n for n in TEST_FILES], limit, dtype)
    return Dataset(
        name="cifar10",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=10,
        source=os.fspath(folder),
    )
