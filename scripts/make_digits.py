"""Regenerate ``abcref/data/digits.npz``, the embedded default dataset.

Maintainer tool, never run by abcref at runtime. It imports scikit-learn,
which is NOT a dependency of abcref: run it from a throwaway environment::

    python -m venv /tmp/skl
    /tmp/skl/bin/pip install scikit-learn
    /tmp/skl/bin/python scripts/make_digits.py

What it does
------------
1. Reads the copy of the UCI "Optical Recognition of Handwritten Digits"
   test partition bundled with scikit-learn (``sklearn.datasets.load_digits``:
   1,797 images of 8x8 pixels, integer grey levels 0..16, labels 0..9).
2. Splits it 80/20, stratified by class, with
   ``train_test_split(index, test_size=0.2, stratify=labels, random_state=0)``
   (1,437 train / 360 test images). The indices are sorted ascending and
   stored in the file, so loading never depends on any random generator.
3. Writes ``images`` (1797, 8, 8) uint8, ``labels`` (1797,) uint8,
   ``train_index`` (1437,) uint16 and ``test_index`` (360,) uint16 with
   ``numpy.savez_compressed``, atomically (temporary file, then rename).
4. Prints the SHA-256 of the stored arrays' bytes (``content_sha256`` in
   ``abcref.data.embedded``), which the test suite checks.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # use this checkout's abcref for the checksum

from abcref.data.embedded import DIGITS_PATH, content_sha256  # noqa: E402


def build_arrays() -> dict[str, np.ndarray]:
    """Read scikit-learn's copy of the digits and compute the fixed split."""
    from sklearn import __version__ as sklearn_version
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    pixels = np.asarray(bunch.images)
    if not np.array_equal(pixels, np.round(pixels)) or pixels.min() < 0 or pixels.max() > 16:
        raise SystemExit("unexpected digits pixels: not integers in 0..16")
    images = pixels.astype(np.uint8)
    labels = np.asarray(bunch.target).astype(np.uint8)
    index = np.arange(labels.size)
    train_index, test_index = train_test_split(
        index, test_size=0.2, stratify=labels, random_state=0
    )
    print(f"scikit-learn {sklearn_version}, numpy {np.__version__}")
    return {
        "images": images,
        "labels": labels,
        "train_index": np.sort(train_index).astype(np.uint16),
        "test_index": np.sort(test_index).astype(np.uint16),
    }


def write_npz_atomically(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``savez_compressed`` to a temporary file in the same folder, then rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; package data must be readable
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--output", type=Path, default=DIGITS_PATH, help="where to write (default: %(default)s)"
    )
    args = parser.parse_args()
    arrays = build_arrays()
    write_npz_atomically(args.output, arrays)
    labels = arrays["labels"]
    print(f"wrote {args.output} ({args.output.stat().st_size} bytes)")
    print(f"train per class: {np.bincount(labels[arrays['train_index']]).tolist()}")
    print(f"test per class:  {np.bincount(labels[arrays['test_index']]).tolist()}")
    print(f"content_sha256:  {content_sha256(arrays)}")


if __name__ == "__main__":
    main()
