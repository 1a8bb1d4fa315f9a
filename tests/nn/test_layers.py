import numpy as np
import pytest

from abcref import ops
from abcref.fast import conv as fast_conv
from abcref.fast.abcconv import abc_conv2d_backward, abc_conv2d_forward
from abcref.gradcheck import check_gradient
from abcref.nn import (
    ABCConv2d,
    AvgPool2d,
    BasicBlock,
    BatchNorm2d,
    Clip,
    Conv2d,
    Flatten,
    GlobalAvgPool2d,
    Hardtanh,
    Linear,
    MaxPool2d,
    ReLU,
    build_model,
    cifar_resnet,
)

RNG = np.random.default_rng(1234)


def randn(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def test_conv2d_matches_op_and_accumulates():
    layer = Conv2d(3, 4, 3, stride=2, padding=1, rng=np.random.default_rng(0), dtype=np.float64)
    x, dout = randn(2, 3, 5, 5), randn(2, 4, 3, 3)
    out = layer.forward(x)
    ref, cache = fast_conv.conv2d_forward(
        x, layer.params["weight"], layer.params["bias"], stride=(2, 2), padding=(1, 1)
    )
    np.testing.assert_array_equal(out, ref)
    dx = layer.backward(dout)
    rdx, rdw, rdb = fast_conv.conv2d_backward(dout, cache)
    np.testing.assert_array_equal(dx, rdx)
    np.testing.assert_array_equal(layer.grads["weight"], rdw)
    np.testing.assert_array_equal(layer.grads["bias"], rdb)
    layer.forward(x)
    layer.backward(dout)  # gradients accumulate
    np.testing.assert_allclose(layer.grads["weight"], 2 * rdw, rtol=1e-14)
    with pytest.raises(RuntimeError, match="Conv2d.backward called before forward"):
        layer.backward(dout)  # the cache is consumed: one backward per forward
    assert "bias" not in Conv2d(3, 4, 3, bias=False).params


def test_init_rules():
    he = Conv2d(16, 32, 3, rng=np.random.default_rng(0), dtype=np.float64)
    assert he.params["weight"].std() == pytest.approx(np.sqrt(2 / (16 * 9)), rel=0.05)
    assert not he.params["bias"].any()
    pt = Linear(100, 50, init="pytorch", rng=np.random.default_rng(0))
    assert np.abs(pt.params["weight"]).max() <= 0.1 and np.abs(pt.params["bias"]).max() <= 0.1
    assert pt.params["weight"].dtype == np.float32
    a = Conv2d(2, 2, 3, rng=np.random.default_rng(5)).params["weight"]
    b = Conv2d(2, 2, 3, rng=np.random.default_rng(5)).params["weight"]
    np.testing.assert_array_equal(a, b)


def test_linear_matches_op():
    layer = Linear(5, 3, rng=np.random.default_rng(0), dtype=np.float64)
    x, dout = randn(4, 5), randn(4, 3)
    out = layer.forward(x)
    ref, cache = ops.linear_forward(x, layer.params["weight"], layer.params["bias"])
    np.testing.assert_array_equal(out, ref)
    dx = layer.backward(dout)
    rdx, rdw, rdb = ops.linear_backward(dout, cache)
    np.testing.assert_array_equal(dx, rdx)
    np.testing.assert_array_equal(layer.grads["weight"], rdw)
    np.testing.assert_array_equal(layer.grads["bias"], rdb)


def test_batchnorm_train_updates_buffers_eval_uses_them():
    bn = BatchNorm2d(3, momentum=0.2, dtype=np.float64)
    bn.params["weight"][...] = [1.0, 2.0, 0.5]
    x, dout = randn(4, 3, 2, 2) * 3 + 1, randn(4, 3, 2, 2)
    out = bn.forward(x)
    ref, cache = ops.batchnorm2d_forward(
        x,
        bn.params["weight"],
        bn.params["bias"],
        running_mean=np.zeros(3),
        running_var=np.ones(3),
        training=True,
        momentum=0.2,
    )
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(bn.buffers["running_mean"], cache["running_mean"])
    np.testing.assert_array_equal(bn.buffers["running_var"], cache["running_var"])
    dx = bn.backward(dout)
    rdx, rdg, rdb = ops.batchnorm2d_backward(dout, cache)
    np.testing.assert_array_equal(dx, rdx)
    np.testing.assert_array_equal(bn.grads["weight"], rdg)
    bn.eval()
    running = bn.buffers["running_mean"].copy()
    out = bn.forward(x)
    expected = (x - running[None, :, None, None]) / np.sqrt(
        bn.buffers["running_var"][None, :, None, None] + 1e-5
    ) * bn.params["weight"][None, :, None, None] + bn.params["bias"][None, :, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    np.testing.assert_array_equal(bn.buffers["running_mean"], running)


@pytest.mark.parametrize(
    "layer, forward, backward",
    [
        (ReLU(), ops.relu_forward, ops.relu_backward),
        (Clip(0.0, 1.0), lambda x: ops.clip_forward(x, low=0.0, high=1.0), ops.clip_backward),
        (Hardtanh(), lambda x: ops.clip_forward(x, low=-1.0, high=1.0), ops.clip_backward),
        (MaxPool2d(2), lambda x: ops.maxpool2d_forward(x, kernel=(2, 2)), ops.maxpool2d_backward),
        (
            AvgPool2d(2, stride=1),
            lambda x: ops.avgpool2d_forward(x, kernel=(2, 2), stride=(1, 1)),
            ops.avgpool2d_backward,
        ),
        (GlobalAvgPool2d(), ops.global_avgpool_forward, ops.global_avgpool_backward),
    ],
)
def test_stateless_layers_match_ops(layer, forward, backward):
    x = randn(2, 3, 4, 4)
    out = layer.forward(x)
    ref, cache = forward(x)
    np.testing.assert_array_equal(out, ref)
    dout = randn(*out.shape)
    np.testing.assert_array_equal(layer.backward(dout), backward(dout, cache))


def test_flatten():
    f = Flatten()
    x = randn(2, 3, 2, 2)
    assert f.forward(x).shape == (2, 12)
    np.testing.assert_array_equal(
        f.backward(np.arange(24.0).reshape(2, 12)).ravel(), np.arange(24)
    )


def loss_of(model, x, y):
    logits = model.forward(x)
    return ops.softmax_cross_entropy_forward(logits, y)


def backprop(model, x, y):
    model.zero_grad()
    loss, cache = loss_of(model, x, y)
    return model.backward(ops.softmax_cross_entropy_backward(1.0, cache))


@pytest.mark.parametrize("arch", ["small_cnn", "cifar_resnet"])
def test_full_precision_model_matches_finite_differences(arch):
    if arch == "small_cnn":
        model = build_model(
            {"arch": arch, "conv": "fp", "widths": [3, 4], "pool_after": [1], "dtype": "float64"}
        )
        x = randn(4, 1, 6, 6)
    else:
        model = cifar_resnet(depth=8, width=2, conv="fp", dtype="float64")
        x = randn(3, 3, 4, 4)
    y = np.array([1, 0, 3, 2][: len(x)])
    dx = backprop(model, x, y)

    def f(_):
        return float(loss_of(model, x, y)[0])

    check_gradient(f, x, 1.0, dx, name="dx")
    names = [n for n, _ in model.named_parameters()]
    grads = dict(model.named_grads())
    for name, p in model.named_parameters():
        g = grads[name]
        if name in (names[0], names[1], names[-2]) or "shortcut" in name:
            check_gradient(f, p, 1.0, g.copy(), name=name)


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
    d2, dg1, _ = ops.batchnorm2d_backward(g3["R"], c2)
    d1, dw1, _ = fast_conv.conv2d_backward(d2, c1)
    np.testing.assert_array_equal(dx, d1)
    for name, ref in [
        ("fc.weight", dfw),
        ("fc.bias", dfb),
        ("bn2.weight", dg2),
        ("bn2.bias", db2),
        ("conv2.weight", g3["W"]),
        ("conv2.v", g3["v"]),
        ("conv2.beta", g3["beta"]),
        ("bn1.weight", dg1),
        ("conv1.weight", dw1),
    ]:
        np.testing.assert_array_equal(grads[name], ref, err_msg=name)


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


def test_layer_bad_inputs():
    with pytest.raises(ValueError, match="in_channels must be >= 1"):
        Conv2d(0, 2, 3)
    with pytest.raises(ValueError, match="kernel_size must be an int or a pair"):
        Conv2d(1, 2, (3, 3, 3))
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        Linear(2, 2, dtype=np.int32)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        Conv2d(1, 2, 3, rng=0)
    with pytest.raises(ValueError, match="init must be one of"):
        Linear(2, 2, init="xavier")
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\]"):
        BatchNorm2d(2, momentum=1.5)
    with pytest.raises(ValueError, match="low must be < high"):
        Clip(1.0, 0.0)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        Conv2d(1, 2, 3).backward(np.zeros((1, 2, 1, 1), np.float32))
    with pytest.raises(ValueError, match="identity shortcut needs stride=1"):
        BasicBlock(2, 4, projection=False)
