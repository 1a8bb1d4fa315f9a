"""The embedded default dataset: UCI optical-recognition handwritten digits.

1,797 images of 8x8 pixels with 17 grey levels (0..16), ten classes, shipped
inside the package as ``digits.npz`` (licence CC BY 4.0, see
``DIGITS_LICENSE.md``), so that abcref trains offline with no download.
The file was written by ``scripts/make_digits.py`` and holds a fixed
stratified 80/20 train/test split (1,437 / 360 images), stored as indices.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from abcref._checks import check_float_dtype
from abcref._io import read_npz
from abcref.data.dataset import (
    DataFormatError,
    Dataset,
    check_limit,
    to_unit_float,
)

DIGITS_PATH = Path(__file__).with_name("digits.npz")

#: SHA-256 of the stored arrays (see ``content_sha256``); any change to the
#: pixels, labels or split changes it, and ``load_digits`` refuses the file.
DIGITS_SHA256 = "af91a7ed5ee4643f7a3f361340e909da5838fcf5522063fe0543b21b734563b0"

NUM_IMAGES = 1797
NUM_TEST = 360
GREY_LEVELS = 16  # pixels are counts of "on" pixels in 4x4 blocks: 0..16

_EXPECTED = {
    "images": (np.uint8, (NUM_IMAGES, 8, 8)),
    "labels": (np.uint8, (NUM_IMAGES,)),
    "train_index": (np.uint16, (NUM_IMAGES - NUM_TEST,)),
    "test_index": (np.uint16, (NUM_TEST,)),
}

_REINSTALL = (
    "reinstall abcref, or in a source checkout regenerate the file with "
    "scripts/make_digits.py (see abcref/data/DIGITS_LICENSE.md)"
)


def content_sha256(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of ``arrays``.

    Independent of the zip container (whose timestamps change on every
    write), so it identifies the data itself.
    """
    digest = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}:{a.dtype.str}:{a.shape};".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def read_digits_npz(path: Path = DIGITS_PATH) -> dict:
    """Read and validate the raw arrays of the embedded digits file.

    Parameters
    ----------
    path : Path
        The ``.npz`` file (default: the one shipped in the package).

    Returns
    -------
    dict of str to ndarray
        ``images`` (1797, 8, 8) uint8 in 0..16, ``labels`` (1797,) uint8
        in 0..9, ``train_index`` (1437,) and ``test_index`` (360,) uint16,
        sorted, together a partition of ``0 .. 1796``; their SHA-256 equals
        ``DIGITS_SHA256``.

    Raises
    ------
    FileNotFoundError
        If the file is missing.
    IsADirectoryError
        If ``path`` is a directory.
    DataFormatError
        If it is corrupt, truncated, or holds anything else.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"embedded digits file {path} is missing; {_REINSTALL}")
    try:
        arrays = read_npz(path, kind="digits file", error=DataFormatError)
    except DataFormatError as exc:  # the shipped file was damaged: say so, and how to fix it
        raise DataFormatError(
            f"embedded digits file is corrupt or truncated: {exc}; {_REINSTALL}"
        ) from None
    if set(arrays) != set(_EXPECTED):
        raise DataFormatError(
            f"embedded digits file {path} holds arrays {sorted(arrays)}, expected "
            f"{sorted(_EXPECTED)}; {_REINSTALL}"
        )
    for key, (dtype, shape) in _EXPECTED.items():
        a = arrays[key]
        if a.dtype != dtype or a.shape != shape:
            raise DataFormatError(
                f"embedded digits file {path}: array {key!r} has dtype {a.dtype} and shape "
                f"{a.shape}, expected {np.dtype(dtype)} and {shape}; {_REINSTALL}"
            )
    if arrays["images"].max() > GREY_LEVELS or arrays["labels"].max() > 9:
        raise DataFormatError(
            f"embedded digits file {path}: pixels must lie in 0..{GREY_LEVELS} and labels "
            f"in 0..9; {_REINSTALL}"
        )
    together = np.concatenate([arrays["train_index"], arrays["test_index"]])
    if not np.array_equal(np.sort(together), np.arange(NUM_IMAGES)):
        raise DataFormatError(
            f"embedded digits file {path}: train_index and test_index must partition "
            f"0..{NUM_IMAGES - 1}; {_REINSTALL}"
        )
    if content_sha256(arrays) != DIGITS_SHA256:
        raise DataFormatError(
            f"embedded digits file {path} does not match its recorded checksum "
            f"(abcref.data.embedded.DIGITS_SHA256); {_REINSTALL}"
        )
    return arrays


def load_digits(*, limit: int | None = None, dtype=np.float32) -> Dataset:
    """Load the embedded handwritten digits with their fixed train/test split.

    Parameters
    ----------
    limit : int, optional
        Keep only the first ``limit`` images of each split (quick runs).
        ``None`` keeps all 1,437 train and 360 test images.
    dtype : {numpy.float32, numpy.float64}
        Image dtype.

    Returns
    -------
    Dataset
        ``x_train`` (1437, 1, 8, 8) and ``x_test`` (360, 1, 8, 8) in [0, 1]
        (grey level / 16, exact in binary floating point), ``y_train`` and
        ``y_test`` int64 in 0..9, ``num_classes`` 10.

    Notes
    -----
    The split is stratified 80/20 with seed 0 and was computed once, when
    the file was made (``scripts/make_digits.py``); the file stores the
    indices, so loading involves no random numbers. Each split keeps the
    original UCI order (sorted indices); the trainer shuffles.

    Examples
    --------
    >>> from abcref.data import load_digits
    >>> data = load_digits()
    >>> data.x_train.shape, data.x_test.shape
    ((1437, 1, 8, 8), (360, 1, 8, 8))
    """
    limit = check_limit(limit)
    dtype = check_float_dtype(dtype)
    arrays = read_digits_npz(DIGITS_PATH)
    images, labels = arrays["images"], arrays["labels"]
    splits = {}
    for split in ("train", "test"):
        index = arrays[f"{split}_index"].astype(np.int64)[:limit]
        splits[f"x_{split}"] = to_unit_float(images[index][:, None], GREY_LEVELS, dtype)
        splits[f"y_{split}"] = labels[index].astype(np.int64)
    return Dataset(name="digits", num_classes=10, source=str(DIGITS_PATH), **splits)
