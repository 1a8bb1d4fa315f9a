"""Tests of abcref.data.detect: load_dataset picks the embedded digits, MNIST or CIFAR-10."""

from __future__ import annotations

import numpy as np
import pytest

from abcref.data import detect_format, load_dataset
from tests.data._files import write_cifar, write_mnist


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
