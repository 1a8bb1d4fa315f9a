"""Datasets: the embedded digits and loaders for standard files.

Every loader returns a :class:`Dataset` with images of shape
``(N, C, H, W)`` as float32 in [0, 1] and int64 labels, train and test.
Files are parsed as bytes, never unpickled. See ``docs/data.md``.
"""

from abcref.data.dataset import DataFormatError, Dataset
from abcref.data.embedded import load_digits

__all__ = ["DataFormatError", "Dataset", "load_digits"]
