"""Dataset files written byte by byte in the real formats, for the tests of abcref/data.

MNIST IDX and CIFAR-10 binary files are written from the format
descriptions with ``struct``, independently of the code under test.
"""

from __future__ import annotations

import gzip
import struct

import numpy as np

MNIST_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


CIFAR_TRAIN = [f"data_batch_{i}.bin" for i in range(1, 6)]


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
