"""Tests of abcref.apps.run: a run's optimizer and schedule, and the run folder's files."""

from __future__ import annotations

import json

import pytest

from abcref.apps.run import (
    CHECKPOINT_NAME,
    CONFIG_NAME,
    auto_drop_last,
    make_training,
    run_settings,
    trained_on,
)
from abcref.nn import build_model
from abcref.train import SGD, Adam, Constant, Cosine


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


def test_run_settings(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint .* to resume from"):
        run_settings(tmp_path)
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"")
    assert run_settings(tmp_path) == {}  # no config.json: nothing saved
    (tmp_path / CONFIG_NAME).write_text(json.dumps({"settings": {"M": 2}}))
    assert run_settings(tmp_path) == {"M": 2}
    (tmp_path / CONFIG_NAME).write_text(json.dumps({"other": 1}))
    with pytest.raises(ValueError, match="is not readable"):
        run_settings(tmp_path)


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
