"""Tests of abcref.compiler.compile: compile_layer, compile_model and the batch-norm fold.

A compiled layer with its batch norm folded into the comparators equals the
float graph (bits identical at and next to every threshold); a compiled
trained model predicts what the float model predicts on every example.
"""

import numpy as np
import pytest

from abcref.binarize import binarize_activations
from abcref.bitpack.thresholds import fold_batchnorm_exact
from abcref.compiler import (
    BitABCConv2d,
    batchnorm_affine,
    compile_layer,
    compile_model,
    fold_plan,
)
from abcref.data import load_digits
from abcref.nn.abcconv import ABCConv2d
from abcref.nn.layers import BatchNorm2d
from abcref.nn.models import build_model
from abcref.nn.module import Sequential
from abcref.nn.resnet import BasicBlock
from abcref.train.loop import train_step
from abcref.train.optim import Adam
from tests._bitpack_helpers import values_around
from tests.compiler._helpers import random_abc_layer


def _randomise_batchnorms(model, rng):
    """BN statistics and affine params with every sign of gamma (0 included)."""
    for _, mod in model.named_modules():
        if isinstance(mod, BatchNorm2d):
            c, dt = mod.params["weight"].shape[0], mod.params["weight"].dtype
            gamma = rng.normal(size=c) * rng.choice([-1.0, 1.0, 1.0], size=c)
            gamma[0] = 0.0
            mod.params["weight"][...] = gamma
            mod.params["bias"][...] = rng.normal(size=c)
            mod.buffers["running_mean"] = rng.normal(size=c).astype(dt)
            mod.buffers["running_var"] = rng.uniform(0.5, 2.0, size=c).astype(dt)


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.fixture(scope="module")
def trained_small_cnn(digits):
    model = build_model(
        {
            "arch": "small_cnn",
            "in_channels": 1,
            "num_classes": 10,
            "widths": [16, 32, 32],
            "pool_after": [1],
            "conv": {"kind": "abc", "M": 2, "N": 3},
            "seed": 0,
        }
    )
    optimizer = Adam(model, lr=3e-3)
    rng = np.random.default_rng(0)
    for _ in range(40):
        batch = rng.choice(digits.x_train.shape[0], size=64, replace=False)
        train_step(model, optimizer, digits.x_train[batch], digits.y_train[batch])
    return model.eval()


def test_trained_model_same_predictions_on_every_example(trained_small_cnn, digits):
    model = trained_small_cnn
    compiled = compile_model(model)
    kinds = {name: type(mod) for name, mod in compiled.named_modules()}
    assert kinds["conv2"] is BitABCConv2d and kinds["conv3"] is BitABCConv2d
    assert "bn1" not in kinds and "bn2" not in kinds  # folded into conv2 / conv3 comparators
    x = np.concatenate([digits.x_train, digits.x_test])
    float_logits = model.forward(x)
    bit_logits = compiled.forward(x)
    np.testing.assert_array_equal(bit_logits.argmax(axis=1), float_logits.argmax(axis=1))
    np.testing.assert_allclose(bit_logits, float_logits, rtol=0, atol=1e-4)
    accuracy = (compiled.forward(digits.x_test).argmax(axis=1) == digits.y_test).mean()
    assert accuracy > 0.5  # trained, not a random net


def test_compiled_model_does_not_change_with_float_model(trained_small_cnn, digits):
    compiled = compile_model(trained_small_cnn)
    before = compiled.forward(digits.x_test[:20])
    other = build_model(trained_small_cnn.config)  # a different set of weights
    other.eval()
    np.testing.assert_array_equal(compiled.forward(digits.x_test[:20]), before)


@pytest.mark.parametrize(
    ("arch", "dtype"),
    [("small_cnn", "float64"), ("small_cnn", "float32"), ("cifar_resnet", "float64")],
)
def test_compiled_model_matches_random_float_model(arch, dtype):
    rng = np.random.default_rng(3)
    config = {
        "arch": arch,
        "in_channels": 3,
        "num_classes": 10,
        "conv": {"kind": "abc", "M": 3, "N": 2},
        "dtype": dtype,
    }
    if arch == "cifar_resnet":
        config.update(depth=8, width=8)
    model = build_model(config)
    _randomise_batchnorms(model, rng)
    model.eval()
    compiled = compile_model(model)
    assert sum(isinstance(m, BitABCConv2d) for _, m in compiled.named_modules()) == sum(
        isinstance(m, ABCConv2d) for _, m in model.named_modules()
    )
    x = rng.normal(size=(32, 3, 8, 8)).astype(dtype)
    float_logits = model.forward(x)
    bit_logits = compiled.forward(x)
    np.testing.assert_array_equal(bit_logits.argmax(axis=1), float_logits.argmax(axis=1))
    atol = 1e-10 if dtype == "float64" else 1e-3
    np.testing.assert_allclose(bit_logits, float_logits, rtol=0, atol=atol)


def test_compile_model_requires_eval_mode(trained_small_cnn):
    model = build_model(trained_small_cnn.config)
    with pytest.raises(ValueError, match=r"model must be in eval mode \(call model.eval\(\)\)"):
        compile_model(model)


def test_compiled_layers_are_inference_only(trained_small_cnn):
    compiled = compile_model(trained_small_cnn)
    layer = next(m for _, m in compiled.named_modules() if isinstance(m, BitABCConv2d))
    with pytest.raises(RuntimeError, match="inference-only"):
        layer.backward(np.zeros((1, 1, 1, 1)))


# -- BN folding: a subnormal gamma must not make the comparator constant --------
@pytest.mark.parametrize(
    ("dtype", "gamma", "beta", "R"),
    [(np.float64, 5e-324, -1e-24, 1e300), (np.float32, 1.4e-45, -1e-8, 1e38)],
)
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_folded_comparator_keeps_the_direction_of_a_subnormal_gamma(dtype, gamma, beta, R, sign):
    bn = BatchNorm2d(1, dtype=dtype)
    bn.params["weight"][...] = sign * gamma
    bn.params["bias"][...] = beta
    bn.buffers["running_var"] = np.array([5.0], dtype=dtype)  # a = gamma / sqrt(5) -> 0
    bn.eval()
    a, b, bn_fn = batchnorm_affine(bn)
    assert np.sign(a[0]) == sign
    v = np.array([0.5], dtype=dtype)  # threshold 0: BN(R) = beta + tiny * R crosses it
    comparator = fold_batchnorm_exact(a, b, v, batchnorm=bn_fn)
    x = np.array([-R, 0.0, R], dtype=dtype).reshape(3, 1, 1, 1)
    float_bits = binarize_activations(bn.forward(x), v) > 0
    assert float_bits.any() and not float_bits.all()  # the BN output is not constant
    np.testing.assert_array_equal(comparator.bits(x), float_bits)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("gamma_sign", [1.0, -1.0, 0.0])
def test_compiled_layer_with_folded_batchnorm_matches_float_graph(gamma_sign, dtype):
    rng = np.random.default_rng(7)
    c_in = 5
    bn = BatchNorm2d(c_in, dtype=dtype)
    bn.params["weight"][...] = gamma_sign * rng.uniform(0.5, 2.0, c_in)
    bn.params["weight"][0] = 0.0
    bn.params["bias"][...] = rng.normal(size=c_in)
    bn.buffers["running_mean"] = rng.normal(size=c_in).astype(dtype)
    bn.buffers["running_var"] = rng.uniform(0.5, 2.0, c_in).astype(dtype)
    bn.eval()
    layer = random_abc_layer(
        rng,
        c_in=c_in,
        c_out=4,
        k=3,
        M=3,
        N=3,
        stride=1,
        padding=1,
        pad_value=0.0,
        per_channel=False,
        dtype=dtype,
    )
    x = rng.normal(size=(3, c_in, 7, 7)).astype(dtype)
    compiled = compile_layer(layer, batchnorm=bn)
    y = bn.forward(x)
    expected = layer.forward(y)
    atol = (1e-5 if dtype == np.float32 else 1e-12) * np.abs(expected).max()
    np.testing.assert_allclose(compiled(x), expected, rtol=0, atol=atol)
    a, b, _ = batchnorm_affine(bn)
    np.testing.assert_array_equal(compiled.comparator.direction, np.sign(a).astype(np.int8))
    # Bits identical to binarising the float BN output, also at and next to every threshold.
    edges = values_around(compiled.comparator.thresholds, dtype)  # (values, C)
    for probe in (x, edges[:, :, None, None]):
        np.testing.assert_array_equal(
            compiled.comparator.bits(probe),
            binarize_activations(bn.forward(probe), layer.params["v"]) > 0,
        )


def test_compile_layer_needs_binary_activations():
    with pytest.raises(ValueError, match="full-precision activations"):
        compile_layer(ABCConv2d(2, 2, 3, M=2, N=None))


# -- fold_plan: a BN is folded only when every reader is a binary ABC conv ------------------


def _abc(c_in, c_out, k, *, stride, padding, rng, dtype):
    return ABCConv2d(
        c_in, c_out, k, M=2, N=2, stride=stride, padding=padding, rng=rng, dtype=dtype
    )


@pytest.mark.parametrize(("shortcut_conv", "folded"), [(_abc, True), (None, False)])
def test_a_batchnorm_read_by_a_float_layer_too_is_not_folded(shortcut_conv, folded):
    block = BasicBlock(
        3,
        4,
        stride=2,
        conv=_abc,
        activation=None,
        shortcut_conv=shortcut_conv,  # None: a full-precision projection
        shortcut_input="preactivation",  # ... that reads bn1's output too
        dtype=np.float64,
        rng=np.random.default_rng(0),
    )
    model = Sequential(block=block)
    _randomise_batchnorms(model, np.random.default_rng(1))
    model.eval()
    plan = fold_plan(model)
    assert ("block.bn1" in plan) is folded and plan["block.bn2"] == ("block.conv2",)
    compiled = compile_model(model)
    assert type(compiled.block.bn1).__name__ == ("FoldedBatchNorm" if folded else "BatchNorm2d")
    assert compiled.block.conv1.folded_batchnorm == ("block.bn1" if folded else None)
    x = np.random.default_rng(2).normal(size=(5, 3, 6, 6))
    np.testing.assert_allclose(compiled.forward(x), model.forward(x), rtol=0, atol=1e-12)


def test_fold_plan_needs_a_module():
    with pytest.raises(TypeError, match="model must be an abcref.nn Module, got dict"):
        fold_plan({"arch": "small_cnn"})
