"""Tests of abcref.nn.models: small_cnn, build_model and whole models.

The default model, its config round trip and its PyTorch names; whole models'
gradients against finite differences and against the op calls chained by hand.
"""

import json

import numpy as np
import pytest

from abcref import ops
from abcref.fast import conv as fast_conv
from abcref.fast.abcconv import abc_conv2d_backward, abc_conv2d_forward
from abcref.nn import (
    ABCConv2d,
    Clip,
    Conv2d,
    Linear,
    ReLU,
    abc_conv,
    build_model,
    cifar_resnet,
    small_cnn,
)
from tests.nn._gradients import check_every_gradient

RNG = np.random.default_rng(1234)


def randn(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def child_names(model):
    return list(model.children())


def test_default_small_cnn_layers_order_and_config():
    model = small_cnn()
    assert child_names(model) == [
        "conv1", "bn1", "conv2", "bn2", "conv3", "pool3", "bn3", "conv4", "bn4", "gap", "fc",
    ]  # fmt: skip
    assert isinstance(model.conv1, Conv2d) and isinstance(model.fc, Linear)
    assert all(isinstance(getattr(model, f"conv{k}"), ABCConv2d) for k in (2, 3, 4))
    assert (model.conv2.M, model.conv2.N) == (3, 3)
    assert model.conv2.params["weight"].shape == (64, 32, 3, 3)
    assert model.config == {
        "arch": "small_cnn", "in_channels": 1, "num_classes": 10,
        "widths": [32, 64, 64, 64], "pool_after": [2],
        "conv": {"kind": "abc", "M": 3, "N": 3, "per_channel": False, "weight_ste": "paper"},
        "first_last_fp": True, "activation": "relu", "init": "he", "bn_momentum": 0.1,
        "bn_eps": 1e-5, "dtype": "float32", "seed": 0,
    }  # fmt: skip
    assert model.forward(np.zeros((2, 1, 8, 8), np.float32)).shape == (2, 10)


def test_fp_baseline_differs_only_at_conv_inputs():
    fp = small_cnn(conv="fp")
    assert child_names(fp) == [
        "conv1", "bn1", "act2", "conv2", "bn2", "act3", "conv3", "pool3", "bn3", "act4",
        "conv4", "bn4", "gap", "fc",
    ]  # fmt: skip
    assert isinstance(fp.act2, ReLU) and isinstance(fp.conv2, Conv2d)
    assert "bias" not in fp.conv2.params
    abc = small_cnn()
    fp_params = {n: p.shape for n, p in fp.named_parameters()}
    abc_params = {n: p.shape for n, p in abc.named_parameters()}
    assert {n: s for n, s in abc_params.items() if not n.endswith((".v", ".beta"))
            or n.startswith("bn")} == fp_params  # fmt: skip
    assert isinstance(small_cnn(conv="fp", activation="clip").act2, Clip)
    weight_only = small_cnn(conv=abc_conv(M=2, N=None))
    assert isinstance(weight_only.act2, ReLU) and "v" not in weight_only.conv2.params


def test_config_round_trip_rebuilds_identical_model():
    model = small_cnn(conv=abc_conv(M=2, N=4, per_channel=True), seed=3, widths=[5, 6])
    text = json.dumps(model.config)
    again = build_model(json.loads(text))
    assert again.config == model.config
    for (n, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items(), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=n)
    other = build_model({**model.config, "seed": 4})
    assert not np.array_equal(other.conv1.params["weight"], model.conv1.params["weight"])


def test_first_last_binary():
    model = small_cnn(first_last_fp=False, widths=[4, 4], pool_after=[])
    assert isinstance(model.conv1, ABCConv2d)
    assert child_names(model.fc) == ["unflatten", "conv", "flatten"]
    assert isinstance(model.fc.conv, ABCConv2d)
    assert model.fc.conv.params["weight"].shape == (10, 4, 1, 1)
    x = np.random.default_rng(0).random((3, 1, 8, 8)).astype(np.float32)
    out = model.forward(x)
    assert out.shape == (3, 10)
    assert model.backward(np.ones_like(out)).shape == x.shape


def test_bad_configs():
    with pytest.raises(ValueError, match=r"config\['arch'\] must be one of"):
        build_model({"arch": "vgg"})
    with pytest.raises(TypeError, match="config must be a dict"):
        build_model("small_cnn")
    with pytest.raises(ValueError, match=r"unknown model config keys \['depth'\]"):
        build_model({"arch": "small_cnn", "depth": 20})
    with pytest.raises(ValueError, match=r"conv\['kind'\] must be one of"):
        small_cnn(conv="ternary")
    with pytest.raises(ValueError, match=r"unknown options \['K'\]"):
        small_cnn(conv={"kind": "abc", "K": 2})
    with pytest.raises(ValueError, match=r"conv\['M'\] must be >= 1"):
        small_cnn(conv={"kind": "abc", "M": 0})
    with pytest.raises(ValueError, match="conv kind 'fp' takes no options"):
        small_cnn(conv={"kind": "fp", "M": 2})
    with pytest.raises(ValueError, match="depth must be 6n"):
        cifar_resnet(depth=10)
    with pytest.raises(ValueError, match="widths must be a non-empty list"):
        small_cnn(widths=[])
    with pytest.raises(ValueError, match=r"pool_after\[0\] = 4 but there are only 4 convs"):
        small_cnn(pool_after=[4])
    with pytest.raises(ValueError, match="dtype must be one of"):
        small_cnn(dtype="float16")
    with pytest.raises(TypeError, match="JSON-serialisable"):
        build_model({"arch": "small_cnn", "seed": np.int64(1).item(), "widths": [np.zeros(1)]})
    with pytest.raises(ValueError, match="activation must be one of"):
        small_cnn(activation="gelu")


def test_a_pytorch_state_dict_saved_with_numpy_loads_by_name(tmp_path):
    torch = pytest.importorskip("torch")
    from collections import OrderedDict

    tnn = torch.nn
    torch.manual_seed(0)
    net = tnn.Sequential(
        OrderedDict(
            conv1=tnn.Conv2d(1, 4, 3, padding=1, bias=False),
            bn1=tnn.BatchNorm2d(4),
            act2=tnn.ReLU(),
            conv2=tnn.Conv2d(4, 6, 3, padding=1, bias=False),
            pool2=tnn.MaxPool2d(2),
            bn2=tnn.BatchNorm2d(6),
            gap=tnn.AdaptiveAvgPool2d(1),
            flatten=tnn.Flatten(),
            fc=tnn.Linear(6, 10),
        )
    )
    with torch.no_grad():
        for bn in (net.bn1, net.bn2):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_()
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2.0)
    net.eval()
    np.savez(tmp_path / "torch.npz", **{k: v.numpy() for k, v in net.state_dict().items()})

    model = small_cnn(conv="fp", widths=[4, 6], pool_after=[1]).eval()
    with np.load(tmp_path / "torch.npz") as archive:
        state = dict(archive)
    with pytest.raises(ValueError, match="unexpected"):
        model.load_state_dict(state)  # strict: PyTorch's BN step counters are not ours
    keys = model.load_state_dict(state, strict=False)
    assert keys.missing_keys == []
    assert keys.unexpected_keys == ["bn1.num_batches_tracked", "bn2.num_batches_tracked"]
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.forward(x), expected, rtol=1e-5, atol=1e-5)


def loss_of(model, x, y):
    logits = model.forward(x)
    return ops.softmax_cross_entropy_forward(logits, y)


def backprop(model, x, y):
    model.zero_grad()
    loss, cache = loss_of(model, x, y)
    return model.backward(ops.softmax_cross_entropy_backward(1.0, cache))


@pytest.mark.parametrize("arch", ["small_cnn", "cifar_resnet"])
@pytest.mark.parametrize("training", [True, False])
def test_full_precision_model_matches_finite_differences(arch, training):
    """dx and every parameter's gradient of a whole model, by central differences."""
    if arch == "small_cnn":
        model = build_model(
            {"arch": arch, "conv": "fp", "widths": [3, 4], "pool_after": [1], "dtype": "float64"}
        )
        x = randn(4, 1, 6, 6)
    else:
        model = cifar_resnet(depth=8, width=2, conv="fp", dtype="float64")
        x = randn(3, 3, 4, 4)
    for name, buffer in model.named_buffers():  # non-trivial statistics for eval mode
        buffer[...] = (
            RNG.uniform(0.5, 2.0, buffer.shape) if "var" in name else randn(*buffer.shape)
        )
    model.train(training)
    y = np.array([1, 0, 3, 2][: len(x)])
    dx = backprop(model, x, y)
    checked = check_every_gradient(model, lambda: float(loss_of(model, x, y)[0]), dx, x)
    assert len(checked) == 1 + len(list(model.named_parameters()))


def test_abc_model_backward_equals_op_chain():
    """Model-level backward == the pure functions chained by hand."""
    model = build_model(
        {
            "arch": "small_cnn",
            "widths": [3, 4],
            "pool_after": [1],
            "conv": {"kind": "abc", "M": 2, "N": 3},
            "dtype": "float64",
        }
    )
    x, y = randn(5, 1, 6, 6), np.array([0, 1, 2, 3, 4])
    dx = backprop(model, x, y)
    p = dict(model.named_parameters())
    grads = dict(model.named_grads())

    def bn(x, name, c):
        return ops.batchnorm2d_forward(
            x,
            p[f"{name}.weight"],
            p[f"{name}.bias"],
            running_mean=np.zeros(c),
            running_var=np.ones(c),
            training=True,
        )

    h1, c1 = fast_conv.conv2d_forward(x, p["conv1.weight"], padding=(1, 1))
    h2, c2 = bn(h1, "bn1", 3)
    conv2 = model.conv2
    h3, c3 = abc_conv2d_forward(
        h2,
        p["conv2.weight"],
        p["conv2.v"],
        p["conv2.beta"],
        M=2,
        padding=(1, 1),
        shifts=conv2.shifts,
    )
    h4, c4 = ops.maxpool2d_forward(h3, kernel=2)
    h5, c5 = bn(h4, "bn2", 4)
    h6, c6 = ops.global_avgpool_forward(h5)
    h7, c7 = ops.linear_forward(h6, p["fc.weight"], p["fc.bias"])
    _, cl = ops.softmax_cross_entropy_forward(h7, y)
    d7 = ops.softmax_cross_entropy_backward(1.0, cl)
    d6, dfw, dfb = ops.linear_backward(d7, c7)
    d5 = ops.global_avgpool_backward(d6, c6)
    d4, dg2, db2 = ops.batchnorm2d_backward(d5, c5)
    d3 = ops.maxpool2d_backward(d4, c4)
    g3 = abc_conv2d_backward(d3, c3)
    d2, dg1, db1 = ops.batchnorm2d_backward(g3["R"], c2)
    d1, dw1, _ = fast_conv.conv2d_backward(d2, c1)
    np.testing.assert_array_equal(dx, d1)
    expected = {
        "fc.weight": dfw,
        "fc.bias": dfb,
        "bn2.weight": dg2,
        "bn2.bias": db2,
        "conv2.weight": g3["W"],
        "conv2.v": g3["v"],
        "conv2.beta": g3["beta"],
        "bn1.weight": dg1,
        "bn1.bias": db1,
        "conv1.weight": dw1,
    }
    assert set(expected) == set(grads)  # every parameter of the model
    for name, ref in expected.items():
        np.testing.assert_array_equal(grads[name], ref, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_models_preserve_dtype(dtype):
    name = np.dtype(dtype).name
    for model in (
        build_model({"arch": "small_cnn", "widths": [4, 4], "dtype": name, "pool_after": []}),
        cifar_resnet(depth=8, width=2, dtype=name, conv={"kind": "abc", "M": 1, "N": 1}),
    ):
        c = model.config["in_channels"]
        out = model.forward(randn(2, c, 8, 8, dtype=dtype))
        assert out.dtype == dtype
        assert model.backward(np.ones_like(out)).dtype == dtype
        assert all(p.dtype == dtype for p in model.parameters())
