"""Tests of abcref.train.finetune: initialising a binary model from a full-precision one."""

import numpy as np
import pytest

from abcref.nn import abc_conv, build_model
from abcref.train import Adam, init_from_full_precision, save_checkpoint, train_step


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
