"""Tests of abcref.nn.config: conv kinds are a plain mapping; options checked without a layer."""

import pytest

from abcref.nn import CONV_KINDS, Clip, Conv2d, ConvKindSpec, QuantConv2d, XNORConv2d, build_model
from abcref.nn.config import normalise_conv


def test_a_new_conv_kind_is_one_dict_entry_and_needs_no_builder_change():
    made = []

    def make_conv(options, c_in, c_out, k, *, stride, padding, init, rng, dtype):
        made.append(options["scale"])
        return Conv2d(c_in, c_out, k, stride=stride, padding=padding, bias=False,
                      rng=rng, dtype=dtype)  # fmt: skip

    CONV_KINDS["test_kind"] = ConvKindSpec(
        make=make_conv, options=dict, binarizes_input=lambda options: False
    )
    try:
        config = {"arch": "small_cnn", "widths": [3, 3], "conv": {"kind": "test_kind", "scale": 2}}
        model = build_model({**config, "activation": "hardtanh"})
        assert made == [2] and isinstance(model.act2, Clip)  # the config's activation feeds it
        assert (model.act2.low, model.act2.high) == (-1.0, 1.0)
        assert model.config["conv"] == {"kind": "test_kind", "scale": 2}
        CONV_KINDS["test_kind"] = CONV_KINDS["test_kind"]._replace(
            binarizes_input=lambda options: True
        )
        assert "act2" not in build_model(config).children()  # it binarises its own input
    finally:
        del CONV_KINDS["test_kind"]


def test_kind_options_bad():
    with pytest.raises(ValueError, match=r"conv kind 'dorefa' got unknown options \['M'\]"):
        normalise_conv({"kind": "dorefa", "M": 3})
    with pytest.raises(ValueError, match="conv kind 'kbit' needs"):
        normalise_conv({"kind": "kbit"})
    with pytest.raises(ValueError, match="bits must be >= 1"):
        build_model({"arch": "small_cnn", "conv": {"kind": "dorefa", "bits": 0}})
    with pytest.raises(TypeError, match="scale_grad must be a bool"):
        normalise_conv({"kind": "xnor", "scale_grad": "yes"})
    with pytest.raises(ValueError, match="pad_value must be finite"):
        normalise_conv({"kind": "bnn", "pad_value": float("nan")})


def test_kind_options_are_validated_without_building_a_layer(monkeypatch):
    def no_layer(*args, **kwargs):
        raise AssertionError("validating options must not build a layer")

    monkeypatch.setattr(QuantConv2d, "__init__", no_layer)
    monkeypatch.setattr(XNORConv2d, "__init__", no_layer)
    for kind in ("bwn", "bnn", "dorefa", "xnor"):
        assert normalise_conv(kind)["kind"] == kind
    assert normalise_conv({"kind": "kbit", "K": 2})["K"] == 2
    assert set(CONV_KINDS) == {"fp", "abc", "bwn", "xnor", "bnn", "dorefa", "kbit"}
