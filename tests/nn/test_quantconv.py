"""Tests of abcref.nn.quantconv: the comparison systems' layers equal their ops, build models."""

import json

import numpy as np
import pytest

from abcref.nn import Conv2d, QuantConv2d, XNORConv2d, conv_layer
from abcref.nn.models import build_model
from abcref.nn.quantconv import PRESETS, apply_after_update
from abcref.ops import conv2d_forward
from abcref.quantize import (
    quantized_conv2d_backward,
    quantized_conv2d_forward,
    xnornet_conv2d_backward,
    xnornet_conv2d_forward,
)

GEOMETRY = {"stride": 2, "padding": 1}

# (layer, the op call it must equal)
LAYER_CASES = [
    (
        lambda d: QuantConv2d(3, 4, 3, weights="fp", activations="fp", dtype=d, **GEOMETRY),
        {"weights": "fp", "activations": "fp"},
    ),
    (
        lambda d: QuantConv2d(
            3, 4, 3, **{**PRESETS["bwn"], "weight_ste": "exact"}, dtype=d, **GEOMETRY
        ),  # fmt: skip
        {"weights": "bwn", "activations": "fp", "weight_ste": "exact"},
    ),
    (
        lambda d: QuantConv2d(
            3, 4, 3, **{**PRESETS["bnn"], "weight_ste": "clipped"}, dtype=d, **GEOMETRY
        ),  # fmt: skip
        {"weights": "sign", "activations": "sign", "weight_ste": "clipped"},
    ),
    (
        lambda d: QuantConv2d(3, 4, 3, **{**PRESETS["dorefa"], "bits": 3}, dtype=d, **GEOMETRY),
        {"weights": "dorefa", "activations": "dorefa", "bits": 3},
    ),
    (
        lambda d: conv_layer(
            {"kind": "dorefa", "bits": 2, "weight_bits": None}, 3, 4, 3, dtype=d, **GEOMETRY
        ),  # fmt: skip
        {"weights": "fp", "activations": "dorefa", "bits": 2},
    ),
    (
        lambda d: conv_layer(
            {"kind": "kbit", "K": 5, "weights": "bwn"}, 3, 4, 3, dtype=d, **GEOMETRY
        ),  # fmt: skip
        {"weights": "bwn", "activations": "dorefa", "bits": 5},
    ),
    (lambda d: XNORConv2d(3, 4, 3, dtype=d, **GEOMETRY), None),
]


@pytest.mark.parametrize("make, op_kwargs", LAYER_CASES)
def test_layer_equals_op_and_accumulates(make, op_kwargs):
    layer = make(np.float64)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6))
    W = layer.params["weight"]
    if op_kwargs is None:
        ref, cache = xnornet_conv2d_forward(x, W, **GEOMETRY)
        ref_grads = xnornet_conv2d_backward(np.ones_like(ref), cache)
    else:
        ref, cache = quantized_conv2d_forward(x, W, **GEOMETRY, **op_kwargs)
        ref_grads = quantized_conv2d_backward(np.ones_like(ref), cache)
    out = layer.forward(x)
    np.testing.assert_array_equal(out, ref)
    dout = np.ones_like(out)
    dx = layer.backward(dout)
    np.testing.assert_array_equal(dx, ref_grads["x"])
    np.testing.assert_array_equal(layer.grads["weight"], ref_grads["W"])
    layer.forward(x)
    layer.backward(dout)  # gradients accumulate
    np.testing.assert_allclose(layer.grads["weight"], 2 * ref_grads["W"], rtol=1e-15)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(dout)  # the cache is consumed


@pytest.mark.parametrize("make, _", LAYER_CASES)
def test_layer_float32(make, _):
    layer = make(np.float32)
    assert layer.params["weight"].dtype == np.float32
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 6)).astype(np.float32)
    out = layer.forward(x)
    assert out.dtype == np.float32
    assert layer.backward(np.ones_like(out)).dtype == np.float32
    assert layer.grads["weight"].dtype == np.float32
    with pytest.raises(TypeError, match="arrays must share one dtype"):
        layer.forward(x.astype(np.float64))


def _old_init(shape, rng=None):
    """The latent-weight draw of the removed per-system classes (and of ABCConv2d)."""
    o, c, kh, kw = shape
    bound = 1.0 / np.sqrt(c * kh * kw)
    rng = np.random.default_rng(0) if rng is None else rng
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


# Each preset against the keyword defaults of the class it replaces
# (BWNConv2d, BNNConv2d, DoReFaConv2d, KBitActConv2d(K=3)), spelled out.
OLD_SUBCLASS_DEFAULTS = {
    "bwn": {"weights": "bwn", "activations": "fp", "weight_ste": "paper", "zero_sign": 1},
    "bnn": {"weights": "sign", "activations": "sign", "weight_ste": "identity", "zero_sign": 1},
    "dorefa": {
        "weights": "dorefa",
        "activations": "dorefa",
        "bits": 4,
        "weight_bits": 1,
        "per_channel": False,
        "rounding": "half_even",
        "zero_sign": 1,
    },
    "kbit": {
        "weights": "fp",
        "activations": "dorefa",
        "bits": 3,
        "rounding": "half_even",
        "zero_sign": 1,
    },
}
KIND_CONFIGS = {"bwn": "bwn", "bnn": "bnn", "dorefa": "dorefa", "kbit": {"kind": "kbit", "K": 3}}


@pytest.mark.parametrize("kind", list(OLD_SUBCLASS_DEFAULTS))
def test_presets_equal_the_removed_subclasses(kind):
    extra = {"bits": 3} if kind == "kbit" else {}
    layer = QuantConv2d(3, 4, 3, padding=1, **PRESETS[kind], **extra)
    from_config = conv_layer(KIND_CONFIGS[kind], 3, 4, 3, padding=1)
    np.testing.assert_array_equal(layer.params["weight"], _old_init((4, 3, 3, 3)))
    np.testing.assert_array_equal(from_config.params["weight"], layer.params["weight"])
    x = np.random.default_rng(4).standard_normal((2, 3, 5, 5)).astype(np.float32)
    ref, cache = quantized_conv2d_forward(
        x, layer.params["weight"], padding=1, **OLD_SUBCLASS_DEFAULTS[kind]
    )
    dout = np.random.default_rng(5).standard_normal(ref.shape).astype(np.float32)
    ref_grads = quantized_conv2d_backward(dout, cache)
    for candidate in (layer, from_config):
        np.testing.assert_array_equal(candidate.forward(x), ref)
        np.testing.assert_array_equal(candidate.backward(dout), ref_grads["x"])
        np.testing.assert_array_equal(candidate.grads["weight"], ref_grads["W"])
        assert candidate.clip_weights == (kind == "bnn")  # BNN Algorithm 1 only


def test_fp_kind_is_a_plain_bias_free_conv_and_init_is_seeded():
    a = Conv2d(3, 4, 3, bias=False, init="pytorch")
    b = conv_layer("fp", 3, 4, 3, init="pytorch")
    assert type(b) is Conv2d and set(b.params) == {"weight"}
    np.testing.assert_array_equal(a.params["weight"], b.params["weight"])  # default_rng(0)
    # The removed FPConv2d drew exactly these weights.
    np.testing.assert_array_equal(a.params["weight"], _old_init((4, 3, 3, 3)))
    assert np.abs(a.params["weight"]).max() <= 1 / np.sqrt(27)
    x = np.random.default_rng(2).standard_normal((1, 3, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(
        a.forward(x), conv2d_forward(x, a.params["weight"])[0], rtol=1e-5, atol=1e-6
    )


def test_bnn_after_update_clips_latent_weights_only_for_bnn():
    bnn = QuantConv2d(2, 2, 1, **PRESETS["bnn"])
    bnn.params["weight"][...] = [[[[2.0]], [[-0.5]]], [[[-3.0]], [[1.0]]]]
    W_before = bnn.params["weight"]
    bnn.after_update()
    np.testing.assert_array_equal(bnn.params["weight"].ravel(), [1.0, -0.5, -1.0, 1.0])
    assert bnn.params["weight"] is W_before  # in place
    no_clip = QuantConv2d(1, 1, 1, **{**PRESETS["bnn"], "clip_weights": False})
    no_clip.params["weight"][...] = 5.0
    no_clip.after_update()
    assert no_clip.params["weight"].item() == 5.0
    bwn = QuantConv2d(1, 1, 1, **PRESETS["bwn"])
    bwn.params["weight"][...] = 5.0
    bwn.after_update()
    assert bwn.params["weight"].item() == 5.0


# The complete conv config of each kind (what checkpoints store), and its layer class.
@pytest.mark.parametrize(
    "conv, complete, cls, fed_by_activation",
    [
        ({"kind": "bwn"}, {"weight_ste": "paper", "zero_sign": 1}, QuantConv2d, True),
        (
            {"kind": "xnor"},
            {"weight_ste": "paper", "scale_input": True, "scale_grad": True, "zero_sign": 1},
            XNORConv2d,
            False,
        ),
        (
            {"kind": "bnn"},
            {"weight_ste": "identity", "clip_weights": True, "zero_sign": 1, "pad_value": 0.0},
            QuantConv2d,
            False,
        ),
        (
            {"kind": "dorefa", "bits": 4},
            {
                "bits": 4,
                "weight_bits": 1,
                "per_channel": False,
                "rounding": "half_even",
                "zero_sign": 1,
            },
            QuantConv2d,
            False,
        ),
        (
            {"kind": "kbit", "K": 2, "weights": "bwn"},
            {
                "K": 2,
                "weights": "bwn",
                "weight_ste": None,
                "rounding": "half_even",
                "zero_sign": 1,
            },
            QuantConv2d,
            False,
        ),
    ],
)
def test_kinds_build_models(conv, complete, cls, fed_by_activation):
    config = {"arch": "small_cnn", "conv": conv, "widths": [4, 6, 6], "pool_after": [1]}
    model = build_model(config)
    assert model.config["conv"] == {"kind": conv["kind"], **complete}
    assert json.loads(json.dumps(model.config)) == model.config
    names = list(model.children())
    assert ("act2" in names) == fed_by_activation
    assert type(model.children()["conv2"]) is cls
    x = np.random.default_rng(3).standard_normal((4, 1, 8, 8)).astype(np.float32)
    out = model.forward(x)
    assert out.shape == (4, 10)
    model.backward(np.ones_like(out))
    apply_after_update(model)
    rebuilt = build_model(model.config)
    for (name, p), (_, q) in zip(
        model.named_parameters(), rebuilt.named_parameters(), strict=True
    ):
        if name.startswith("conv"):
            np.testing.assert_array_equal(p, q)  # same seed, same weights


def test_bnn_model_weights_clipped_by_hook():
    model = build_model({"arch": "small_cnn", "conv": "bnn", "widths": [4, 4]})
    model.children()["conv2"].params["weight"][...] = 3.0
    apply_after_update(model)
    assert model.children()["conv2"].params["weight"].max() == 1.0
    assert model.children()["conv1"].params["weight"].max() < 3.0  # FP first layer untouched


def test_layer_bad_arguments():
    with pytest.raises(ValueError, match=r"conv\['kind'\] must be one of"):
        conv_layer("ternary", 3, 4, 3)
    with pytest.raises(ValueError, match="bits must be >= 1, got 0"):
        conv_layer({"kind": "kbit", "K": 0}, 3, 4, 3)
    with pytest.raises(ValueError, match="bits must be >= 1, got 0"):
        QuantConv2d(3, 4, 3, **PRESETS["kbit"], bits=0)
    with pytest.raises(TypeError, match="bits must be an integer, got 2.5"):
        QuantConv2d(3, 4, 3, **{**PRESETS["dorefa"], "bits": 2.5})
    with pytest.raises(ValueError, match="weight_ste must be one of"):
        XNORConv2d(3, 4, 3, weight_ste="sum")
    with pytest.raises(ValueError, match="weight_ste applies to weights='bwn' or 'sign' only"):
        QuantConv2d(3, 4, 3, **PRESETS["kbit"], bits=2, weight_ste="paper")
    with pytest.raises(ValueError, match="per_channel applies to weights='dorefa' only"):
        conv_layer({"kind": "dorefa", "weight_bits": None, "per_channel": True}, 3, 4, 3)
    with pytest.raises(TypeError, match="per_channel must be a bool, got 1"):
        QuantConv2d(3, 4, 3, **{**PRESETS["dorefa"], "per_channel": 1})
    with pytest.raises(TypeError, match="clip_weights must be a bool"):
        QuantConv2d(3, 4, 3, **{**PRESETS["bnn"], "clip_weights": 1})
    with pytest.raises(TypeError, match="scale_input must be a bool"):
        XNORConv2d(3, 4, 3, scale_input=None)
    with pytest.raises(ValueError, match="in_channels must be >= 1, got 0"):
        QuantConv2d(0, 4, 3, **PRESETS["bwn"])
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        QuantConv2d(3, 4, 3, **PRESETS["bwn"], dtype=np.int32)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        QuantConv2d(3, 4, 3, **PRESETS["bwn"], rng=0)
    with pytest.raises(ValueError, match="zero_sign must be 1 or -1"):
        QuantConv2d(3, 4, 3, weights="bwn", activations="sign", zero_sign=0)
    layer = QuantConv2d(3, 4, 3, **PRESETS["bwn"])
    with pytest.raises(ValueError, match="weight has 3 input channels"):
        layer.forward(np.zeros((1, 2, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="x must be finite"):
        layer.forward(np.full((1, 3, 5, 5), np.nan, dtype=np.float32))


@pytest.mark.parametrize("make, _", LAYER_CASES)
def test_forward_does_not_check_the_options_again(make, _, monkeypatch):
    layer = make(np.float64)

    def refuse(*args, **kwargs):
        raise AssertionError("options checked again")

    import abcref.quantize.conv as quant_conv
    import abcref.quantize.xnornet as xnornet

    for module, name in (
        (quant_conv, "check_quantizer_options"),
        (quant_conv, "quantizer_options"),
        (xnornet, "xnornet_options"),
    ):
        monkeypatch.setattr(module, name, refuse)
    x = np.random.default_rng(2).standard_normal((2, 3, 6, 6))
    out = layer.forward(x)
    layer.backward(np.ones_like(out))
