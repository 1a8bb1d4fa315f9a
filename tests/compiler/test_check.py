"""Tests of abcref.compiler.check: bits_check compares a model with its compiled form."""

import numpy as np

from abcref.compiler import compile_model
from abcref.compiler.check import bits_check, format_bits_check
from abcref.data import load_digits
from abcref.nn import build_model

SMALL = {"arch": "small_cnn", "widths": [4, 6], "pool_after": [1], "dtype": "float64"}


def test_bits_check_counts_layers_and_compares_every_batch():
    model = build_model({**SMALL, "conv": {"kind": "abc", "M": 2, "N": 2}})
    x = load_digits(dtype=np.float64).x_test[:50]
    check = bits_check(model, x, batch_size=16)  # 4 batches, the last one short
    assert check["layers"] == 1 and check["images"] == 50
    assert check["identical"] and check["differ"] == 0
    np.testing.assert_array_equal(check["top1_bits"], compile_model(model).forward(x).argmax(1))
    assert 0.0 <= check["max_logit_diff"] < 1e-9  # float64: rounding only
    text = format_bits_check(check)
    assert "1 ABC layers compiled to xnor/popcount; identical predictions on 50 images" in text


def test_bits_check_of_a_model_without_binary_layers():
    model = build_model({**SMALL, "conv": "fp"})
    check = bits_check(model, load_digits(dtype=np.float64).x_test[:8])
    assert check["layers"] == 0 and check["identical"] and check["max_logit_diff"] == 0.0
    assert format_bits_check(check).startswith("bits: the model has no binary ABC layer")


def test_format_bits_check_names_the_differing_predictions():
    check = {"layers": 2, "images": 50, "identical": False, "differ": 3}
    check |= {"max_logit_diff": 0.5, "images_flipped": 4}
    assert "3 of 50 predictions DIFFER" in format_bits_check(check)
