"""Datasets: the embedded digits and loaders for standard files.

Every loader returns a :class:`Dataset` with images of shape
``(N, C, H, W)`` as float32 (or float64) in [0, 1] and int64 labels,
train and test. Files are parsed as bytes, never unpickled; a missing or
corrupt file raises an error naming the file and what was expected.
See ``docs/data.md``.

- ``load_digits()``: embedded UCI handwritten digits (1,797 8x8 images).
- ``load_mnist(directory)``: MNIST / Fashion-MNIST IDX files.
- ``load_cifar10(directory)``: CIFAR-10 binary version.
- ``load_dataset(name_or_dir)``: ``"digits"`` or an auto-detected directory.
"""

from abcref.data.cifar import load_cifar10
from abcref.data.dataset import DataFormatError, Dataset
from abcref.data.detect import detect_format, load_dataset
from abcref.data.embedded import load_digits
from abcref.data.idx import load_mnist, read_idx

__all__ = [
    "DataFormatError",
    "Dataset",
    "detect_format",
    "load_cifar10",
    "load_dataset",
    "load_digits",
    "load_mnist",
    "read_idx",
]
