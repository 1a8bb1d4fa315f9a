"""abcref.apps.compare: Table 3 systems, §5.2 costs, Table 2 summary, baseline layer counts."""

import pytest

from abcref.apps.compare.section52 import operation_costs, section52_configs
from abcref.apps.compare.table2 import table2_markdown, table2_summary
from abcref.apps.compare.table3 import (
    TABLE3_SYSTEMS,
    ordering_disagreements,
    table3_configs,
    table3_markdown,
    table3_rows,
)
from abcref.apps.results import SweepResult
from abcref.apps.sweep import run_sweep
from abcref.compiler.summary import format_summary, model_summary, summary_totals
from abcref.data import load_digits
from abcref.nn import PRESETS, QuantConv2d, XNORConv2d, build_model
from abcref.nn.module import Sequential

TINY = {"arch": "small_cnn", "widths": [4, 4, 4, 4]}


# -- the summary counts the comparison systems ---------------------------------------------


def test_summary_counts_baseline_layers_by_hand():
    o, c, k, hw = 70, 8, 3, 6  # 70 filters of 8x3x3 on 6x6, padding 1
    K, outputs = c * k * k, o * hw * hw
    packed = o * k * k * 1 * 8  # one 64-bit word per tap (C = 8 < 64)
    layers = {
        "bwn": QuantConv2d(c, o, k, padding=1, **PRESETS["bwn"]),
        "xnor": XNORConv2d(c, o, k, padding=1),
        "bnn": QuantConv2d(c, o, k, padding=1, **PRESETS["bnn"]),
        "dorefa": QuantConv2d(c, o, k, padding=1, **{**PRESETS["dorefa"], "bits": 4}),
        "kbit": QuantConv2d(c, o, k, padding=1, **{**PRESETS["kbit"], "weights": "bwn"}, bits=3),
        "kbitfp": QuantConv2d(c, o, k, padding=1, **PRESETS["kbit"], bits=2),
    }
    rows = {
        name: model_summary(Sequential(layer=layer), (c, hw, hw))[0]
        for name, layer in layers.items()
    }
    for row in rows.values():
        assert row.float_model_macs == K * outputs and row.float_model_bytes == o * K * 4
    bwn = rows["bwn"]
    assert (bwn.packed_binary_params, bwn.packed_float_params) == (o * K, o)
    assert bwn.packed_model_bytes == packed + o * 4
    assert bwn.packed_binary_macs == 0 and bwn.packed_float_macs == K * outputs + outputs
    xnor = rows["xnor"]
    assert xnor.packed_binary_macs == K * outputs and xnor.packed_model_bytes == packed + o * 4
    assert xnor.packed_float_macs == outputs + c * hw * hw + k * k * hw * hw
    bnn = rows["bnn"]
    assert (bnn.packed_binary_macs, bnn.packed_float_macs, bnn.packed_float_params) == (
        K * outputs,
        0,
        0,
    )
    assert bnn.packed_model_bytes == packed
    dorefa = rows["dorefa"]
    assert dorefa.packed_fixed_point_macs == K * outputs and dorefa.packed_binary_macs == 0
    assert dorefa.packed_float_params == 1 and dorefa.packed_model_bytes == packed + 4
    assert "4-bit activations x 1-bit weights" in dorefa.note
    assert rows["kbit"].packed_fixed_point_macs == K * outputs and "3-bit" in rows["kbit"].note
    kbitfp = rows["kbitfp"]
    assert kbitfp.packed_fixed_point_macs == 0 and kbitfp.packed_float_macs == K * outputs
    assert kbitfp.packed_model_bytes == kbitfp.float_model_bytes


def test_format_summary_reports_fixed_point_macs():
    model = build_model({**TINY, "conv": {"kind": "kbit", "K": 2, "weights": "sign"}})
    rows = model_summary(model, (1, 8, 8))
    assert summary_totals(rows)["packed_fixed_point_macs"] > 0
    assert "fixed-point MACs per example" in format_summary(rows)


# -- §5.2 costs against an independent count ------------------------------------------------


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


# -- Table 2 summary ---------------------------------------------------------------------


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


# -- Table 3 -------------------------------------------------------------------------------


def test_table3_configs_cover_the_paper_rows():
    configs = table3_configs(TINY, extra=True)
    assert list(configs)[:7] == list(TABLE3_SYSTEMS)
    assert configs["DoReFa W1/A4"]["conv"] == {"kind": "dorefa", "bits": 4, "weight_bits": 1}
    assert configs["ABC M=5, FP act"]["conv"] == {"kind": "abc", "M": 5, "N": None}
    assert "ABC M=1, N=1" in configs and all(c["widths"] == [4, 4, 4, 4] for c in configs.values())


def _fake_result(means):
    """A SweepResult with given test top-1 per label (two seeds, +-0.01)."""
    result = SweepResult(settings={"seeds": [0, 1]}, configs={k: {} for k in means})
    for label, m in means.items():
        for seed, delta in ((0, -0.01), (1, 0.01)):
            result.rows.append({"label": label, "seed": seed, "test_top1": m + delta})
    return result


def test_ordering_disagreements_and_noise():
    result = _fake_result({"FP": 0.90, "BWN": 0.95, "BNN": 0.80, "XNOR-Net": 0.805})
    rows = table3_rows(result)
    assert [r["measured_rank"] for r in rows] == [2, 1, 4, 3]
    assert [r["paper_rank"] for r in rows] == [1, 2, 4, 3]
    found = ordering_disagreements(rows)
    assert ("FP", "BWN", True) in found  # gap 5 points, spread 2.8
    assert ("XNOR-Net", "BNN", False) not in found  # same order as the paper
    result = _fake_result({"XNOR-Net": 0.80, "BNN": 0.805})
    assert ordering_disagreements(table3_rows(result)) == [("XNOR-Net", "BNN", False)]


def test_every_system_learns_in_one_short_epoch():
    d = load_digits()
    data = {
        "x_train": d.x_train[:500],
        "y_train": d.y_train[:500],
        "x_test": d.x_test,
        "y_test": d.y_test,
    }
    configs = table3_configs({"arch": "small_cnn", "widths": [8, 16, 16, 16]})
    result = run_sweep(configs, data=data, seeds=(0,), epochs=1, batch_size=10, lr=1e-2)
    accuracy = {r["label"]: r["test_top1"] for r in result.rows}
    assert set(accuracy) == set(TABLE3_SYSTEMS)
    for label, top1 in accuracy.items():
        assert top1 > 0.30, f"{label} reached only {top1:.1%} (chance is 10%)"
    text = table3_markdown(result)
    assert "| FP | 32 | 32 | 69.3 |" in text and "Budget: 1 epochs" in text
