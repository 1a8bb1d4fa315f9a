"""Tests of abcref.compiler.summary: parameters, MACs and bytes of every layer, counted by hand."""

import numpy as np
import pytest

import abcref
from abcref.compiler.summary import LayerSummary, format_summary, model_summary, summary_totals
from abcref.nn import PRESETS, QuantConv2d, XNORConv2d, build_model
from abcref.nn.abcconv import ABCConv2d
from abcref.nn.layers import BatchNorm2d, Conv2d, GlobalAvgPool2d, Linear, MaxPool2d
from abcref.nn.module import Sequential


def _model(per_channel=False):
    return Sequential(
        conv1=Conv2d(3, 8, 3, padding=1, bias=False),
        bn1=BatchNorm2d(8),
        conv2=ABCConv2d(8, 70, 3, M=3, N=2, padding=1, per_channel=per_channel),
        pool=MaxPool2d(2),
        bn2=BatchNorm2d(70),
        conv3=ABCConv2d(70, 4, 1, M=2, N=None),
        gap=GlobalAvgPool2d(),
        fc=Linear(4, 10),
    )


def test_counts_by_hand():
    model = _model()
    rows = {r.name: r for r in model_summary(model, (3, 6, 6))}
    assert list(rows) == ["conv1", "bn1", "conv2", "pool", "bn2", "conv3", "gap", "fc"]
    conv2 = rows["conv2"]
    k, outputs = 8 * 9, 70 * 6 * 6
    assert conv2.output_shape == (70, 6, 6)
    assert conv2.packed_binary_params == 3 * 70 * k
    # alphas, betas, thresholds per channel (folded)
    assert conv2.packed_float_params == 3 + 2 + 2 * 8
    assert conv2.float_model_params == 70 * k + 2 + 2  # latent weights, v, beta
    assert conv2.float_model_macs == k * outputs
    assert conv2.packed_binary_macs == 3 * 2 * k * outputs
    assert conv2.packed_float_macs == 3 * 2 * outputs
    assert conv2.packed_model_bytes == 3 * 70 * 9 * 1 * 8 + (3 + 2 + 16) * 4
    assert conv2.float_model_bytes == (70 * k + 2 + 2) * 4
    assert rows["bn1"].packed_model_bytes == 0 and rows["bn1"].note == "folded into conv2"
    assert conv2.note == "folds bn1" and rows["conv3"].note == "weight-only (float activations)"
    # bn2 feeds a weight-only ABC layer: not folded, kept as float.
    assert rows["bn2"].packed_model_bytes == rows["bn2"].float_model_bytes == 4 * 70 * 4
    conv3 = rows["conv3"]
    assert conv3.packed_binary_macs == 0 and conv3.packed_float_macs == 2 * 70 * 4 * 3 * 3
    assert rows["conv1"].float_model_macs == 8 * 27 * 36 and rows["fc"].float_model_macs == 40
    assert rows["fc"].float_model_params == rows["fc"].packed_float_params == 50
    assert rows["bn1"].float_model_params == 16 and rows["bn1"].packed_float_params == 0
    totals = summary_totals(list(rows.values()))
    assert totals["packed_binary_macs"] == conv2.packed_binary_macs
    assert totals["float_model_params"] == model.num_parameters()
    assert totals["packed_model_bytes"] == sum(r.packed_model_bytes for r in rows.values())


def test_channel_wise_alphas_counted_per_channel():
    rows = {r.name: r for r in model_summary(_model(per_channel=True), (3, 6, 6))}
    assert rows["conv2"].packed_float_params == 70 * 3 + 2 + 2 * 8


def test_summary_leaves_modes_and_forward_untouched():
    model = _model()
    model.train()
    model_summary(model, (3, 6, 6))
    assert all(m.training for _, m in model.named_modules())
    assert "forward" not in vars(model.conv2)
    out = model.eval().forward(np.zeros((2, 3, 6, 6), dtype=np.float32))
    assert out.shape == (2, 10)


def test_format_summary_has_totals_and_ratio():
    text = format_summary(model_summary(_model(), (3, 6, 6)))
    assert text.splitlines()[0].split()[:3] == ["layer", "type", "output"]
    assert "total" in text and "smaller" in text and "bn1: folded into conv2" in text


def test_bad_input_shape():
    with pytest.raises(ValueError, match=r"input_shape must be \(C, H, W\)"):
        model_summary(_model(), (1, 3, 6, 6))


def test_compiled_model_summary_matches_packed_columns():
    from abcref.compiler import compile_model

    model = _model().eval()
    float_rows = {r.name: r for r in model_summary(model, (3, 6, 6))}
    bit_rows = {r.name: r for r in model_summary(compile_model(model), (3, 6, 6))}
    assert "bn1" not in bit_rows and bit_rows["conv2"].kind == "BitABCConv2d"
    for column in (
        "packed_float_params",
        "packed_binary_params",
        "packed_binary_macs",
        "packed_float_macs",
        "packed_model_bytes",
    ):
        assert getattr(bit_rows["conv2"], column) == getattr(float_rows["conv2"], column)


def test_every_column_names_the_model_it_describes():
    counts = [f for f in LayerSummary.__dataclass_fields__ if f not in ("name", "kind")]
    counts = [f for f in counts if f not in ("output_shape", "note")]
    assert all(f.startswith(("float_model_", "packed_")) for f in counts)
    lines = format_summary(model_summary(_model(), (3, 6, 6))).splitlines()
    groups = [part.strip() for part in lines[0].split("|")]
    assert groups == ["layer  type             output", "float model", "packed model"]
    columns = [part.split() for part in lines[1].split("|")]
    assert columns[1] == ["params", "memory", "MACs"]
    assert " ".join(columns[2]) == "float params 1-bit params memory binary MACs float MACs"
    # The group titles sit above their columns.
    assert lines[0].index("| float model") == lines[1].index("|")
    assert lines[0].index("| packed model") == lines[1].rindex("|")
    conv2 = next(line for line in lines if line.startswith("conv2 "))
    float_cells, packed_cells = (part.split() for part in conv2.split("|")[1:])
    assert float_cells[0] == str(70 * 72 + 4) and packed_cells[:2] == ["21", str(3 * 70 * 72)]


def test_top_level_summary_prints_like_larq():
    model = _model()
    printed = []
    assert abcref.summary(model, (3, 6, 6), print_fn=printed.append) is None
    assert printed == [format_summary(model_summary(model, (3, 6, 6)))]


def test_summary_leaves_no_cache_behind():
    model = _model()
    model_summary(model, (3, 6, 6))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        model.backward(np.zeros((1, 10), np.float32))


# -- the summary counts the comparison systems ---------------------------------------------
TINY = {"arch": "small_cnn", "widths": [4, 4, 4, 4]}


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


# -- a residual network: every BN in front of an ABC conv is folded, and shown -------------


def test_summary_shows_the_batchnorm_folded_into_each_abc_conv_of_a_resnet():
    model = build_model(
        {"arch": "resnet18", "conv": {"kind": "abc", "M": 2, "N": 3}, "width": 4}
        | {"binary_shortcut": True}
    )
    rows = {r.name: r for r in model_summary(model, (3, 32, 32))}
    abc = [name for name, m in model.named_modules() if isinstance(m, ABCConv2d)]
    assert len(abc) == 16 + 3  # every 3x3 conv of the blocks and the three projections
    for name in abc:
        # conv_i reads bn_i; a binary projection reads bn1
        bn = name.replace("shortcut.conv", "bn1").replace(".conv", ".bn")
        assert rows[name].note == f"folds {bn}", name
    # bn1 of a projection block feeds conv1 and the binary projection: folded into both,
    # each with its own thresholds (N per input channel).
    assert rows["layer2.0.bn1"].note == "folded into layer2.0.conv1, layer2.0.shortcut.conv"
    assert rows["layer2.0.bn1"].packed_model_bytes == 0
    shortcut = rows["layer2.0.shortcut.conv"]
    assert shortcut.packed_float_params == 2 + 3 + 3 * 4  # alphas, betas, 3 x 4 thresholds
    # The classifier's BN and the projections' output BNs stay float.
    assert rows["bn_final"].note == "" and rows["bn_final"].packed_model_bytes > 0
    assert rows["layer2.0.shortcut.bn"].packed_model_bytes > 0
    text = format_summary(list(rows.values()))
    assert "  layer3.1.conv2: folds layer3.1.bn2" in text
    assert "  layer4.0.shortcut.conv: folds layer4.0.bn1" in text


def test_summary_of_a_compiled_resnet_names_every_fold():
    from abcref.compiler import compile_model

    model = build_model(
        {"arch": "cifar_resnet", "depth": 8, "width": 4, "conv": {"kind": "abc", "M": 2, "N": 2}}
    ).eval()
    float_rows = {r.name: r for r in model_summary(model, (3, 8, 8))}
    compiled = compile_model(model)
    bit_rows = {r.name: r for r in model_summary(compiled, (3, 8, 8))}
    assert bit_rows["layer2.0.bn1"].kind == "FoldedBatchNorm"
    assert bit_rows["layer2.0.bn1"].note == "folded into layer2.0.conv1"
    assert bit_rows["layer2.0.conv1"].note == "folds layer2.0.bn1"
    assert repr(compiled.layer2[0].bn1) == "FoldedBatchNorm(folded into layer2.0.conv1)"
    for name, row in float_rows.items():  # the same folds, the same packed costs
        assert bit_rows[name].note == row.note, name
        assert bit_rows[name].packed_model_bytes == row.packed_model_bytes, name
