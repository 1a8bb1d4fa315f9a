"""Tests of abcref.apps.run: a run's optimizer and schedule, and the run folder's files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from abcref.apps.folders import CONFIG_NAME
from abcref.apps.run import (
    CHECKPOINT_NAME,
    auto_drop_last,
    check_input_shape,
    full_precision_source,
    load_trained,
    make_training,
    run_settings,
    trained_on,
)
from abcref.data import Dataset, load_digits
from abcref.nn import build_model
from abcref.train import SGD, Adam, Constant, Cosine, fit, load_checkpoint, save_checkpoint


def test_auto_drop_last():
    assert auto_drop_last(65, 64) is True
    assert auto_drop_last(1437, 64) is False


def test_make_training():
    model = build_model({"arch": "small_cnn", "widths": [4, 8], "conv": "fp"})
    opt, sched = make_training(
        model, optimizer="sgd", lr=0.5, weight_decay=0.0, schedule="cosine", epochs=2
    )
    assert isinstance(opt, SGD) and isinstance(sched, Cosine)
    assert opt.lr == 0.5 and sched(0.0) == 1.0 and sched(2.0) == pytest.approx(0.0)
    opt, sched = make_training(
        model, optimizer="adam", lr=0.1, weight_decay=0.0, schedule="constant", epochs=2
    )
    assert isinstance(opt, Adam) and isinstance(sched, Constant) and opt.lr * sched(1.5) == 0.1
    with pytest.raises(ValueError, match="optimizer"):
        make_training(
            model, optimizer="rmsprop", lr=0.1, weight_decay=0, schedule="cosine", epochs=1
        )
    with pytest.raises(ValueError, match="schedule"):
        make_training(model, optimizer="sgd", lr=0.1, weight_decay=0, schedule="step", epochs=1)


def test_make_training_weight_decay_is_decoupled_under_adam_only():
    # weight_ste="paper" (the default): coupled L2 would outweigh the data
    # gradient of ABC latent weights, so Adam decays them decoupled (AdamW)
    # and SGD's coupled decay is refused by the optimizer itself.
    abc = build_model({"arch": "small_cnn", "widths": [4, 8]})
    opt, _ = make_training(
        abc, optimizer="adam", lr=0.01, weight_decay=5e-4, schedule="cosine", epochs=1
    )
    assert opt.decoupled_weight_decay and opt.weight_decay == 5e-4
    opt, _ = make_training(
        abc, optimizer="adam", lr=0.01, weight_decay=0, schedule="cosine", epochs=1
    )
    assert not opt.decoupled_weight_decay  # no decay: the settings of every earlier run
    with pytest.raises(ValueError, match="weight_ste"):
        make_training(abc, optimizer="sgd", lr=0.1, weight_decay=5e-4, schedule="cosine", epochs=1)


def test_run_settings(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint .* to resume from"):
        run_settings(tmp_path)
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"")
    with pytest.raises(ValueError, match="holds no readable run settings"):
        run_settings(tmp_path)  # no config.json: nothing saved
    (tmp_path / CONFIG_NAME).write_text(json.dumps({"command": "train", "settings": {"M": 2}}))
    assert run_settings(tmp_path) == {"M": 2}
    (tmp_path / CONFIG_NAME).write_text(json.dumps({"command": "train", "other": 1}))
    with pytest.raises(ValueError, match="holds no readable run settings"):
        run_settings(tmp_path)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A full-precision and an ABC checkpoint written by fit (8x8 digits), and an old-style one."""
    directory = tmp_path_factory.mktemp("ckpt")
    data = load_digits(limit=32)
    paths = {}
    for name, conv in (("fp", "fp"), ("abc", {"kind": "abc", "M": 1, "N": 1})):
        model = build_model({"arch": "small_cnn", "widths": [4, 4], "conv": conv})
        paths[name] = directory / f"{name}.npz"
        fit(model, data, epochs=1, batch_size=32, checkpoint_path=paths[name], progress=False)
    paths["bare"] = save_checkpoint(directory / "bare.npz", model)  # no input_shape
    return paths


def test_full_precision_source(checkpoints, tmp_path):
    assert full_precision_source(checkpoints["fp"]).model_config["conv"] == {"kind": "fp"}
    with pytest.raises(ValueError, match="is not a full-precision model: its conv kind is 'abc'"):
        full_precision_source(checkpoints["abc"])
    with pytest.raises(IsADirectoryError, match="is a directory, not a file"):
        full_precision_source(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        full_precision_source(tmp_path / "missing.npz")


def test_check_input_shape(checkpoints):
    digits = load_digits(limit=8)
    checkpoint = load_checkpoint(checkpoints["abc"])
    assert checkpoint.metadata["extra"]["input_shape"] == [1, 8, 8]
    check_input_shape(checkpoint, digits)
    mnist_like = Dataset(
        "mnist-like", np.zeros((2, 1, 28, 28), np.float32), np.zeros(2, np.int64),
        np.zeros((2, 1, 28, 28), np.float32), np.zeros(2, np.int64), 10,
    )  # fmt: skip
    with pytest.raises(ValueError, match="trained on 1x8x8 images, mnist-like has 1x28x28"):
        check_input_shape(checkpoint, mnist_like)
    rgb = Dataset(
        "rgb", np.zeros((2, 3, 8, 8), np.float32), np.zeros(2, np.int64),
        np.zeros((2, 3, 8, 8), np.float32), np.zeros(2, np.int64), 10,
    )  # fmt: skip
    bare = load_checkpoint(checkpoints["bare"])  # no recorded shape: the channels still count
    with pytest.raises(ValueError, match="expects 1-channel images, rgb has 3"):
        check_input_shape(bare, rgb)
    check_input_shape(bare, mnist_like)


def test_load_trained(checkpoints, tmp_path):
    model, checkpoint = load_trained(checkpoints["abc"])
    assert not model.training and checkpoint.epoch == 1
    with pytest.raises(IsADirectoryError, match="is a directory, not a file$"):
        load_trained(checkpoints["abc"].parent)
    (tmp_path / "model.npz").write_bytes(checkpoints["abc"].read_bytes())
    with pytest.raises(IsADirectoryError, match="did you mean '.*model.npz'"):
        load_trained(tmp_path)


def test_trained_on(tmp_path):
    checkpoint = tmp_path / CHECKPOINT_NAME
    assert trained_on(checkpoint) == "digits"  # no config.json beside it
    (tmp_path / CONFIG_NAME).write_text(json.dumps({"settings": {"data": "/data/mnist"}}))
    assert trained_on(checkpoint) == "/data/mnist"
    (tmp_path / CONFIG_NAME).write_text(json.dumps({"settings": {"data": 3}}))
    with pytest.raises(ValueError, match="expected a string; pass --data explicitly"):
        trained_on(checkpoint)
    (tmp_path / CONFIG_NAME).write_text("{not json")
    with pytest.raises(ValueError, match="cannot read the training data setting"):
        trained_on(checkpoint)
