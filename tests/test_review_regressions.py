"""Regression tests for bugs found in the correctness review (one test per fix)."""

import json
import zipfile

import numpy as np
import pytest

from abcref.nn import build_model
from abcref.train import Adam, CheckpointError, fit, load_checkpoint, save_checkpoint

CONFIG = {
    "arch": "small_cnn",
    "widths": [3, 4],
    "pool_after": [1],
    "conv": {"kind": "abc", "M": 2, "N": 2},
}


def _with_metadata(src, dst, **changes):
    """Copy a checkpoint, replacing fields of its JSON metadata."""
    metadata = {**load_checkpoint(src).metadata, **changes}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            if item.filename == "metadata.json.npy":
                with zout.open(item.filename, "w") as f:
                    text = json.dumps(metadata).encode()
                    np.lib.format.write_array(f, np.frombuffer(text, np.uint8))
            else:
                zout.writestr(item, zin.read(item.filename))
    return dst


# -- checkpoint metadata of the wrong type: CheckpointError, not int()/.get ----
@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"epoch": "3"}, r"field 'epoch' must be an integer >= 0, got str"),
        ({"epoch": -1}, r"field 'epoch' must be an integer >= 0"),
        ({"arrays": 5}, r"field 'arrays' must be a list of array names, got int"),
        ({"arrays": "model/fc.W"}, r"field 'arrays' must be a list of array names, got str"),
        ({"extra": 5}, r"field 'extra' must be a dict, got int"),
        ({"model_config": [1]}, r"field 'model_config' must be a dict or null"),
        ({"rng_state": "PCG64"}, r"field 'rng_state' must be a dict or null"),
        ({"optimizer": {"type": "Adam"}}, r"field 'optimizer' must be null or a dict with"),
        (
            {"optimizer": {"type": "Adam", "hyper": {}, "step": 2}},
            r"\"hyper\" is a dict holding \"lr\"",
        ),
    ],
)
def test_checkpoint_metadata_of_the_wrong_type_is_a_checkpoint_error(tmp_path, changes, match):
    model = build_model(CONFIG)
    path = save_checkpoint(tmp_path / "ck.npz", model, optimizer=Adam(model), epoch=1)
    bad = _with_metadata(path, tmp_path / "bad.npz", **changes)
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(bad)
    assert "bad.npz" in str(info.value)


def test_resume_from_malformed_fit_history_is_a_checkpoint_error(tmp_path):
    rng = np.random.default_rng(0)
    data = {
        "x_train": rng.standard_normal((8, 1, 6, 6)).astype(np.float32),
        "y_train": rng.integers(0, 10, 8),
        "x_test": np.zeros((0, 1, 6, 6), np.float32),
        "y_test": np.zeros(0, np.int64),
    }
    model = build_model(CONFIG)
    path = tmp_path / "ck.npz"
    fit(model, data, epochs=1, batch_size=4, checkpoint_path=path, progress=False)
    extra = load_checkpoint(path).metadata["extra"]
    bad = _with_metadata(path, tmp_path / "bad.npz", extra={**extra, "history": "epoch 1"})
    with pytest.raises(CheckpointError, match=r"malformed extra\['fit'\] or extra\['history'\]"):
        fit(build_model(CONFIG), data, epochs=2, batch_size=4, resume_from=bad, progress=False)


# -- flags that are not bools: TypeError, not a silently truthy string ---------
def test_non_bool_flags_are_type_errors():
    from abcref.binarize import approximate_weights
    from abcref.nn.abcconv import ABCConv2d

    W = np.random.default_rng(1).normal(size=(2, 3, 3, 3))
    with pytest.raises(TypeError, match="per_channel must be a bool, got 'no'"):
        approximate_weights(W, 2, per_channel="no")
    with pytest.raises(TypeError, match="train_shifts must be a bool, got 'false'"):
        ABCConv2d(3, 2, 3, M=2, N=1, train_shifts="false")
    with pytest.raises(TypeError, match="per_channel must be a bool, got 1"):
        ABCConv2d(3, 2, 3, M=2, N=1, per_channel=1)


def test_abc_conv_with_list_v_or_beta_names_the_argument():
    from abcref.binarize import abc_conv2d_forward

    rng = np.random.default_rng(2)
    x, W = rng.normal(size=(1, 2, 4, 4)), rng.normal(size=(3, 2, 3, 3))
    with pytest.raises(TypeError, match="v must be a numpy.ndarray, got list"):
        abc_conv2d_forward(x, W, [0.5], np.array([1.0]), M=2)
    with pytest.raises(TypeError, match="beta must be a numpy.ndarray, got float"):
        abc_conv2d_forward(x, W, np.array([0.5]), 1.0, M=2)


# -- BN folding: a subnormal gamma must not make the comparator constant --------
@pytest.mark.parametrize(
    ("dtype", "gamma", "beta", "R"),
    [(np.float64, 5e-324, -1e-24, 1e300), (np.float32, 1.4e-45, -1e-8, 1e38)],
)
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_folded_comparator_keeps_the_direction_of_a_subnormal_gamma(dtype, gamma, beta, R, sign):
    from abcref.binarize import binarize_activations
    from abcref.bitpack.thresholds import fold_batchnorm_exact
    from abcref.compiler import batchnorm_affine
    from abcref.nn.layers import BatchNorm2d

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


# -- binarize backwards: a broadcastable upstream gradient is an error ----------
def test_binarize_backwards_reject_broadcastable_upstream_gradients():
    from abcref.binarize import (
        approximate_activations_backward,
        approximate_activations_forward,
        approximate_weights_backward,
        approximate_weights_forward,
        binarize_activations_backward,
        binarize_activations_forward,
    )

    rng = np.random.default_rng(3)
    R, v, beta = rng.normal(size=(6, 1)), np.array([0.5, 0.2]), np.array([1.0, 0.5])
    _, cache = approximate_activations_forward(R, v, beta)
    with pytest.raises(ValueError, match=r"dR_tilde must have shape \(6, 1\), got shape \(1, 6\)"):
        approximate_activations_backward(np.ones((1, 6)), cache)  # used to return (6, 6)
    with pytest.raises(TypeError, match="dR_tilde must have dtype float64"):
        approximate_activations_backward(np.ones((6, 1), np.float32), cache)
    _, cache = binarize_activations_forward(R, v)
    with pytest.raises(ValueError, match=r"dA must have shape \(2, 6, 1\)"):
        binarize_activations_backward(np.ones((2, 1, 6)), cache)
    W = rng.normal(size=(3, 2, 1, 1))
    _, cache = approximate_weights_forward(W, 2, per_channel=True)
    with pytest.raises(ValueError, match=r"dW_tilde must have shape \(3, 2, 1, 1\)"):
        approximate_weights_backward(np.ones((1, 2, 1, 1)), cache)  # used to broadcast
    with pytest.raises(TypeError, match="dW_tilde must have dtype float64"):
        approximate_weights_backward(np.ones((3, 2, 1, 1), np.float32), cache)


# -- bitpack helpers: silently wrong layouts and 0-valued filters ---------------
def test_popcount_matmul_rejects_mismatched_words_and_image_count():
    from abcref.fast.xnor import popcount_xor_matmul

    cols = np.zeros((3, 10), np.uint64)
    with pytest.raises(ValueError, match=r"filt must have 3 words per filter like cols"):
        popcount_xor_matmul(cols, np.ones((4, 2), np.uint64))  # word 4 was ignored
    with pytest.raises(ValueError, match="cols has 10 rows, not a multiple of n_images=3"):
        popcount_xor_matmul(cols, np.ones((3, 2), np.uint64), n_images=3)
    with pytest.raises(TypeError, match="filt must be a 2-d uint64 ndarray"):
        popcount_xor_matmul(cols, np.ones((3, 2)))


def test_zero_padding_correction_rejects_zero_valued_filters():
    from abcref.bitpack import zero_padding_correction

    b = np.sign(np.array([0.0, 1.0])).reshape(2, 1, 1, 1)  # np.sign(0) = 0
    with pytest.raises(ValueError, match=r"b must hold only \+1 and -1"):
        zero_padding_correction(b, (2, 2), padding=1)  # 0 was counted as -1


# -- integer dtypes would truncate shifts and initial (v, beta) -----------------
def test_integer_dtypes_are_rejected_by_the_initialisers():
    from abcref.binarize import default_activation_params, h_v, weight_shifts

    with pytest.raises(TypeError, match="dtype must be float32 or float64, got int64"):
        weight_shifts(4, np.int64)  # gave [-1, 0, 0, 1]
    with pytest.raises(TypeError, match="dtype must be float32 or float64, got int32"):
        default_activation_params(3, np.int32)  # gave v = [1, 0, 0], beta = [0, 0, 0]
    with pytest.raises(ValueError, match="v must be finite, got nan"):
        h_v(np.zeros(2), float("nan"))  # gave [nan, nan]


# -- every bit generator the loader accepts can also be saved ------------------
@pytest.mark.parametrize("bit_generator", ["PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937"])
def test_checkpoint_round_trips_every_allowed_bit_generator(tmp_path, bit_generator):
    model = build_model(CONFIG)
    rng = np.random.Generator(getattr(np.random, bit_generator)(7))
    rng.random(5)
    path = save_checkpoint(tmp_path / "ck.npz", model, rng=rng)  # TypeError for arrays
    restored = load_checkpoint(path).rng()
    np.testing.assert_array_equal(restored.random(20), rng.random(20))
    assert type(restored.bit_generator).__name__ == bit_generator


def test_evaluate_on_no_examples_is_an_error_not_zero_accuracy():
    from abcref.train import evaluate

    model = build_model(CONFIG)
    with pytest.raises(ValueError, match="x must hold at least one example to evaluate"):
        evaluate(model, np.zeros((0, 1, 6, 6), np.float32), np.zeros(0, np.int64))


def test_comparator_rejects_a_channel_count_that_would_broadcast():
    from abcref.bitpack.thresholds import plain_comparator

    comparator = plain_comparator(np.array([0.5]), 3)
    with pytest.raises(ValueError, match="x has 1 channels, the comparator 3"):
        comparator.bits(np.zeros((2, 1, 4, 4)))  # gave (1, 2, 3, 4, 4) bits
    with pytest.raises(ValueError, match="x must be 4-dimensional"):
        comparator.bits(np.zeros((2, 3, 4)))


def test_conv_with_an_empty_kernel_names_w():
    from abcref.ops import conv2d_forward, conv2d_naive

    for w_shape, x_shape in (((2, 2, 0, 0), (1, 2, 3, 3)), ((2, 0, 3, 3), (1, 0, 3, 3))):
        for conv in (conv2d_forward, conv2d_naive):
            with pytest.raises(ValueError, match=r"w must have at least one filter"):
                conv(np.ones(x_shape), np.ones(w_shape))
