"""Tests of abcref.nn.resnet: the ImageNet ResNet-18/34/50 and the CIFAR ResNet.

ResNet-18/34/50 (Table 2) against an independent description of He et
al.'s Table 1: parameter and MAC counts, layer order, shapes, compiled
inference; the blocks' gradients; BasicBlock and cifar_resnet against the
chain of op calls they stand for.
"""

import numpy as np
import pytest

from abcref import ops
from abcref.compiler import BitABCConv2d, compile_model
from abcref.compiler.summary import model_summary
from abcref.fast import conv as fast_conv
from abcref.fast.abcconv import abc_conv2d_backward, abc_conv2d_forward
from abcref.gradcheck import check_gradient
from abcref.nn import ABCConv2d, BasicBlock, ReLU, abc_conv, build_model, cifar_resnet
from abcref.nn.layers import Conv2d, Linear, MaxPool2d
from abcref.nn.resnet import Bottleneck

RNG = np.random.default_rng(2024)

# torchvision.models.resnet{18,34,50}(): sum(p.numel() for p in m.parameters()).
TORCHVISION_PARAMS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032}


# -- an independent description of He et al.'s Table 1 ---------------------------


def _out(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def reference_layers(arch, hw=224, classes=1000, width=64):
    """(kind, c_in, c_out, k, stride, out_hw) of every conv and the fc, from the paper's table.

    Written from He et al. (2016) Table 1 without looking at the model: a
    7x7/2 stem, a 3x3/2 pad-1 max-pool, four stages, projections where the
    shape changes, global pooling and a 1000-way fc.
    """
    layers = []
    size = _out(hw, 7, 2, 3)
    layers.append(("conv", 3, width, 7, 2, size))
    size = _out(size, 3, 2, 1)
    blocks = {"resnet18": [2, 2, 2, 2], "resnet34": [3, 4, 6, 3], "resnet50": [3, 4, 6, 3]}[arch]
    c = width
    for stage, n in enumerate(blocks):
        w = width * 2**stage
        for j in range(n):
            s = 2 if stage > 0 and j == 0 else 1
            out_size = _out(size, 3, s, 1)
            if arch == "resnet50":
                c_out = 4 * w
                layers.append(("conv", c, w, 1, 1, size))
                layers.append(("conv", w, w, 3, s, out_size))
                layers.append(("conv", w, c_out, 1, 1, out_size))
            else:
                c_out = w
                layers.append(("conv", c, w, 3, s, out_size))
                layers.append(("conv", w, w, 3, 1, out_size))
            if s != 1 or c != c_out:
                layers.append(("conv", c, c_out, 1, s, out_size))
            c, size = c_out, out_size
    layers.append(("fc", c, classes, 1, 1, 1))
    return layers


def reference_macs(arch, hw=224, **kw):
    return sum(ci * co * k * k * o * o for _, ci, co, k, _, o in reference_layers(arch, hw, **kw))


def reference_params(arch, **kw):
    layers = reference_layers(arch, **kw)
    weights = sum(ci * co * k * k for _, ci, co, k, _, _ in layers)
    bns = sum(2 * co for kind, _, co, _, _, _ in layers if kind == "conv")  # gamma, beta
    return weights + bns + layers[-1][2]  # + fc bias


# -- parameter counts ---------------------------------------------------------------


@pytest.mark.parametrize("arch", list(TORCHVISION_PARAMS))
def test_full_precision_parameter_counts_equal_torchvision(arch):
    model = build_model({"arch": arch, "conv": "fp"})
    assert model.num_parameters() == TORCHVISION_PARAMS[arch] == reference_params(arch)
    assert model.config["num_classes"] == 1000 and model.config["in_channels"] == 3


@pytest.mark.parametrize(
    ("arch", "binary_convs"), [("resnet18", 16), ("resnet34", 32), ("resnet50", 48)]
)
def test_abc_adds_v_and_beta_per_binary_conv(arch, binary_convs):
    model = build_model({"arch": arch, "conv": {"kind": "abc", "M": 3, "N": 5}, "width": 8})
    fp = build_model({"arch": arch, "conv": "fp", "width": 8})
    abc = [m for _, m in model.named_modules() if isinstance(m, ABCConv2d)]
    assert len(abc) == binary_convs  # projections stay FP by default
    extra = sum(m.params["v"].size + m.params["beta"].size for m in abc)
    assert extra == 2 * 5 * binary_convs
    assert model.num_parameters() == fp.num_parameters() + extra


def test_binary_shortcut_and_first_last_options():
    model = build_model({"arch": "resnet18", "conv": "xnor", "width": 4, "binary_shortcut": True})
    names = {n: type(m).__name__ for n, m in model.named_modules()}
    assert names["layer2.0.shortcut.conv"] == "XNORConv2d" and names["conv1"] == "Conv2d"
    assert names["fc"] == "Linear"
    inner = build_model(
        {
            "arch": "resnet18",
            "conv": {"kind": "abc", "M": 1, "N": 1},
            "width": 4,
            "first_last_fp": False,
            "num_classes": 10,
        }
    )
    assert isinstance(inner.conv1, ABCConv2d) and isinstance(inner.fc.conv, ABCConv2d)
    out = inner.eval().forward(RNG.standard_normal((1, 3, 32, 32)).astype(np.float32))
    assert out.shape == (1, 10)


# -- layer order and shapes -------------------------------------------------------------


def test_stem_order_pool_before_bn():
    model = build_model({"arch": "resnet50", "conv": {"kind": "abc", "M": 1, "N": 1}, "width": 4})
    top = list(model.children())
    assert top[:3] == ["conv1", "pool1", "bn1"] and top[-2:] == ["gap", "fc"]
    block = model.layer1[0]
    assert list(block.children()) == [
        "conv1",
        "bn1",
        "conv2",
        "bn2",
        "conv3",
        "bn3",
        "shortcut",
    ]  # ABC binarises its own input: no activation modules
    fp_block = build_model({"arch": "resnet50", "conv": "fp", "width": 4}).layer1[1]
    assert list(fp_block.children()) == [
        "act1",
        "conv1",
        "bn1",
        "act2",
        "conv2",
        "bn2",
        "act3",
        "conv3",
        "bn3",
    ]


@pytest.mark.parametrize("arch", ["resnet18", "resnet34", "resnet50"])
@pytest.mark.parametrize("kind", ["fp", "bwn", "bnn", {"kind": "dorefa", "bits": 4}])
def test_output_shapes_small_width(arch, kind):
    model = build_model({"arch": arch, "conv": kind, "width": 4, "num_classes": 7}).eval()
    x = RNG.standard_normal((2, 3, 64, 64)).astype(np.float32)
    out = model.forward(x)
    assert out.shape == (2, 7) and out.dtype == np.float32 and np.isfinite(out).all()
    rows = {r.name: r.output_shape for r in model_summary(model, (3, 64, 64))}
    expansion = 4 if arch == "resnet50" else 1
    assert rows["conv1"] == (4, 32, 32) and rows["pool1"] == (4, 16, 16)
    last = "layer4.1" if arch == "resnet18" else "layer4.2"
    assert rows[f"{last}.bn2" if expansion == 1 else f"{last}.bn3"] == (32 * expansion, 2, 2)


def test_resnet18_abc_forward_at_224():
    model = build_model({"arch": "resnet18", "conv": {"kind": "abc", "M": 3, "N": 3}}).eval()
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    out = model.forward(x)
    assert out.shape == (1, 1000) and out.dtype == np.float32 and np.isfinite(out).all()


def test_float64_preserved_and_config_round_trip():
    config = {
        "arch": "resnet34",
        "conv": {"kind": "abc", "M": 2, "N": 2},
        "width": 2,
        "dtype": "float64",
        "seed": 3,
    }
    a, b = build_model(config), build_model(build_model(config).config)
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert na == nb and pa.dtype == np.float64
        np.testing.assert_array_equal(pa, pb)
    assert a.forward(RNG.standard_normal((2, 3, 32, 32))).dtype == np.float64


# -- compiled bit-packed inference ---------------------------------------------------------


def _randomise_bn(model, rng):
    """Non-trivial running statistics and affine parameters (negative scales included)."""
    for _, m in model.named_modules():
        if "running_mean" in m.buffers:
            c = m.buffers["running_mean"].shape[0]
            dt = m.buffers["running_mean"].dtype
            m.buffers["running_mean"] = rng.normal(0, 0.3, c).astype(dt)
            m.buffers["running_var"] = rng.uniform(0.5, 2.0, c).astype(dt)
            m.params["weight"][...] = rng.normal(1.0, 0.5, c)
            m.params["bias"][...] = rng.normal(0, 0.3, c)


@pytest.mark.parametrize(("arch", "width"), [("resnet18", 16), ("resnet50", 8)])
def test_compiled_model_agrees_with_float_forward(arch, width):
    model = build_model(
        {"arch": arch, "conv": {"kind": "abc", "M": 2, "N": 3}, "width": width, "seed": 1}
    )
    _randomise_bn(model, np.random.default_rng(5))
    model.eval()
    x = np.random.default_rng(6).standard_normal((2, 3, 64, 64)).astype(np.float32)
    expected = model.forward(x)
    bit = compile_model(model)
    got = bit.forward(x)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    np.testing.assert_array_equal(got.argmax(1), expected.argmax(1))
    kinds = {type(m).__name__ for _, m in bit.named_modules()}
    assert "BitABCConv2d" in kinds and "ABCConv2d" not in kinds
    block = bit.layer1[0]
    assert isinstance(block.conv2, BitABCConv2d) and block._main[2] is block.conv2


# -- summary counts against the independent table -----------------------------------------------


def test_reference_macs_are_the_well_known_figures():
    # torchvision / fvcore: 1.82 G, 3.67 G, 4.11 G MACs (conv + fc) at 224x224.
    assert reference_macs("resnet18") == pytest.approx(1.82e9, rel=0.005)
    assert reference_macs("resnet34") == pytest.approx(3.67e9, rel=0.005)
    assert reference_macs("resnet50") == pytest.approx(4.11e9, rel=0.01)


def _summary_macs(model, hw):
    rows = model_summary(model, (3, hw, hw))
    layers = dict(model.named_modules())
    kinds = (Conv2d, Linear, ABCConv2d)
    return sum(r.float_model_macs for r in rows if isinstance(layers[r.name], kinds)), rows


@pytest.mark.parametrize(("arch", "hw"), [("resnet18", 224), ("resnet34", 64), ("resnet50", 64)])
def test_summary_macs_equal_independent_count(arch, hw):
    model = build_model({"arch": arch, "conv": "fp"})
    macs, rows = _summary_macs(model, hw)
    assert macs == reference_macs(arch, hw)
    assert sum(r.float_model_params for r in rows) == TORCHVISION_PARAMS[arch]
    assert sum(r.packed_float_params for r in rows) == TORCHVISION_PARAMS[arch]  # nothing binary


def test_summary_binary_ops_of_abc_resnet18():
    M, N = 3, 5
    model = build_model({"arch": "resnet18", "conv": {"kind": "abc", "M": M, "N": N}})
    rows = model_summary(model, (3, 224, 224))
    layers = reference_layers("resnet18")
    # Binary convs: every 3x3 conv but the stem; projections (1x1) and the fc stay float.
    binary = sum(ci * co * k * k * o * o for kind, ci, co, k, _, o in layers[1:] if k == 3)
    assert sum(r.packed_binary_macs for r in rows) == M * N * binary
    assert sum(r.packed_binary_params for r in rows) == M * sum(
        ci * co * k * k for _, ci, co, k, _, _ in layers[1:] if k == 3
    )


# -- the new layers, their gradients and bad inputs ----------------------------------------------


def test_bottleneck_finite_differences():
    block = Bottleneck(4, 2, stride=2, dtype=np.float64, rng=np.random.default_rng(3))
    x, dout = RNG.standard_normal((3, 4, 5, 5)), RNG.standard_normal((3, 8, 3, 3))
    out = block.forward(x)
    assert out.shape == (3, 8, 3, 3)
    dx = block.backward(dout)
    check_gradient(lambda _: block.forward(x), x, dout, dx, name="dx", tol=1e-6)
    identity = Bottleneck(8, 2, dtype=np.float64)
    assert "shortcut" not in identity.children()


def test_bad_inputs():
    with pytest.raises(ValueError, match="width"):
        build_model({"arch": "resnet18", "width": 0})
    with pytest.raises(ValueError, match="unknown model config keys"):
        build_model({"arch": "resnet50", "depth": 50})
    with pytest.raises(TypeError, match="binary_shortcut"):
        build_model({"arch": "resnet34", "binary_shortcut": "yes", "width": 2})
    with pytest.raises(ValueError, match="config\\['arch'\\]"):
        build_model({"arch": "resnet101"})
    with pytest.raises(ValueError, match="identity shortcut"):
        Bottleneck(4, 2, projection=False)
    with pytest.raises(ValueError, match="padding must be at most half the kernel"):
        MaxPool2d(3, stride=2, padding=2)
    with pytest.raises(RuntimeError, match="before forward"):
        Bottleneck(8, 2).backward(np.zeros((1, 8, 2, 2), np.float32))


# -- the CIFAR ResNet: BasicBlock and cifar_resnet -------------------------------------------


def randn(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def child_names(model):
    return list(model.children())


def abc_factory(c_in, c_out, k, *, stride, padding, rng, dtype):
    return ABCConv2d(
        c_in, c_out, k, M=2, N=2, stride=stride, padding=padding, rng=rng, dtype=dtype
    )


def test_basic_block_with_abc_residual_path():
    block = BasicBlock(4, 6, stride=2, conv=abc_factory, activation=None, dtype=np.float64)
    names = [n for n, _ in block.named_parameters()]
    assert names[:3] == ["conv1.weight", "conv1.v", "conv1.beta"]
    assert "shortcut.conv.weight" in names and "shortcut.conv.v" not in names
    assert isinstance(block.conv2, ABCConv2d) and isinstance(block.shortcut.conv, Conv2d)
    x = randn(3, 4, 6, 6)
    out = block.forward(x)
    assert out.shape == (3, 6, 3, 3) and out.dtype == np.float64
    dx = block.backward(randn(*out.shape))
    assert dx.shape == x.shape and np.isfinite(dx).all()
    assert np.abs(block.conv1.grads["weight"]).sum() > 0
    assert np.abs(block.shortcut.conv.grads["weight"]).sum() > 0
    identity = BasicBlock(4, 4, conv=abc_factory, activation=None)
    assert "shortcut" not in identity.children()


def test_basic_block_with_abc_path_equals_the_chain_of_op_calls():
    """Block forward/backward == abc_conv2d / batchnorm2d / conv2d / add by hand."""
    block = BasicBlock(
        4,
        6,
        stride=2,
        conv=abc_factory,
        activation=None,
        dtype=np.float64,
        rng=np.random.default_rng(3),
    )
    x = randn(3, 4, 6, 6)
    dout = randn(3, 6, 3, 3)

    def bn_pair(bn):
        return dict(
            running_mean=bn.buffers["running_mean"],
            running_var=bn.buffers["running_var"],
            training=True,
        )

    def abc_call(layer, inp):
        p = layer.params
        return abc_conv2d_forward(
            inp,
            p["weight"],
            p["v"],
            p["beta"],
            stride=layer.stride,
            padding=layer.padding,
            **layer._op_kwargs(),
        )

    c1, k1 = abc_call(block.conv1, x)
    b1, kb1 = ops.batchnorm2d_forward(
        c1, block.bn1.params["weight"], block.bn1.params["bias"], **bn_pair(block.bn1)
    )
    c2, k2 = abc_call(block.conv2, b1)
    b2, kb2 = ops.batchnorm2d_forward(
        c2, block.bn2.params["weight"], block.bn2.params["bias"], **bn_pair(block.bn2)
    )
    sc = block.shortcut
    s1, ks1 = fast_conv.conv2d_forward(
        x,
        sc.conv.params["weight"],
        sc.conv.params.get("bias"),
        stride=sc.conv.stride,
        padding=sc.conv.padding,
    )
    s2, ks2 = ops.batchnorm2d_forward(
        s1, sc.bn.params["weight"], sc.bn.params["bias"], **bn_pair(sc.bn)
    )
    expected_out = b2 + s2

    out = block.forward(x)
    np.testing.assert_allclose(out, expected_out, rtol=1e-12, atol=1e-12)
    dx = block.backward(dout)

    db2, dg2, dbeta2 = ops.batchnorm2d_backward(dout, kb2)
    g2 = abc_conv2d_backward(db2, k2)
    db1, dg1, dbeta1 = ops.batchnorm2d_backward(g2["R"], kb1)
    g1 = abc_conv2d_backward(db1, k1)
    ds1, dgs, dbetas = ops.batchnorm2d_backward(dout, ks2)
    dxs, dws, _ = fast_conv.conv2d_backward(ds1, ks1)
    expected = {
        "conv1.weight": g1["W"],
        "conv1.v": g1["v"],
        "conv1.beta": g1["beta"],
        "bn1.weight": dg1,
        "bn1.bias": dbeta1,
        "conv2.weight": g2["W"],
        "conv2.v": g2["v"],
        "conv2.beta": g2["beta"],
        "bn2.weight": dg2,
        "bn2.bias": dbeta2,
        "shortcut.conv.weight": dws,
        "shortcut.bn.weight": dgs,
        "shortcut.bn.bias": dbetas,
    }
    grads = dict(block.named_grads())
    assert set(expected) <= set(grads)
    for name, value in expected.items():
        np.testing.assert_allclose(grads[name], value, rtol=1e-12, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(dx, g1["R"] + dxs, rtol=1e-12, atol=1e-12)


def test_basic_block_identity_shortcut_finite_differences():
    block = BasicBlock(3, 3, dtype=np.float64, rng=np.random.default_rng(2))
    x, dout = randn(4, 3, 3, 3), randn(4, 3, 3, 3)
    block.forward(x)
    dx = block.backward(dout)
    check_gradient(lambda _: block.forward(x), x, dout, dx, name="dx")


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


def test_basic_block_bad_arguments():
    with pytest.raises(ValueError, match="identity shortcut needs stride=1"):
        BasicBlock(2, 4, projection=False)
