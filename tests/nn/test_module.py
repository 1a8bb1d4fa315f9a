"""Tests of abcref.nn.module: names, state, repr and the cache policy of every layer."""

import numpy as np
import pytest

from abcref.nn import (
    ABCConv2d,
    AvgPool2d,
    BatchNorm2d,
    Clip,
    Conv2d,
    Flatten,
    GlobalAvgPool2d,
    Identity,
    Linear,
    MaxPool2d,
    QuantConv2d,
    ReLU,
    Unflatten2d,
    XNORConv2d,
    build_model,
    cifar_resnet,
    small_cnn,
)
from abcref.nn.module import IncompatibleKeys, Module, Sequential
from abcref.nn.quantconv import PRESETS
from abcref.nn.resnet import BasicBlock, Bottleneck


class Scale(Module):
    def __init__(self, n):
        super().__init__()
        self.add_param("s", np.ones(n))
        self.buffers["count"] = np.zeros(1)

    def forward(self, x):
        self.x = x
        return x * self.params["s"]

    def backward(self, dout):
        self.grads["s"] += (dout * self.x).sum(axis=0)
        return dout * self.params["s"]


def test_sequential_names_state_roundtrip_and_modes():
    model = Sequential(Scale(3), Scale(3))
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.s", "1.s"]
    params = list(model.parameters())
    assert len(params) == 2 and all(
        p is q for p, (_, q) in zip(params, model.named_parameters(), strict=True)
    )
    assert [n for n, _ in model.named_grads()] == names
    assert [n for n, _ in model.named_buffers()] == ["0.count", "1.count"]
    assert model.num_parameters() == 6
    x = np.arange(6.0).reshape(2, 3)
    model[0].params["s"][...] = 2.0
    out = model.forward(x)
    np.testing.assert_array_equal(out, 2 * x)
    dx = model.backward(np.ones_like(out))
    np.testing.assert_array_equal(dx, 2 * np.ones_like(x))
    np.testing.assert_array_equal(model[1].grads["s"], (2 * x).sum(0))
    model.zero_grad()
    assert all(not g.any() for _, g in model.named_grads())
    state = model.state_dict()
    other = Sequential(Scale(3), Scale(3))
    ref = other[0].params["s"]
    assert other.load_state_dict(state) == IncompatibleKeys([], [])
    assert other[0].params["s"] is ref  # written in place
    np.testing.assert_array_equal(ref, 2.0)
    model.eval()
    assert not model.training and not model[1].training
    model.train()
    assert model[0].training


def test_load_state_dict_errors():
    model = Sequential(Scale(3))
    with pytest.raises(ValueError, match="missing \\['0.count'\\]"):
        model.load_state_dict({"0.s": np.ones(3)})
    with pytest.raises(ValueError, match="has shape \\(4,\\), the model expects \\(3,\\)"):
        model.load_state_dict({"0.s": np.ones(4), "0.count": np.zeros(1)})
    with pytest.raises(TypeError, match="has dtype float32"):
        model.load_state_dict({"0.s": np.ones(3, np.float32), "0.count": np.zeros(1)})


def test_failed_load_state_dict_leaves_the_model_untouched():
    model = Sequential(Scale(3), Scale(3))
    before = model.state_dict()
    bad = {"0.s": np.full(3, 7.0), "0.count": np.ones(1), "1.s": np.ones(4), "1.count": np.ones(1)}
    with pytest.raises(ValueError, match="1.s"):
        model.load_state_dict(bad)
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_load_state_dict_reports_missing_and_unexpected_keys_like_pytorch():
    model = Sequential(Scale(3), Scale(3))
    state = {"0.s": np.full(3, 4.0), "0.count": np.ones(1), "extra.s": np.ones(3)}
    with pytest.raises(
        ValueError, match=r"missing \['1.count', '1.s'\], unexpected \['extra.s'\]"
    ):
        model.load_state_dict(state)
    np.testing.assert_array_equal(model[0].params["s"], 1.0)  # strict: nothing written
    keys = model.load_state_dict(state, strict=False)
    assert isinstance(keys, IncompatibleKeys)
    assert keys.missing_keys == ["1.count", "1.s"] and keys.unexpected_keys == ["extra.s"]
    np.testing.assert_array_equal(model[0].params["s"], 4.0)  # the matching names load
    np.testing.assert_array_equal(model[0].buffers["count"], 1.0)
    np.testing.assert_array_equal(model[1].params["s"], 1.0)  # the missing ones stay


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("strict", [True, False])
def test_load_state_dict_refuses_non_finite_arrays_and_writes_nothing(bad, strict):
    model = Sequential(Scale(3), Scale(3))
    state = model.state_dict()
    state["0.s"] = np.full(3, 5.0)  # a good entry before the bad one
    state["1.s"] = np.array([1.0, bad, 2.0])
    with pytest.raises(ValueError, match=r"state_dict\['1.s'\] holds 1 NaN or Inf value"):
        model.load_state_dict(state, strict=strict)
    np.testing.assert_array_equal(model[0].params["s"], 1.0)
    state = model.state_dict()
    state["1.count"] = np.array([bad])  # buffers too
    with pytest.raises(ValueError, match="1.count"):
        model.load_state_dict(state, strict=strict)
    with pytest.raises(TypeError, match="state must be a mapping"):
        model.load_state_dict([("0.s", np.ones(3))])


def test_parameters_and_buffers_read_as_attributes_and_are_not_rebound():
    conv = Conv2d(2, 3, 3)
    assert conv.weight is conv.params["weight"] and conv.bias is conv.params["bias"]
    bn = BatchNorm2d(3)
    assert bn.running_var is bn.buffers["running_var"]
    with pytest.raises(AttributeError, match="cannot rebind parameter 'weight'"):
        conv.weight = np.zeros((3, 2, 3, 3), np.float32)
    conv.weight[...] = 0.0  # in place is the way (optimizers hold the array)
    assert not conv.params["weight"].any()
    bn.running_mean = np.ones(3, np.float32)  # a buffer may be replaced
    np.testing.assert_array_equal(bn.buffers["running_mean"], 1.0)
    with pytest.raises(AttributeError, match="'Conv2d' object has no attribute 'gamma'"):
        _ = conv.gamma


def test_pytorch_names_of_every_layer():
    assert set(Conv2d(2, 3, 3).params) == {"weight", "bias"}
    assert set(Linear(2, 3).params) == {"weight", "bias"}
    bn = BatchNorm2d(3)
    assert set(bn.params) == {"weight", "bias"}
    assert set(bn.buffers) == {"running_mean", "running_var"}
    assert set(ABCConv2d(2, 3, 3, M=2, N=2).params) == {"weight", "v", "beta"}
    assert set(ABCConv2d(2, 3, 3, M=2, N=2, train_shifts=True).params) == {
        "weight", "v", "beta", "u"
    }  # fmt: skip
    assert set(QuantConv2d(2, 3, 3, **PRESETS["bnn"]).params) == {"weight"}
    assert set(XNORConv2d(2, 3, 3).params) == {"weight"}
    names = [n for n, _ in small_cnn(widths=[4, 4]).named_parameters()]
    assert names[:4] == ["conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight"]
    assert names[-2:] == ["fc.weight", "fc.bias"]


def test_repr_prints_the_layer_tree_with_settings():
    model = small_cnn(widths=[4, 6], pool_after=[1])
    assert (
        repr(model)
        == """Sequential(
  (conv1): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
  (bn1): BatchNorm2d(4, momentum=0.1, eps=1e-05)
  (conv2): ABCConv2d(4, 6, kernel_size=(3, 3), M=3, N=3, stride=(1, 1), padding=(1, 1), \
weight_ste='paper', dtype=float32)
  (pool2): MaxPool2d(kernel=(2, 2), stride=(2, 2), padding=(0, 0))
  (bn2): BatchNorm2d(6, momentum=0.1, eps=1e-05)
  (gap): GlobalAvgPool2d()
  (fc): Linear(in_features=6, out_features=10, bias=True)
)"""
    )
    nested = repr(cifar_resnet(depth=8, width=2, conv="bnn"))
    assert (
        "  (layer2): Sequential(\n    (0): BasicBlock(\n      (bn1): BatchNorm2d(2, momentum=0.1"
        in nested
    )
    assert "(conv1): QuantConv2d(2, 4" in nested and "clip_weights=True" in nested
    assert "weights='sign', activations='sign'" in nested
    assert "      (shortcut): _SequentialShortcut(\n        (conv): Conv2d(2, 4" in nested
    assert repr(ReLU()) == "ReLU()" and repr(Clip(0.0, 1.0)) == "Clip(low=0.0, high=1.0)"
    assert str(XNORConv2d(2, 3, 3)).startswith(
        "XNORConv2d(2, 3, kernel_size=(3, 3), stride=(1, 1)"
    )


def _layers_and_inputs():
    rng = np.random.default_rng(0)
    image = rng.standard_normal((2, 4, 6, 6))
    d = np.float64
    return [
        (Conv2d(4, 3, 3, dtype=d), image),
        (Linear(4, 3, dtype=d), image[:, :, 0, 0]),
        (BatchNorm2d(4, dtype=d), image),
        (ABCConv2d(4, 3, 3, M=2, N=2, dtype=d), image),
        (QuantConv2d(4, 3, 3, **PRESETS["dorefa"], dtype=d), image),
        (XNORConv2d(4, 3, 3, dtype=d), image),
        (ReLU(), image),
        (Clip(), image),
        (MaxPool2d(2), image),
        (MaxPool2d(3, stride=2, padding=1), image),
        (AvgPool2d(2), image),
        (GlobalAvgPool2d(), image),
        (Flatten(), image),
        (Unflatten2d(), image[:, :, 0, 0]),
        (Identity(), image),
        (BasicBlock(4, 4, dtype=d), image),
        (Bottleneck(4, 1, dtype=d), image),
    ]


@pytest.mark.parametrize(
    "layer, x",
    _layers_and_inputs(),
    ids=lambda v: type(v).__name__ if isinstance(v, Module) else "",
)
def test_one_cache_policy_backward_consumes_the_forward(layer, x):
    name = type(layer).__name__
    with pytest.raises(RuntimeError, match=f"^{name}.backward called before forward"):
        layer.backward(np.ones((2, 3, 4, 4)))  # no forward yet
    out = layer.forward(x)
    dx = layer.backward(np.ones_like(out))
    assert dx.shape == x.shape
    assert layer._cache is None  # consumed
    with pytest.raises(RuntimeError, match=f"^{name}.backward called before forward"):
        layer.backward(np.ones_like(out))  # a second backward


def test_cache_policy_in_a_model_and_dout_checked_once():
    model = build_model({"arch": "small_cnn", "widths": [4, 4], "dtype": "float64"})
    x = np.random.default_rng(1).standard_normal((2, 1, 8, 8))
    out = model.forward(x)
    model.backward(np.ones_like(out))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        model.backward(np.ones_like(out))
    conv = model.conv2
    out = conv.forward(np.zeros((2, 4, 8, 8)))
    with pytest.raises(TypeError, match="dout must have dtype float64"):
        conv.backward(np.ones(out.shape, np.float32))
    out = conv.forward(np.zeros((2, 4, 8, 8)))
    with pytest.raises(ValueError, match="dout"):
        conv.backward(np.ones((2, 4, 8, 7)))
