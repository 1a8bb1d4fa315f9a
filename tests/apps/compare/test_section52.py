"""Tests of abcref.apps.compare.section52: the section 5.2 operation costs, counted by hand."""

import pytest

from abcref.apps.compare.section52 import operation_costs, section52_configs
from abcref.nn import build_model

TINY = {"arch": "small_cnn", "widths": [4, 4, 4, 4]}


def _inner_macs():
    """small_cnn's binary convs on 8x8 digits, by hand: 32->64, 64->64 (pool after), 64->64."""
    return 64 * 32 * 9 * 64 + 64 * 64 * 9 * 64 + 64 * 64 * 9 * 16


@pytest.mark.parametrize("K", [1, 2, 4])
def test_section52_costs_follow_the_documented_model(K):
    configs = section52_configs([K], M=1, kbit_weights="bwn")
    abc, kbit = (build_model(c) for c in configs.values())
    ca, ck = operation_costs(abc, (1, 8, 8)), operation_costs(kbit, (1, 8, 8))
    macs = _inner_macs()
    assert ca["binary_macs"] == K * macs and ca["fixed_point_macs"] == 0
    assert ca["cost_square"] == ca["cost_product"] == K * macs
    if K == 1:  # {0, 1} x {-1, +1}: an AND/popcount, counted as binary
        assert ck["binary_macs"] == macs and ck["fixed_point_macs"] == 0
    else:
        assert ck["binary_macs"] == 0 and ck["fixed_point_macs"] == macs
    assert ck["cost_square"] == K * K * macs  # the paper's K-bit multiplier
    assert ck["cost_product"] == K * macs  # K x 1-bit partial products
    assert ca["float_macs"] == ck["float_macs"]


def test_section52_configs_and_bad_inputs():
    configs = section52_configs([1, 3], M=2, kbit_weights="sign", base=TINY)
    assert list(configs) == [
        "ABC M=2, N=1",
        "1-bit act, sign weights",
        "ABC M=2, N=3",
        "3-bit act, sign weights",
    ]
    assert configs["3-bit act, sign weights"]["conv"] == {
        "kind": "kbit",
        "K": 3,
        "weights": "sign",
    }
    with pytest.raises(ValueError, match="Ks must be distinct"):
        section52_configs([2, 2])
    with pytest.raises(ValueError, match="Ks"):
        section52_configs([0])
    with pytest.raises(ValueError, match="kbit_weights"):
        section52_configs([1], kbit_weights="ternary")
    with pytest.raises(ValueError, match="at least one K"):
        section52_configs([])
