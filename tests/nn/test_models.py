import json

import numpy as np
import pytest

from abcref.nn import (
    CONV_KINDS,
    ABCConv2d,
    Clip,
    Conv2d,
    ConvKindSpec,
    Linear,
    ReLU,
    abc_conv,
    build_model,
    cifar_resnet,
    small_cnn,
)
from abcref.train import Adam, init_from_full_precision, save_checkpoint, train_step


def child_names(model):
    return list(model.children())


def test_default_small_cnn_follows_experiments_md():
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


def test_cifar_resnet_structure():
    model = cifar_resnet(depth=14, width=4, conv=abc_conv(M=1, N=2))
    assert child_names(model) == ["conv1", "bn1", "layer1", "layer2", "layer3", "gap", "fc"]
    assert [len(getattr(model, f"layer{i}")) for i in (1, 2, 3)] == [2, 2, 2]
    first2 = model.layer2[0]
    assert first2.conv1.stride == (2, 2) and isinstance(first2.shortcut.conv, Conv2d)
    assert "shortcut" not in model.layer1[0].children()
    assert isinstance(first2.conv1, ABCConv2d) and "act1" not in first2.children()
    out = model.forward(np.zeros((2, 3, 8, 8), np.float32))
    assert out.shape == (2, 10)
    binary = cifar_resnet(depth=8, width=4, binary_shortcut=True)
    assert isinstance(binary.layer2[0].shortcut.conv, ABCConv2d)
    fp = cifar_resnet(depth=8, width=4, conv="fp")
    assert isinstance(fp.layer1[0].act1, ReLU)


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


def test_init_from_full_precision(tmp_path):
    base = {"arch": "small_cnn", "widths": [4, 6], "pool_after": [1]}
    fp = build_model({**base, "conv": "fp"})
    opt = Adam(fp, lr=0.05)
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 1, 8, 8)).astype(np.float32), rng.integers(0, 10, 8)
    for _ in range(3):
        train_step(fp, opt, x, y)
    abc = build_model({**base, "conv": abc_conv(M=3, N=3), "seed": 9})
    v_before = abc.conv2.params["v"].copy()
    report = init_from_full_precision(abc, fp)
    np.testing.assert_array_equal(abc.conv2.params["weight"], fp.conv2.params["weight"])
    np.testing.assert_array_equal(abc.conv1.params["weight"], fp.conv1.params["weight"])
    np.testing.assert_array_equal(abc.bn2.buffers["running_var"], fp.bn2.buffers["running_var"])
    np.testing.assert_array_equal(abc.conv2.params["v"], v_before)
    assert "conv2.weight" in report["copied"] and report["kept"] == ["conv2.beta", "conv2.v"]
    assert report["unused"] == []

    path = save_checkpoint(tmp_path / "fp.npz", fp, epoch=3)
    binary_ends = build_model({**base, "conv": abc_conv(M=2, N=2), "first_last_fp": True})
    init_from_full_precision(binary_ends, path)
    np.testing.assert_array_equal(binary_ends.fc.params["weight"], fp.fc.params["weight"])

    all_binary = build_model({**base, "conv": abc_conv(M=2, N=2), "first_last_fp": False})
    with pytest.raises(ValueError, match=r"differ in \['first_last_fp'\]"):
        init_from_full_precision(all_binary, fp)
    all_binary.config = None  # skip the config check: the arrays still correspond
    report = init_from_full_precision(all_binary, fp)
    np.testing.assert_array_equal(
        all_binary.fc.conv.params["weight"][:, :, 0, 0], fp.fc.params["weight"]
    )
    assert report["unused"] == ["fc.bias"]

    wider = build_model({**base, "widths": [4, 8], "conv": abc_conv()})
    wider.config = None
    with pytest.raises(ValueError, match="architectures do not correspond"):
        init_from_full_precision(wider, fp)


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
