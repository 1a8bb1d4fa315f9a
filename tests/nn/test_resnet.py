"""Tests of abcref.nn.resnet: the pre-activation ResNets (CIFAR, ImageNet ResNet-18/34/50).

The graph against an independent description of its spec (every
binarising conv reads a batch-norm output; the full-precision baseline is
the same graph with ReLU where ABC binarises); parameter and MAC counts
against an independent count of that graph, and how they relate to
torchvision's; the blocks and a whole ABC ResNet against the chain of op
calls they stand for; full-precision blocks against finite differences.
"""

import numpy as np
import pytest

from abcref import ops
from abcref.compiler.summary import model_summary
from abcref.fast import conv as fast_conv
from abcref.fast.abcconv import abc_conv2d_backward, abc_conv2d_forward
from abcref.nn import (
    CONV_KINDS,
    ABCConv2d,
    BasicBlock,
    BatchNorm2d,
    ReLU,
    abc_conv,
    build_model,
    cifar_resnet,
)
from abcref.nn.config import normalise_conv
from abcref.nn.layers import Conv2d, Linear, MaxPool2d
from abcref.nn.resnet import Bottleneck, ResidualBlock
from tests.nn._gradients import check_every_gradient

RNG = np.random.default_rng(2024)

# torchvision.models.resnet{18,34,50}(): sum(p.numel() for p in m.parameters()).
TORCHVISION_PARAMS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032}
STAGES = {"resnet18": [2, 2, 2, 2], "resnet34": [3, 4, 6, 3], "resnet50": [3, 4, 6, 3]}


def randn(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


# -- an independent description of the graph ----------------------------------------


def _out(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def reference_blocks(arch, hw=224, width=64):
    """Per block: its convs ``(c_in, c_out, k, stride, out_hw)`` and its projection or None.

    Written from He et al. (2016a) Table 1 without looking at the model: a
    7x7/2 stem, a 3x3/2 pad-1 max-pool, four stages, projections where the
    shape changes (stride on the bottleneck's 3x3 conv).
    """
    size = _out(_out(hw, 7, 2, 3), 3, 2, 1)
    c, blocks = width, []
    for stage, n in enumerate(STAGES[arch]):
        w = width * 2**stage
        for j in range(n):
            s = 2 if stage > 0 and j == 0 else 1
            o = _out(size, 3, s, 1)
            if arch == "resnet50":
                convs = [(c, w, 1, 1, size), (w, w, 3, s, o), (w, 4 * w, 1, 1, o)]
            else:
                convs = [(c, w, 3, s, o), (w, w, 3, 1, o)]
            c_out = convs[-1][1]
            projection = (c, c_out, 1, s, o) if (s != 1 or c != c_out) else None
            blocks.append((convs, projection))
            c, size = c_out, o
    return blocks


def reference_layers(arch, hw=224, classes=1000, width=64):
    """(c_in, c_out, k, stride, out_hw) of every conv and the fc, in model order."""
    layers = [(3, width, 7, 2, _out(hw, 7, 2, 3))]
    for convs, projection in reference_blocks(arch, hw, width):
        layers += convs + ([projection] if projection else [])
    layers.append((layers[-1][1], classes, 1, 1, 1))  # the last block has no projection
    return layers


def _named_blocks(arch, width):
    counts = STAGES[arch]
    names = [f"layer{s + 1}.{j}" for s, n in enumerate(counts) for j in range(n)]
    return zip(names, reference_blocks(arch, width=width), strict=True)


def preactivation_batchnorms(arch, width=64):
    """``{name: channels}`` of every BN of the pre-activation graph.

    Each block's bn_i normalises conv_i's *input*; a projection's BN its
    output; no BN in the stem (the first block's bn1 normalises it);
    ``bn_final`` after the last block.
    """
    channels = {}
    for name, (convs, projection) in _named_blocks(arch, width):
        for i, (c_in, *_) in enumerate(convs, start=1):
            channels[f"{name}.bn{i}"] = c_in
        if projection:
            channels[f"{name}.shortcut.bn"] = projection[1]
    return channels | {"bn_final": convs[-1][1]}


def torchvision_batchnorms(arch, width=64):
    """torchvision's BNs (in abcref's names): after the stem and after every conv, its output."""
    channels = {"bn1": width}
    for name, (convs, projection) in _named_blocks(arch, width):
        for i, (_, c_out, *_) in enumerate(convs, start=1):
            channels[f"{name}.bn{i}"] = c_out
        if projection:
            channels[f"{name}.shortcut.bn"] = projection[1]  # torchvision's downsample.1
    return channels


def reference_params(arch, batchnorms, width=64, classes=1000):
    """Conv and fc weights, two parameters per BN channel, the fc bias."""
    layers = reference_layers(arch, width=width, classes=classes)
    weights = sum(ci * co * k * k for ci, co, k, _, _ in layers)
    return weights + 2 * sum(batchnorms(arch, width).values()) + classes


def reference_macs(arch, hw=224, **kw):
    return sum(ci * co * k * k * o * o for ci, co, k, _, o in reference_layers(arch, hw, **kw))


# -- parameter counts ---------------------------------------------------------------


@pytest.mark.parametrize("arch", list(TORCHVISION_PARAMS))
def test_full_precision_parameter_counts(arch):
    """The model has the counted graph's BNs and parameters; how that compares to torchvision.

    torchvision puts a BN after the stem and after every conv (its output
    channels); the pre-activation graph puts one before every conv of a
    block (its input channels), none after the stem, and ``bn_final``. The
    per-block change, input minus output channels, telescopes over the
    chain of blocks to ``width - last channels``, which the stem BN
    (``width``) and ``bn_final`` (last channels) give back: the totals are
    torchvision's although the BNs differ.
    """
    model = build_model({"arch": arch, "conv": "fp"})
    bns = {
        n: m.params["weight"].size for n, m in model.named_modules() if isinstance(m, BatchNorm2d)
    }
    assert bns == preactivation_batchnorms(arch)
    assert model.num_parameters() == reference_params(arch, preactivation_batchnorms)
    assert reference_params(arch, torchvision_batchnorms) == TORCHVISION_PARAMS[arch]
    # Other BNs: a block's bn_i differs from torchvision's where conv_i changes the channels,
    # the stem's BN is gone, bn_final is new ...
    tv = torchvision_batchnorms(arch)
    changed = {n for n in bns.keys() & tv.keys() if bns[n] != tv[n]}
    convs = {
        f"{name}.bn{i}": conv
        for name, (cs, _) in _named_blocks(arch, 64)
        for i, conv in enumerate(cs, 1)
    }
    assert changed == {n for n, (c_in, c_out, *_) in convs.items() if c_in != c_out}
    assert bns.keys() - tv.keys() == {"bn_final"} and tv.keys() - bns.keys() == {"bn1"}
    assert model.num_parameters() == TORCHVISION_PARAMS[arch]  # ... the same total
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
    assert model.num_parameters() == reference_params(arch, preactivation_batchnorms, 8) + extra


# -- the graph: every binarisation reads a BN output ------------------------------------

KINDS = [
    "fp",
    {"kind": "abc", "M": 2, "N": 2},
    {"kind": "abc", "M": 2, "N": None},
    "bwn",
    "xnor",
    "bnn",
    "dorefa",
    {"kind": "kbit", "K": 2},
]


def _binarizes(kind) -> bool:
    spec = normalise_conv(kind)
    return CONV_KINDS[spec["kind"]].binarizes_input({k: v for k, v in spec.items() if k != "kind"})


@pytest.mark.parametrize("kind", KINDS, ids=str)
@pytest.mark.parametrize("arch", ["cifar_resnet", "resnet18", "resnet50"])
@pytest.mark.parametrize("binary_shortcut", [False, True])
def test_every_conv_of_a_block_reads_a_batchnorm_output(arch, kind, binary_shortcut):
    config = {"arch": arch, "conv": kind, "width": 2, "binary_shortcut": binary_shortcut}
    if arch == "cifar_resnet":
        config["depth"] = 8
    model = build_model(config).eval()
    binarizes = _binarizes(kind)
    # Record what every layer of every block reads and writes.
    seen, blocks = {}, [m for _, m in model.named_modules() if isinstance(m, ResidualBlock)]
    wrapped = [m for b in blocks for m in (*b.children().values(), *_shortcut_layers(b))]

    def recorder(mod):
        forward = mod.forward

        def record(x):
            out = forward(x)
            seen[id(mod)] = (x, out)
            return out

        return record

    for mod in wrapped:
        mod.forward = recorder(mod)
    x = randn(2, 3, 32, 32, dtype=np.float32)
    try:
        model.forward(x)
    finally:
        for mod in wrapped:
            del mod.forward
    for block in blocks:
        stages = 3 if isinstance(block, Bottleneck) else 2
        names = [f"{p}{i}" for i in range(1, stages + 1) for p in ("bn", "act", "conv")]
        names = [n for n in names if binarizes is False or not n.startswith("act")]
        projection = "shortcut" in block.children()
        assert list(block.children()) == names + (["shortcut"] if projection else [])
        for i in range(1, stages + 1):
            bn, conv = block._modules[f"bn{i}"], block._modules[f"conv{i}"]
            conv_input = seen[id(conv)][0]
            if binarizes:  # the conv binarises the BN output itself
                assert conv_input is seen[id(bn)][1]
            else:  # ReLU(BN output), the full-precision pre-activation
                act = block._modules[f"act{i}"]
                assert isinstance(act, ReLU) and seen[id(act)][0] is seen[id(bn)][1]
                assert conv_input is seen[id(act)][1]
        if projection:
            reads = seen[id(block.shortcut.conv)][0]
            if binary_shortcut:  # reads exactly what conv1 reads
                assert reads is seen[id(block.conv1)][0]
                assert type(block.shortcut.conv) is type(block.conv1)
            else:  # the block input, through a full-precision 1x1 conv
                assert reads is seen[id(block.bn1)][0] and type(block.shortcut.conv) is Conv2d
    top = list(model.children())
    stem = ["conv1"] if arch == "cifar_resnet" else ["conv1", "pool1"]
    stages = [f"layer{i}" for i in range(1, 4 if arch == "cifar_resnet" else 5)]
    assert top == [*stem, *stages, "bn_final", "gap", "fc"]


def _shortcut_layers(block):
    return block.shortcut.children().values() if "shortcut" in block.children() else ()


def test_readers_describe_the_wiring_compile_model_folds_by():
    abc = BasicBlock(4, 6, stride=2, conv=abc_factory, activation=None, shortcut_conv=abc_factory)
    assert abc.readers() == {"bn1": ["conv1"], "conv1": ["bn2"], "bn2": ["conv2"]}
    pre = BasicBlock(
        4,
        6,
        stride=2,
        conv=abc_factory,
        activation=None,
        shortcut_conv=abc_factory,
        shortcut_input="preactivation",
    )
    assert pre.readers()["bn1"] == ["conv1", "shortcut.conv"]
    fp = BasicBlock(4, 6, stride=2, shortcut_input="preactivation")
    assert fp.readers()["act1"] == ["conv1", "shortcut.conv"] and fp.readers()["bn1"] == ["act1"]
    identity = BasicBlock(4, 4, shortcut_input="preactivation")  # an identity carries x
    assert "shortcut" not in identity.children() and identity.readers()["bn1"] == ["act1"]


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


@pytest.mark.parametrize("arch", ["resnet18", "resnet34", "resnet50"])
@pytest.mark.parametrize("kind", ["fp", "bwn", "bnn", {"kind": "dorefa", "bits": 4}], ids=str)
def test_output_shapes_small_width(arch, kind):
    model = build_model({"arch": arch, "conv": kind, "width": 4, "num_classes": 7}).eval()
    x = RNG.standard_normal((2, 3, 64, 64)).astype(np.float32)
    out = model.forward(x)
    assert out.shape == (2, 7) and out.dtype == np.float32 and np.isfinite(out).all()
    rows = {r.name: r.output_shape for r in model_summary(model, (3, 64, 64))}
    expansion = 4 if arch == "resnet50" else 1
    assert rows["conv1"] == (4, 32, 32) and rows["pool1"] == (4, 16, 16)
    assert rows["layer1.0.bn1"] == (4, 16, 16)  # the first block's bn1 normalises the stem
    assert rows["bn_final"] == (32 * expansion, 2, 2)


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


# -- summary counts against the independent description -----------------------------------


def test_reference_macs_are_the_well_known_figures():
    # torchvision / fvcore: 1.82 G, 3.67 G, 4.11 G MACs (conv + fc) at 224x224.
    assert reference_macs("resnet18") == pytest.approx(1.82e9, rel=0.005)
    assert reference_macs("resnet34") == pytest.approx(3.67e9, rel=0.005)
    assert reference_macs("resnet50") == pytest.approx(4.11e9, rel=0.01)


@pytest.mark.parametrize(("arch", "hw"), [("resnet18", 224), ("resnet34", 64), ("resnet50", 64)])
def test_summary_macs_equal_independent_count(arch, hw):
    model = build_model({"arch": arch, "conv": "fp"})
    rows = model_summary(model, (3, hw, hw))
    layers = dict(model.named_modules())
    kinds = (Conv2d, Linear, ABCConv2d)
    macs = sum(r.float_model_macs for r in rows if isinstance(layers[r.name], kinds))
    assert macs == reference_macs(arch, hw)
    params = reference_params(arch, preactivation_batchnorms)
    assert sum(r.float_model_params for r in rows) == params
    assert sum(r.packed_float_params for r in rows) == params  # nothing binary


def test_summary_binary_ops_of_abc_resnet18():
    M, N = 3, 5
    model = build_model({"arch": "resnet18", "conv": {"kind": "abc", "M": M, "N": N}})
    rows = model_summary(model, (3, 224, 224))
    layers = reference_layers("resnet18")
    # Binary convs: every 3x3 conv but the stem; projections (1x1) and the fc stay float.
    binary = [(ci, co, k, o) for ci, co, k, _, o in layers[1:] if k == 3]
    assert sum(r.packed_binary_macs for r in rows) == M * N * sum(
        ci * co * k * k * o * o for ci, co, k, o in binary
    )
    assert sum(r.packed_binary_params for r in rows) == M * sum(
        ci * co * k * k for ci, co, k, _ in binary
    )


# -- blocks against the op chain (ABC) and finite differences (FP) -----------------------


def abc_factory(c_in, c_out, k, *, stride, padding, rng, dtype):
    return ABCConv2d(
        c_in, c_out, k, M=2, N=2, stride=stride, padding=padding, rng=rng, dtype=dtype
    )


def _bn_call(bn, x):
    return ops.batchnorm2d_forward(
        x,
        bn.params["weight"],
        bn.params["bias"],
        running_mean=bn.buffers["running_mean"],
        running_var=bn.buffers["running_var"],
        training=True,
    )


def _abc_call(layer, x):
    p = layer.params
    return abc_conv2d_forward(
        x,
        p["weight"],
        p["v"],
        p["beta"],
        stride=layer.stride,
        padding=layer.padding,
        **layer._op_kwargs(),
    )


def _conv_call(layer, x):
    if isinstance(layer, ABCConv2d):
        return _abc_call(layer, x)
    w = layer.params["weight"]
    return fast_conv.conv2d_forward(x, w, stride=layer.stride, padding=layer.padding)


def _conv_back(layer, d, cache):
    if isinstance(layer, ABCConv2d):
        g = abc_conv2d_backward(d, cache)
        return g["R"], {"weight": g["W"], "v": g["v"], "beta": g["beta"]}
    dx, dw, _ = fast_conv.conv2d_backward(d, cache)
    return dx, {"weight": dw}


def basic_block_chain(block, x):
    """The spec of a BasicBlock with binarising convs, as op calls (training mode).

    ``bn1 -> conv1 -> bn2 -> conv2``, plus identity, or a projection ``conv
    -> bn`` reading x or (shortcut_input="preactivation") bn1's output.
    Returns ``out`` and ``backward(dout) -> (dx, {param name: gradient})``.
    """
    b1, kb1 = _bn_call(block.bn1, x)
    c1, k1 = _abc_call(block.conv1, b1)
    b2, kb2 = _bn_call(block.bn2, c1)
    c2, k2 = _abc_call(block.conv2, b2)
    sc = block._modules.get("shortcut")
    if sc is not None:
        tap = b1 if block._tap else x
        s1, ks1 = _conv_call(sc.conv, tap)
        short, ks2 = _bn_call(sc.bn, s1)
    else:
        short = x
    out = c2 + short

    def backward(dout):
        grads = {}
        d_b2, g2 = _conv_back(block.conv2, dout, k2)
        d_c1, grads["bn2.weight"], grads["bn2.bias"] = ops.batchnorm2d_backward(d_b2, kb2)
        d_b1, g1 = _conv_back(block.conv1, d_c1, k1)
        grads |= {f"conv1.{k}": v for k, v in g1.items()} | {
            f"conv2.{k}": v for k, v in g2.items()
        }
        d_short = dout
        if sc is not None:
            d_s1, grads["shortcut.bn.weight"], grads["shortcut.bn.bias"] = (
                ops.batchnorm2d_backward(dout, ks2)
            )
            d_short, gs = _conv_back(sc.conv, d_s1, ks1)
            grads |= {f"shortcut.conv.{k}": v for k, v in gs.items()}
            if block._tap:  # the projection read bn1's output
                d_b1, d_short = d_b1 + d_short, 0.0
        dx, grads["bn1.weight"], grads["bn1.bias"] = ops.batchnorm2d_backward(d_b1, kb1)
        return dx + d_short, grads

    return out, backward


@pytest.mark.parametrize(
    ("c_out", "stride", "shortcut_input", "shortcut_conv"),
    [
        (4, 1, "x", None),  # identity shortcut
        (6, 2, "x", None),  # FP projection on the block input
        (6, 2, "preactivation", abc_factory),  # binary projection on bn1's output
    ],
)
def test_basic_block_with_abc_path_equals_the_chain_of_op_calls(
    c_out, stride, shortcut_input, shortcut_conv
):
    """Every output and gradient of the block == bn / abc_conv2d / conv2d / add by hand."""
    block = BasicBlock(
        4,
        c_out,
        stride=stride,
        conv=abc_factory,
        activation=None,
        shortcut_conv=shortcut_conv,
        shortcut_input=shortcut_input,
        dtype=np.float64,
        rng=np.random.default_rng(3),
    )
    x = randn(3, 4, 6, 6)
    expected_out, chain_backward = basic_block_chain(block, x)
    out = block.forward(x)
    np.testing.assert_array_equal(out, expected_out)
    dout = randn(*out.shape)
    dx = block.backward(dout)
    expected_dx, expected = chain_backward(dout)
    grads = dict(block.named_grads())
    assert set(expected) == set(grads)  # every parameter
    for name, value in expected.items():
        np.testing.assert_array_equal(grads[name], value, err_msg=name)
    np.testing.assert_array_equal(dx, expected_dx)


@pytest.mark.parametrize(
    ("block_fn", "c_in", "shortcut_input", "stride"),
    [
        (lambda **kw: BasicBlock(3, 3, **kw), 3, "x", 1),
        (lambda **kw: BasicBlock(3, 4, **kw), 3, "x", 2),
        (lambda **kw: BasicBlock(3, 4, **kw), 3, "preactivation", 2),
        (lambda **kw: Bottleneck(4, 2, **kw), 4, "x", 2),
        (lambda **kw: Bottleneck(4, 2, **kw), 4, "preactivation", 2),
        (lambda **kw: Bottleneck(8, 2, **kw), 8, "x", 1),  # identity
    ],
)
@pytest.mark.parametrize("training", [True, False])
def test_full_precision_blocks_match_finite_differences(
    block_fn, c_in, shortcut_input, stride, training
):
    block = block_fn(
        stride=stride,
        shortcut_input=shortcut_input,
        dtype=np.float64,
        rng=np.random.default_rng(3),
    )
    for _, m in block.named_modules():
        if isinstance(m, BatchNorm2d):  # non-trivial statistics for eval mode
            c = m.params["weight"].shape[0]
            m.buffers["running_mean"] = RNG.normal(0, 0.5, c)
            m.buffers["running_var"] = RNG.uniform(0.5, 2.0, c)
    block.train(training)
    x = randn(3, c_in, 5, 5)
    out = block.forward(x)
    dout = randn(*out.shape)
    block.zero_grad()
    dx = block.backward(dout)

    def loss():
        return float(np.sum(dout * block.forward(x)))

    checked = check_every_gradient(block, loss, dx, x)
    assert len(checked) == 1 + len(list(block.named_parameters()))


# -- a whole ABC ResNet against the op chain ------------------------------------------------


def test_abc_cifar_resnet_equals_the_chain_of_op_calls():
    """Forward, every parameter's gradient and dx of a whole ABC ResNet, by hand."""
    model = cifar_resnet(
        depth=8, width=2, conv=abc_conv(M=2, N=2), binary_shortcut=True, dtype="float64"
    )
    x, y = randn(4, 3, 6, 6), np.array([0, 3, 7, 9])
    p = dict(model.named_parameters())
    h, k_stem = fast_conv.conv2d_forward(x, p["conv1.weight"], padding=(1, 1))
    chains = []
    for stage in ("layer1", "layer2", "layer3"):
        for i, block in enumerate(getattr(model, stage)):
            h, back = basic_block_chain(block, h)
            chains.append((f"{stage}.{i}", back))
    h, k_bn = _bn_call(model.bn_final, h)
    h, k_gap = ops.global_avgpool_forward(h)
    logits, k_fc = ops.linear_forward(h, p["fc.weight"], p["fc.bias"])
    loss, k_loss = ops.softmax_cross_entropy_forward(logits, y)

    model.zero_grad()
    got = model.forward(x)
    np.testing.assert_array_equal(got, logits)
    got_loss, cache = ops.softmax_cross_entropy_forward(got, y)
    dx = model.backward(ops.softmax_cross_entropy_backward(1.0, cache))

    expected = {}
    d = ops.softmax_cross_entropy_backward(1.0, k_loss)
    d, expected["fc.weight"], expected["fc.bias"] = ops.linear_backward(d, k_fc)
    d = ops.global_avgpool_backward(d, k_gap)
    d, expected["bn_final.weight"], expected["bn_final.bias"] = ops.batchnorm2d_backward(d, k_bn)
    for prefix, back in reversed(chains):
        d, grads = back(d)
        expected |= {f"{prefix}.{k}": v for k, v in grads.items()}
    d, expected["conv1.weight"], _ = fast_conv.conv2d_backward(d, k_stem)
    grads = dict(model.named_grads())
    assert set(expected) == set(grads)  # every parameter of the model
    for name, value in expected.items():
        np.testing.assert_array_equal(grads[name], value, err_msg=name)
    np.testing.assert_array_equal(dx, d)
    assert got_loss == loss


# -- structure and bad inputs ---------------------------------------------------------------


def test_cifar_resnet_structure():
    model = cifar_resnet(depth=14, width=4, conv=abc_conv(M=1, N=2))
    assert list(model.children()) == ["conv1", "layer1", "layer2", "layer3", "bn_final"] + [
        "gap",
        "fc",
    ]
    assert [len(getattr(model, f"layer{i}")) for i in (1, 2, 3)] == [2, 2, 2]
    first2 = model.layer2[0]
    assert first2.conv1.stride == (2, 2) and isinstance(first2.shortcut.conv, Conv2d)
    assert first2.bn1.params["weight"].shape == (4,)  # normalises the block input
    assert "shortcut" not in model.layer1[0].children()
    assert isinstance(first2.conv1, ABCConv2d) and "act1" not in first2.children()
    out = model.forward(np.zeros((2, 3, 8, 8), np.float32))
    assert out.shape == (2, 10)
    binary = cifar_resnet(depth=8, width=4, binary_shortcut=True)
    assert isinstance(binary.layer2[0].shortcut.conv, ABCConv2d)
    fp = cifar_resnet(depth=8, width=4, conv="fp")
    assert isinstance(fp.layer1[0].act1, ReLU)


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
    with pytest.raises(ValueError, match="shortcut_input must be one of"):
        BasicBlock(4, 4, shortcut_input="bn1")
    with pytest.raises(ValueError, match="padding must be at most half the kernel"):
        MaxPool2d(3, stride=2, padding=2)
    with pytest.raises(RuntimeError, match="before forward"):
        Bottleneck(8, 2).backward(np.zeros((1, 8, 2, 2), np.float32))
    with pytest.raises(ValueError, match="identity shortcut needs stride=1"):
        BasicBlock(2, 4, projection=False)
