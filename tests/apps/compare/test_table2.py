"""Tests of abcref.apps.compare.table2: the Table 2 summary of the ImageNet ResNets."""

import pytest

from abcref.apps.compare.table2 import table2_markdown, table2_summary
from abcref.nn import build_model


def test_table2_summary_small_width():
    configs = [("resnet18", 3, 5), ("resnet18", None, None), ("resnet50", 5, 5)]
    rows = table2_summary(configs, image_size=32, width=4)
    abc18, fp18, abc50 = rows
    assert (
        fp18["params"]
        == build_model({"arch": "resnet18", "conv": "fp", "width": 4}).num_parameters()
    )
    assert abc18["params"] == fp18["params"] + 16 * 2 * 5  # v and beta per binary conv
    assert fp18["binary_macs"] == 0 and fp18["memory_ratio"] == pytest.approx(1.0)
    # Binary convs of ResNet-18 at width 4 on 32x32: stem 16x16, pool 8x8, stages 8, 4, 2, 1.
    # (c_in, c, output side, convs per stage); the first conv of a stage takes c_in.
    expected = sum(
        c_in * c * 9 * hw * hw + (n - 1) * c * c * 9 * hw * hw
        for (c_in, c, hw, n) in [(4, 4, 8, 4), (4, 8, 4, 4), (8, 16, 2, 4), (16, 32, 1, 4)]
    )
    assert abc18["binary_macs"] == 3 * 5 * expected
    assert abc18["paper_top1"] == 63.1 and abc50["paper_top1"] == 70.1
    assert abc50["packed_model_bytes"] < abc50["float_model_bytes"]
    text = table2_markdown(rows, image_size=32)
    assert "| res18 | 3 | 5 |" in text and "| res50 | 5 | 5 |" in text and "| FP | FP |" in text
    with pytest.raises(ValueError, match="image_size"):
        table2_summary(configs, image_size=8)
