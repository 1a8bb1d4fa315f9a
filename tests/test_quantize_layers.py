"""Layers of the comparison systems: equal to their ops, usable as model kinds."""

import json

import numpy as np
import pytest

from abcref.nn.baselines import (
    BASELINE_KINDS,
    BNNConv2d,
    BWNConv2d,
    DoReFaConv2d,
    FPConv2d,
    KBitActConv2d,
    QuantConv2d,
    XNORConv2d,
    apply_after_update,
    baseline_conv2d,
    kind_defaults,
    normalise_kind_options,
)
from abcref.nn.models import build_model
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
        lambda d: FPConv2d(3, 4, 3, dtype=d, **GEOMETRY),
        {"weights": "fp", "activations": "fp"},
    ),
    (
        lambda d: BWNConv2d(3, 4, 3, weight_ste="exact", dtype=d, **GEOMETRY),
        {"weights": "bwn", "activations": "fp", "weight_ste": "exact"},
    ),
    (
        lambda d: BNNConv2d(3, 4, 3, weight_ste="clipped", dtype=d, **GEOMETRY),
        {"weights": "sign", "activations": "sign", "weight_ste": "clipped"},
    ),
    (
        lambda d: DoReFaConv2d(3, 4, 3, bits=3, dtype=d, **GEOMETRY),
        {"weights": "dorefa", "activations": "dorefa", "bits": 3},
    ),
    (
        lambda d: DoReFaConv2d(3, 4, 3, bits=2, weight_bits=None, dtype=d, **GEOMETRY),
        {"weights": "fp", "activations": "dorefa", "bits": 2},
    ),
    (
        lambda d: KBitActConv2d(3, 4, 3, K=5, weights="bwn", dtype=d, **GEOMETRY),
        {"weights": "bwn", "activations": "dorefa", "bits": 5},
    ),
    (lambda d: XNORConv2d(3, 4, 3, dtype=d, **GEOMETRY), None),
]


@pytest.mark.parametrize("make, op_kwargs", LAYER_CASES)
def test_layer_equals_op_and_accumulates(make, op_kwargs):
    layer = make(np.float64)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6))
    W = layer.params["W"]
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
    np.testing.assert_array_equal(layer.grads["W"], ref_grads["W"])
    layer.forward(x)
    layer.backward(dout)  # gradients accumulate
    np.testing.assert_allclose(layer.grads["W"], 2 * ref_grads["W"], rtol=1e-15)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(dout)  # the cache is consumed


@pytest.mark.parametrize("make, _", LAYER_CASES)
def test_layer_float32(make, _):
    layer = make(np.float32)
    assert layer.params["W"].dtype == np.float32
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 6)).astype(np.float32)
    out = layer.forward(x)
    assert out.dtype == np.float32
    assert layer.backward(np.ones_like(out)).dtype == np.float32
    assert layer.grads["W"].dtype == np.float32
    with pytest.raises(TypeError, match="arrays must share one dtype"):
        layer.forward(x.astype(np.float64))


def test_fp_layer_is_plain_conv_and_init_is_seeded():
    a, b = FPConv2d(3, 4, 3), FPConv2d(3, 4, 3)
    np.testing.assert_array_equal(a.params["W"], b.params["W"])  # default_rng(0)
    assert np.abs(a.params["W"]).max() <= 1 / np.sqrt(27)
    x = np.random.default_rng(2).standard_normal((1, 3, 5, 5)).astype(np.float32)
    expected = conv2d_forward(x, a.params["W"])[0]
    np.testing.assert_allclose(a.forward(x), expected, rtol=1e-12, atol=1e-12)


def test_bnn_after_update_clips_latent_weights_only_for_bnn():
    bnn = BNNConv2d(2, 2, 1)
    bnn.params["W"][...] = [[[[2.0]], [[-0.5]]], [[[-3.0]], [[1.0]]]]
    W_before = bnn.params["W"]
    bnn.after_update()
    np.testing.assert_array_equal(bnn.params["W"].ravel(), [1.0, -0.5, -1.0, 1.0])
    assert bnn.params["W"] is W_before  # in place
    no_clip = BNNConv2d(1, 1, 1, clip_weights=False)
    no_clip.params["W"][...] = 5.0
    no_clip.after_update()
    assert no_clip.params["W"].item() == 5.0
    bwn = BWNConv2d(1, 1, 1)
    bwn.params["W"][...] = 5.0
    bwn.after_update()
    assert bwn.params["W"].item() == 5.0


@pytest.mark.parametrize(
    "conv, fed_by_activation",
    [
        ({"kind": "bwn"}, True),
        ({"kind": "xnor"}, False),
        ({"kind": "bnn"}, False),
        ({"kind": "dorefa", "bits": 4}, False),
        ({"kind": "kbit", "K": 2, "weights": "bwn"}, False),
    ],
)
def test_kinds_build_models(conv, fed_by_activation):
    config = {"arch": "small_cnn", "conv": conv, "widths": [4, 6, 6], "pool_after": [1]}
    model = build_model(config)
    assert model.config["conv"] == {"kind": conv["kind"], **kind_defaults(conv["kind"]), **conv}
    assert json.loads(json.dumps(model.config)) == model.config
    names = list(model.children())
    assert ("act2" in names) == fed_by_activation
    assert type(model.children()["conv2"]) is BASELINE_KINDS[conv["kind"]]
    x = np.random.default_rng(3).standard_normal((4, 1, 8, 8)).astype(np.float32)
    out = model.forward(x)
    assert out.shape == (4, 10)
    model.backward(np.ones_like(out))
    apply_after_update(model)
    rebuilt = build_model(model.config)
    for (name, p, _), (_, q, _) in zip(
        model.named_parameters(), rebuilt.named_parameters(), strict=True
    ):
        if name.startswith("conv"):
            np.testing.assert_array_equal(p, q)  # same seed, same weights


def test_bnn_model_weights_clipped_by_hook():
    model = build_model({"arch": "small_cnn", "conv": "bnn", "widths": [4, 4]})
    model.children()["conv2"].params["W"][...] = 3.0
    apply_after_update(model)
    assert model.children()["conv2"].params["W"].max() == 1.0
    assert model.children()["conv1"].params["W"].max() < 3.0  # FP first layer untouched


def test_layer_bad_arguments():
    with pytest.raises(ValueError, match="kind must be one of"):
        baseline_conv2d("ternary", 3, 4, 3)
    with pytest.raises(ValueError, match="bits must be >= 1, got 0"):
        KBitActConv2d(3, 4, 3, K=0)
    with pytest.raises(TypeError, match="bits must be an integer, got 2.5"):
        DoReFaConv2d(3, 4, 3, bits=2.5)
    with pytest.raises(ValueError, match="weight_ste must be one of"):
        XNORConv2d(3, 4, 3, weight_ste="sum")
    with pytest.raises(ValueError, match="weight_ste applies to weights='bwn' or 'sign' only"):
        KBitActConv2d(3, 4, 3, K=2, weights="fp", weight_ste="paper")
    with pytest.raises(ValueError, match="per_channel applies to weights='dorefa' only"):
        DoReFaConv2d(3, 4, 3, weight_bits=None, per_channel=True)
    with pytest.raises(TypeError, match="per_channel must be a bool, got 1"):
        DoReFaConv2d(3, 4, 3, per_channel=1)
    with pytest.raises(TypeError, match="clip_weights must be a bool"):
        BNNConv2d(3, 4, 3, clip_weights=1)
    with pytest.raises(TypeError, match="scale_input must be a bool"):
        XNORConv2d(3, 4, 3, scale_input=None)
    with pytest.raises(ValueError, match="in_channels must be >= 1, got 0"):
        BWNConv2d(0, 4, 3)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        BWNConv2d(3, 4, 3, dtype=np.int32)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        BWNConv2d(3, 4, 3, rng=0)
    with pytest.raises(ValueError, match="zero_sign must be 1 or -1"):
        QuantConv2d(3, 4, 3, weights="bwn", activations="sign", zero_sign=0)
    layer = BWNConv2d(3, 4, 3)
    with pytest.raises(ValueError, match="W has 3 input channels"):
        layer.forward(np.zeros((1, 2, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="x must be finite"):
        layer.forward(np.full((1, 3, 5, 5), np.nan, dtype=np.float32))


def test_kind_options_bad():
    with pytest.raises(ValueError, match=r"conv kind 'dorefa' got unknown options \['M'\]"):
        normalise_kind_options("dorefa", {"M": 3})
    with pytest.raises(ValueError, match="conv kind 'kbit' needs"):
        normalise_kind_options("kbit", {})
    with pytest.raises(ValueError, match="bits must be >= 1"):
        build_model({"arch": "small_cnn", "conv": {"kind": "dorefa", "bits": 0}})
