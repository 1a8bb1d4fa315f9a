"""Tests of abcref.train.finetune: initialising a binary model from a full-precision one."""

import numpy as np
import pytest

from abcref.nn import abc_conv, build_model
from abcref.nn.quantconv import PRESETS, QuantConv2d
from abcref.train import (
    Adam,
    CheckpointError,
    check_full_precision_source,
    init_from_full_precision,
    load_checkpoint,
    save_checkpoint,
    train_step,
)


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


BASE = {"arch": "small_cnn", "widths": [4, 6], "pool_after": [1]}


@pytest.mark.parametrize("conv", [abc_conv(M=2, N=2), "bwn", "xnor"])
def test_a_binary_source_is_refused(tmp_path, conv):
    source = build_model({**BASE, "conv": conv})
    target = build_model({**BASE, "conv": abc_conv(M=2, N=2)})
    before = target.state_dict()
    kind = source.config["conv"]["kind"]
    with pytest.raises(
        ValueError, match=rf"not a full-precision model: its conv kind is '{kind}'"
    ):
        init_from_full_precision(target, source)
    path = save_checkpoint(tmp_path / "binary.npz", source)
    with pytest.raises(ValueError, match=r"checkpoint '.*binary.npz' is not a full-precision"):
        init_from_full_precision(target, path)
    with pytest.raises(ValueError, match="not a full-precision model"):
        check_full_precision_source(load_checkpoint(path))
    after = target.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)  # nothing written


def test_a_binary_source_without_config_is_recognised_by_its_layers(tmp_path):
    abc = build_model({**BASE, "conv": abc_conv(M=2, N=2)})
    abc.config = None
    with pytest.raises(ValueError, match=r"binarizing layers \(conv2 \(ABCConv2d\)\)"):
        check_full_precision_source(abc)
    path = save_checkpoint(tmp_path / "noconfig.npz", abc)  # saved without a config
    with pytest.raises(ValueError, match=r"binarizing layers \(conv2.beta, conv2.v\)"):
        check_full_precision_source(path)
    bnn_layer = QuantConv2d(2, 3, 3, **PRESETS["bnn"])
    with pytest.raises(ValueError, match=r"layers \(the model itself \(QuantConv2d\)\)"):
        check_full_precision_source(bnn_layer)


def test_a_full_precision_source_passes_the_check(tmp_path):
    fp = build_model({**BASE, "conv": "fp"})
    assert check_full_precision_source(fp) is fp
    path = save_checkpoint(tmp_path / "fp.npz", fp)
    checkpoint = check_full_precision_source(str(path))
    assert checkpoint.model_config == fp.config
    fp.config = None
    assert check_full_precision_source(fp) is fp


def test_bad_sources(tmp_path):
    target = build_model({**BASE, "conv": abc_conv(M=2, N=2)})
    with pytest.raises(TypeError, match="source must be an abcref.nn.Module, a Checkpoint"):
        init_from_full_precision(target, 3)
    with pytest.raises(IsADirectoryError, match="is a directory, expected a checkpoint file"):
        init_from_full_precision(target, tmp_path)
    (tmp_path / "config.json").write_text('{"settings": {}}')
    with pytest.raises(CheckpointError, match=r"not an npz checkpoint \(it looks like JSON\)"):
        init_from_full_precision(target, tmp_path / "config.json")


def test_a_non_finite_source_is_refused_and_nothing_is_written():
    fp = build_model({**BASE, "conv": "fp"})
    fp.conv2.weight[0, 0, 0, 0] = np.nan
    target = build_model({**BASE, "conv": abc_conv(M=2, N=2)})
    before = target.state_dict()
    with pytest.raises(ValueError, match=r"conv2.weight.*NaN or Inf"):
        init_from_full_precision(target, fp)
    after = target.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
