"""MNIST and Fashion-MNIST: the IDX file format, gzipped or not.

IDX (LeCun et al., http://yann.lecun.com/exdb/mnist/) is a big-endian
header followed by raw values::

    bytes 0-1   0x00 0x00
    byte  2     type code (0x08 unsigned byte, 0x09 signed byte,
                0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64)
    byte  3     number of dimensions d
    then        d sizes as big-endian uint32, then the values, C order.

So the "magic number" of an MNIST image file is 0x00000803 (uint8, 3-d)
and of a label file 0x00000801 (uint8, 1-d).
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from abcref._checks import check_float_dtype
from abcref.data.dataset import (
    DataFormatError,
    Dataset,
    check_limit,
    to_unit_float,
)

IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

#: Standard file names (without ``.gz``) of the four MNIST files.
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

_GZIP_MAGIC = b"\x1f\x8b"


def describe_magic(magic: int) -> str:
    """Human reading of an IDX magic number, for error messages."""
    type_code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    if magic >> 16 or type_code not in IDX_TYPES:
        return f"0x{magic:08x} (not an IDX header)"
    return f"0x{magic:08x} (IDX {IDX_TYPES[type_code].name}, {ndim}-d)"


def read_file_bytes(path: Path) -> tuple[bytes, bool]:
    """Whole file contents, gunzipped when gzip-compressed; and whether it was.

    Compression is recognised by its magic bytes, not the file name: an IDX
    file always starts with two zero bytes, a gzip stream with 1f 8b.
    """
    raw = Path(path).read_bytes()
    if raw[:2] != _GZIP_MAGIC:
        return raw, False
    try:
        return gzip.decompress(raw), True
    except (EOFError, OSError, zlib.error) as exc:
        raise DataFormatError(
            f"{path}: corrupt or truncated gzip stream ({type(exc).__name__}: {exc})"
        ) from exc


def read_idx(path, *, magic: int | None = None) -> np.ndarray:
    """Read one IDX file (gzipped or plain) into an array.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    magic : int, optional
        Required magic number, e.g. ``0x00000803`` for MNIST images.

    Returns
    -------
    ndarray
        Shape from the header, native byte order, dtype from the type code
        (uint8 for MNIST).

    Raises
    ------
    DataFormatError
        For a bad or unexpected magic number, a file shorter or longer
        than its header declares (the message gives both sizes), or a
        float file holding NaN or Inf.
    """
    path = Path(path)
    data, compressed = read_file_bytes(path)
    if len(data) < 4:
        raise DataFormatError(
            f"{path}: {len(data)} bytes is too short for an IDX header (4 bytes at least)"
        )
    found = int.from_bytes(data[:4], "big")
    if magic is not None and found != magic:
        raise DataFormatError(
            f"{path}: bad magic number {describe_magic(found)}, expected {describe_magic(magic)}"
        )
    if found >> 16 or (found >> 8) & 0xFF not in IDX_TYPES:
        raise DataFormatError(f"{path}: bad magic number {describe_magic(found)}")
    dtype, ndim = IDX_TYPES[(found >> 8) & 0xFF], found & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataFormatError(
            f"{path}: truncated IDX header: {ndim} dimensions need {header} header bytes, "
            f"the file holds {len(data)}"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if len(data) != expected:
        kind = "truncated" if len(data) < expected else "longer than its header declares"
        raise DataFormatError(
            f"{path}: {kind}: header declares shape {shape} of {dtype.name}, i.e. "
            f"{expected} bytes in total, but the file holds {len(data)} bytes"
            + (" after decompression" if compressed else "")
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    if dtype.kind == "f" and not np.isfinite(array).all():
        bad = int(np.argmax(~np.isfinite(array.ravel())))
        raise DataFormatError(
            f"{path}: value {array.ravel()[bad]} at flat index {bad} is not finite; "
            "expected finite numbers"
        )
    return array.astype(dtype.newbyteorder("="))  # a writable, native-order copy


def candidate_paths(directory: Path, stem: str) -> list[Path]:
    """Accepted spellings of one MNIST file, in order of preference."""
    dotted = stem.replace("-idx", ".idx")  # "train-images.idx3-ubyte" (some mirrors)
    names = [stem, stem + ".gz", dotted, dotted + ".gz"]
    return [folder / name for folder in (directory, directory / "raw") for name in names]


def find_mnist_files(directory) -> dict[str, Path]:
    """Locate the four MNIST files in ``directory`` (or its ``raw/`` folder).

    Raises
    ------
    FileNotFoundError
        Listing every file that was expected and not found.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"MNIST directory {directory} does not exist or is not a directory; expected a "
            f"directory holding {', '.join(MNIST_FILES.values())} (optionally .gz)"
        )
    found, missing = {}, []
    for role, stem in MNIST_FILES.items():
        hits = [p for p in candidate_paths(directory, stem) if p.is_file()]
        if hits:
            found[role] = hits[0]
        else:
            missing.append(f"{stem} or {stem}.gz")
    if missing:
        raise FileNotFoundError(
            f"MNIST files missing in {directory} (also looked in {directory / 'raw'}): "
            + "; ".join(missing)
        )
    return found


def _load_split(images_path: Path, labels_path: Path, limit, dtype, num_classes):
    images = read_idx(images_path, magic=IMAGES_MAGIC)
    labels = read_idx(labels_path, magic=LABELS_MAGIC)
    if images.shape[0] == 0 or 0 in images.shape[1:]:
        raise DataFormatError(f"{images_path}: holds no image data (shape {images.shape})")
    if labels.shape[0] != images.shape[0]:
        raise DataFormatError(
            f"{labels_path} holds {labels.shape[0]} labels but {images_path} holds "
            f"{images.shape[0]} images; expected one label per image"
        )
    if labels.max() >= num_classes:
        bad = int(np.argmax(labels >= num_classes))
        raise DataFormatError(
            f"{labels_path}: label {labels[bad]} at index {bad} is out of range, expected "
            f"0..{num_classes - 1}"
        )
    x = to_unit_float(images[:limit, None], 255, dtype)
    return x, labels[:limit].astype(np.int64)


def load_mnist(
    directory, *, limit: int | None = None, dtype=np.float32, name: str = "mnist"
) -> Dataset:
    """Load MNIST or Fashion-MNIST from its four standard IDX files.

    Parameters
    ----------
    directory : str or os.PathLike
        Folder holding ``train-images-idx3-ubyte``,
        ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
        ``t10k-labels-idx1-ubyte``, each plain or gzipped (``.gz``); the
        dotted spelling ``train-images.idx3-ubyte`` and a ``raw/``
        subfolder (torchvision's layout) are accepted too.
    limit : int, optional
        Keep only the first ``limit`` images of each split.
    dtype : {numpy.float32, numpy.float64}
        Image dtype.
    name : str
        Name given to the dataset (e.g. ``"fashion-mnist"``).

    Returns
    -------
    Dataset
        ``x_train`` (60000, 1, 28, 28) and ``x_test`` (10000, 1, 28, 28)
        for MNIST, grey level / 255; int64 labels in 0..9.

    Raises
    ------
    FileNotFoundError
        If the directory or any of the four files is missing.
    DataFormatError
        Bad magic number, truncated file, label/image count mismatch,
        label out of 0..9, or train and test image sizes that differ.
    """
    limit = check_limit(limit)
    dtype = check_float_dtype(dtype)
    files = find_mnist_files(directory)
    x_train, y_train = _load_split(files["train_images"], files["train_labels"], limit, dtype, 10)
    x_test, y_test = _load_split(files["test_images"], files["test_labels"], limit, dtype, 10)
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataFormatError(
            f"{files['train_images']} holds images of {x_train.shape[2:]} pixels but "
            f"{files['test_images']} holds {x_test.shape[2:]}; expected the same size"
        )
    return Dataset(
        name=name,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=10,
        source=os.fspath(directory),
    )
