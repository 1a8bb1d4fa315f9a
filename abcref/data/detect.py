"""``load_dataset``: one entry point for the command line's ``--data``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from abcref.data.cifar import (
    PYTHON_VERSION_MARKERS,
    SUBFOLDER,
    TEST_FILES,
    TRAIN_FILES,
    load_cifar10,
)
from abcref.data.embedded import load_digits
from abcref.data.idx import MNIST_FILES, candidate_paths, load_mnist

EMBEDDED = ("digits",)


def detect_format(directory) -> str:
    """Say whether ``directory`` holds MNIST IDX files or CIFAR-10 batches.

    Returns
    -------
    {"mnist", "cifar10"}
        ``"mnist"`` if any standard MNIST file name is present (plain, ``.gz``
        or in ``raw/``); ``"cifar10"`` if any CIFAR-10 batch file, the
        ``cifar-10-batches-bin`` subfolder, or the pickled python version is
        present (so that ``load_cifar10`` can explain what is wrong).

    Raises
    ------
    FileNotFoundError
        If ``directory`` does not exist or matches neither format.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"data directory {directory} does not exist")
    if any(p.is_file() for stem in MNIST_FILES.values() for p in candidate_paths(directory, stem)):
        return "mnist"
    cifar_names = (SUBFOLDER, *TRAIN_FILES, *TEST_FILES, *PYTHON_VERSION_MARKERS)
    if any((directory / name).exists() for name in cifar_names):
        return "cifar10"
    listing = sorted(os.listdir(directory))
    shown = ", ".join(listing[:10]) + (", ..." if len(listing) > 10 else "") or "nothing"
    raise FileNotFoundError(
        f"{directory} holds neither MNIST IDX files ({', '.join(MNIST_FILES.values())}, "
        f"optionally .gz) nor CIFAR-10 binary batches ({', '.join(TRAIN_FILES + TEST_FILES)}, "
        f"or a {SUBFOLDER} subfolder); it holds: {shown}"
    )


def load_dataset(name_or_dir, *, limit: int | None = None, dtype=np.float32):
    """Load the embedded dataset by name, or a directory of standard files.

    Parameters
    ----------
    name_or_dir : str or os.PathLike
        ``"digits"`` for the embedded dataset (this exact string is always
        the name, never a path: write ``./digits`` for a folder of that
        name); otherwise a directory, auto-detected as MNIST IDX
        (Fashion-MNIST too) or CIFAR-10 binary (see ``detect_format``).
    limit : int, optional
        Keep only the first ``limit`` images of each split.
    dtype : {numpy.float32, numpy.float64}
        Image dtype.

    Returns
    -------
    Dataset

    Raises
    ------
    FileNotFoundError
        Unknown name and no such directory, or a directory in neither format.
    """
    if isinstance(name_or_dir, str) and name_or_dir in EMBEDDED:
        return load_digits(limit=limit, dtype=dtype)
    if not isinstance(name_or_dir, (str, os.PathLike)):
        raise TypeError(f"name_or_dir must be a str or a path, got {type(name_or_dir).__name__}")
    path = Path(name_or_dir)
    if not path.exists():
        raise FileNotFoundError(
            f"no embedded dataset named {os.fspath(name_or_dir)!r} and no such directory; "
            f"expected one of {list(EMBEDDED)} or a directory holding MNIST IDX files or "
            f"CIFAR-10 binary batches"
        )
    if detect_format(path) == "mnist":
        return load_mnist(path, limit=limit, dtype=dtype)
    return load_cifar10(path, limit=limit, dtype=dtype)
