"""Tests of abcref.train.loop: train_step, fit (resume, shuffling), evaluate and top-k."""

import json

import numpy as np
import pytest

from abcref.data import load_digits
from abcref.nn import build_model
from abcref.train import (
    SGD,
    Adam,
    CheckpointError,
    Cosine,
    evaluate,
    fit,
    load_checkpoint,
    topk_correct,
    train_step,
)
from tests.train._helpers import with_metadata

TINY = {"arch": "small_cnn", "widths": [6, 8], "pool_after": [1]}
# A small ABC model with binary activations, for the regression tests at the end.
TINY_ABC = {
    "arch": "small_cnn",
    "widths": [3, 4],
    "pool_after": [1],
    "conv": {"kind": "abc", "M": 2, "N": 2},
}


@pytest.fixture(scope="module")
def small_digits():
    d = load_digits()
    return {
        "x_train": d.x_train[:150],
        "y_train": d.y_train[:150],
        "x_test": d.x_test[:50],
        "y_test": d.y_test[:50],
    }


@pytest.mark.parametrize(
    "conv", ["fp", {"kind": "abc", "M": 3, "N": 3}, {"kind": "abc", "M": 2, "N": None}]
)
def test_tiny_model_overfits_tiny_batch(conv, small_digits):
    model = build_model({**TINY, "widths": [16, 16], "conv": conv, "seed": 1})
    opt = Adam(model, lr=0.02)
    x, y = small_digits["x_train"][:20], small_digits["y_train"][:20]
    losses = [train_step(model, opt, x, y)[0] for _ in range(80)]
    assert losses[0] > 1.0
    assert losses[-1] < 0.01, losses[-10:]
    model.eval()
    assert topk_correct(model.forward(x), y, 1) == 20


def test_resume_is_bitwise_identical(tmp_path, small_digits):
    config = {**TINY, "conv": {"kind": "abc", "M": 2, "N": 2}}

    def run(epochs, **kwargs):
        model = build_model(config)
        opt = Adam(model, lr=0.01)
        history = fit(
            model,
            small_digits,
            epochs=epochs,
            optimizer=opt,
            schedule=Cosine(2),
            batch_size=32,
            seed=7,
            progress=False,
            **kwargs,
        )
        return model, opt, history

    full, full_opt, full_hist = run(2)
    ck = tmp_path / "ck.npz"
    log = tmp_path / "log.jsonl"
    run(1, checkpoint_path=ck, log_path=log)
    assert load_checkpoint(ck).epoch == 1
    resumed, resumed_opt, hist = run(2, resume_from=ck, log_path=log)
    for (name, a), (_, b) in zip(
        sorted(full.state_dict().items()), sorted(resumed.state_dict().items()), strict=True
    ):
        np.testing.assert_array_equal(a, b, err_msg=name)
    for k, a in full_opt.state_dict()["arrays"].items():
        np.testing.assert_array_equal(a, resumed_opt.state_dict()["arrays"][k], err_msg=k)
    assert [r["epoch"] for r in hist.records] == [1, 2]
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in hist.records]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in full_hist.records]
    lines = [json.loads(s) for s in log.read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]
    assert set(lines[0]) >= {"train_loss", "train_top1", "test_loss", "test_top1", "test_top5"}

    other = build_model(config)
    with pytest.raises(CheckpointError, match=r"optimizer: saved .*'weight_decay': 0.0"):
        fit(other, small_digits, epochs=2, seed=7, resume_from=ck, batch_size=32,
            optimizer=Adam(other, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
            schedule=Cosine(2),
            progress=False)  # fmt: skip
    with pytest.raises(CheckpointError, match=r"settings differ \(seed: saved 7, now 8"):
        fit(
            build_model(config),
            small_digits,
            epochs=2,
            seed=8,
            resume_from=ck,
            optimizer=None,
            schedule=Cosine(2),
            batch_size=32,
            progress=False,
        )


def test_shuffling_follows_the_documented_rng(small_digits):
    # The first batch of epoch 1 is default_rng(seed).permutation(n)[:batch].
    model = build_model({**TINY, "conv": "fp"})
    seen = []
    original = model.forward

    def spy(x):
        seen.append(x.copy())
        return original(x)

    model.forward = spy
    fit(
        model,
        small_digits,
        epochs=1,
        batch_size=40,
        seed=3,
        progress=True,
        optimizer=SGD(model, lr=0.01),
    )
    perm = np.random.default_rng(3).permutation(150)
    np.testing.assert_array_equal(seen[0], small_digits["x_train"][perm[:40]])
    np.testing.assert_array_equal(seen[3], small_digits["x_train"][perm[120:]])


def test_evaluate_restores_mode_and_metrics(small_digits):
    model = build_model({**TINY, "conv": "fp"})
    model.train()
    result = evaluate(model, small_digits["x_test"], small_digits["y_test"], batch_size=7)
    assert model.training
    assert set(result) == {"loss", "top1", "top5"}
    assert 0.0 <= result["top1"] <= result["top5"] <= 1.0
    again = evaluate(model, small_digits["x_test"], small_digits["y_test"], batch_size=50)
    assert again["top1"] == result["top1"]
    assert again["loss"] == pytest.approx(result["loss"], rel=1e-5)


def test_topk_correct():
    logits = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.5], [0.2, 0.3, 0.1]])
    labels = np.array([1, 2, 2])
    assert topk_correct(logits, labels, 1) == 1
    assert topk_correct(logits, labels, 2) == 2
    assert topk_correct(logits, labels, 3) == 3


def test_fit_bad_inputs(small_digits):
    model = build_model({**TINY, "conv": "fp"})
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        fit(model, small_digits, epochs=0, progress=False)
    with pytest.raises(TypeError, match="data must have attributes"):
        fit(model, [1, 2], epochs=1, progress=False)
    with pytest.raises(ValueError, match="missing keys"):
        fit(model, {"x_train": small_digits["x_train"]}, epochs=1, progress=False)
    bad = {**small_digits, "y_train": small_digits["y_train"][:10]}
    with pytest.raises(ValueError, match="y_train has 10 labels but x_train has 150"):
        fit(model, bad, epochs=1, progress=False)
    bad = {**small_digits, "y_train": small_digits["y_train"].astype(np.float32)}
    with pytest.raises(TypeError, match="y_train must be a 1-D integer array"):
        fit(model, bad, epochs=1, progress=False)
    with pytest.raises(ValueError, match="yields no batch"):
        fit(model, small_digits, epochs=1, batch_size=200, drop_last=True, progress=False)
    other = build_model({**TINY, "conv": "fp"})
    with pytest.raises(ValueError, match="optimizer was built for a different model"):
        fit(model, small_digits, epochs=1, optimizer=Adam(other), progress=False)
    with pytest.raises(FloatingPointError, match="training diverged: .* at epoch 1"):
        with np.errstate(all="ignore"):
            fit(model, small_digits, epochs=1, optimizer=SGD(model, lr=1e30), progress=False)
    with pytest.raises(TypeError, match="schedule must be an abcref Schedule, 'cosine'"):
        fit(model, small_digits, epochs=1, schedule=0.1, progress=False)
    with pytest.raises(TypeError, match="optimizer must be an abcref Optimizer, got str"):
        fit(model, small_digits, epochs=1, optimizer="adam", progress=False)


def test_train_step_calls_after_update_hooks(small_digits):
    from abcref.nn import Sequential
    from abcref.nn.module import Module

    class Clamp(Module):
        calls = 0

        def forward(self, x):
            return x

        def backward(self, dout):
            return dout

        def after_update(self):
            Clamp.calls += 1

    model = build_model({**TINY, "conv": "fp"})
    wrapped = Sequential(clamp=Clamp(), net=model)
    opt = SGD(wrapped, lr=0.01)
    train_step(wrapped, opt, small_digits["x_train"][:8], small_digits["y_train"][:8])
    train_step(wrapped, opt, small_digits["x_train"][:8], small_digits["y_train"][:8])
    assert Clamp.calls == 2


def test_resume_from_malformed_fit_history_is_a_checkpoint_error(tmp_path):
    rng = np.random.default_rng(0)
    data = {
        "x_train": rng.standard_normal((8, 1, 6, 6)).astype(np.float32),
        "y_train": rng.integers(0, 10, 8),
        "x_test": np.zeros((0, 1, 6, 6), np.float32),
        "y_test": np.zeros(0, np.int64),
    }
    model = build_model(TINY_ABC)
    path = tmp_path / "ck.npz"
    fit(model, data, epochs=1, batch_size=4, checkpoint_path=path, progress=False)
    extra = load_checkpoint(path).metadata["extra"]
    bad = with_metadata(path, tmp_path / "bad.npz", extra={**extra, "history": "epoch 1"})
    with pytest.raises(CheckpointError, match=r"malformed extra\['fit'\] or extra\['history'\]"):
        fit(build_model(TINY_ABC), data, epochs=2, batch_size=4, resume_from=bad, progress=False)


def test_evaluate_on_no_examples_is_an_error_not_zero_accuracy():
    model = build_model(TINY_ABC)
    with pytest.raises(ValueError, match="x must hold at least one example to evaluate"):
        evaluate(model, np.zeros((0, 1, 6, 6), np.float32), np.zeros(0, np.int64))


# -- one owner for the learning rate -------------------------------------------------
def test_a_schedule_scales_the_optimizers_own_rate(small_digits):
    model = build_model({**TINY, "conv": "fp"})
    optimizer = Adam(model, lr=1e-5)
    history = fit(model, small_digits, epochs=2, optimizer=optimizer, schedule=Cosine(2),
                  batch_size=64, progress=False)  # fmt: skip
    steps = 3  # 150 images in batches of 64
    expected = [1e-5 * Cosine(2)(e + (steps - 1) / steps) for e in (0, 1)]
    assert history.column("lr") == expected  # never above the optimizer's 1e-5
    assert optimizer.lr == 1e-5 and optimizer.current_lr == expected[-1]


def test_fit_defaults_are_the_cli_defaults(small_digits):
    import inspect

    from abcref.cli._common import TRAIN_DEFAULTS
    from abcref.train import DEFAULT_LRS

    defaults = {k: p.default for k, p in inspect.signature(fit).parameters.items()}
    adam_lr = inspect.signature(Adam).parameters["lr"].default
    assert TRAIN_DEFAULTS["optimizer"] == "adam" and adam_lr == DEFAULT_LRS["adam"] == 3e-3
    for key in ("schedule", "batch_size", "seed"):
        assert defaults[key] == TRAIN_DEFAULTS[key], key
    model = build_model({**TINY, "conv": "fp"})
    history = fit(model, small_digits, epochs=2, batch_size=64, progress=False)
    steps = 3
    assert history.column("lr") == [3e-3 * Cosine(2)(e + (steps - 1) / steps) for e in (0, 1)]
    constant = fit(build_model({**TINY, "conv": "fp"}), small_digits, epochs=1,
                   schedule="constant", progress=False)  # fmt: skip
    assert constant.column("lr") == [3e-3]
    again = fit(build_model({**TINY, "conv": "fp"}), small_digits, epochs=1,
                optimizer=None, schedule=None, progress=False)  # fmt: skip
    assert again.records[0]["train_loss"] == constant.records[0]["train_loss"]


def test_resume_refuses_a_different_rate(tmp_path, small_digits):
    ck = tmp_path / "ck.npz"
    model = build_model({**TINY, "conv": "fp"})
    fit(model, small_digits, epochs=1, checkpoint_path=ck, progress=False)
    other = build_model({**TINY, "conv": "fp"})
    with pytest.raises(CheckpointError, match=r"optimizer: saved .*'lr': 0.003.*'lr': 0.001"):
        fit(other, small_digits, epochs=1, optimizer=Adam(other, lr=1e-3), resume_from=ck,
            progress=False)  # fmt: skip


def _as_written_before_the_optimizer_owned_the_rate(path, dst, *, schedule_lr):
    """Rewrite a checkpoint's fit settings as abcref 0.1 saved them.

    The optimizer's settings had no "lr", the schedule held the rate, and
    the optimizer's saved "lr" was the scheduled rate of the last step.
    """
    metadata = load_checkpoint(path).metadata
    fit_settings = dict(metadata["extra"]["fit"])
    optimizer = {k: v for k, v in fit_settings["optimizer"].items() if k != "lr"}
    if optimizer["type"] == "SGD":
        del optimizer["decoupled_weight_decay"]  # abcref 0.1's SGD had no such option
    fit_settings["optimizer"] = optimizer
    old_schedule = None
    if schedule_lr is not None:
        old_schedule = {"name": "cosine", "lr": schedule_lr, "epochs": 2, "min_lr": 0.0,
                        "per_step": True}  # fmt: skip
    fit_settings["schedule"] = old_schedule
    hyper = dict(metadata["optimizer"]["hyper"])
    hyper["lr"] = metadata["metrics"]["lr"]  # the rate of the last step
    return with_metadata(
        path, dst, extra={**metadata["extra"], "fit": fit_settings},
        optimizer={**metadata["optimizer"], "hyper": hyper},
    )  # fmt: skip


@pytest.mark.parametrize("with_schedule", [True, False])
def test_a_checkpoint_from_before_resumes_exactly(tmp_path, small_digits, with_schedule):
    config = {**TINY, "conv": {"kind": "abc", "M": 2, "N": 2}}
    schedule = Cosine(2) if with_schedule else None

    def run(epochs, **kwargs):
        model = build_model(config)
        opt = SGD(model, lr=0.02)
        fit(model, small_digits, epochs=epochs, optimizer=opt, schedule=schedule,
            batch_size=32, seed=7, progress=False, **kwargs)  # fmt: skip
        return model

    full = run(2)
    run(1, checkpoint_path=tmp_path / "ck.npz")
    old = _as_written_before_the_optimizer_owned_the_rate(
        tmp_path / "ck.npz", tmp_path / "old.npz", schedule_lr=0.02 if with_schedule else None
    )
    if with_schedule:  # the saved optimizer rate really is the scheduled one, not the base
        assert load_checkpoint(old).optimizer_state["hyper"]["lr"] < 0.02
    resumed = run(2, resume_from=old)
    for name, value in full.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[name], value, err_msg=name)


def test_a_fresh_run_checkpoints_epoch_0_and_resumes_from_it(tmp_path, small_digits):
    """The untrained model is checkpointed first, so even the first epoch can be resumed."""
    config = {**TINY, "conv": {"kind": "abc", "M": 1, "N": 2}}
    kwargs = {"epochs": 2, "schedule": Cosine(2), "batch_size": 64, "seed": 3}
    straight = build_model(config)
    fit(straight, small_digits, optimizer=Adam(straight, lr=0.01), progress=False, **kwargs)

    path, log = tmp_path / "ck.npz", tmp_path / "log.jsonl"
    seen = []

    def stop_at_start(files):
        seen.append(list(files))
        for target, write in files.items():
            write(target)
        raise KeyboardInterrupt  # interrupted right after the epoch-0 files

    model = build_model(config)
    with pytest.raises(KeyboardInterrupt):
        fit(model, small_digits, optimizer=Adam(model, lr=0.01), checkpoint_path=path,
            log_path=log, commit=stop_at_start, progress=False, **kwargs)  # fmt: skip
    assert seen == [[path, log]]  # the checkpoint first, then the log
    checkpoint = load_checkpoint(path)
    assert checkpoint.epoch == 0 and checkpoint.metadata["extra"]["history"] == []
    assert checkpoint.metadata["extra"]["input_shape"] == [1, 8, 8]
    assert log.read_text() == ""

    resumed = build_model(config)
    history = fit(resumed, small_digits, optimizer=Adam(resumed, lr=0.01), checkpoint_path=path,
                  log_path=log, resume_from=path, progress=False, **kwargs)  # fmt: skip
    for (name, a), (_, b) in zip(
        sorted(straight.state_dict().items()), sorted(resumed.state_dict().items()), strict=True
    ):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert [json.loads(line)["epoch"] for line in log.read_text().splitlines()] == [1, 2]
    assert load_checkpoint(path).metadata["extra"]["history"] == history.records


def test_commit_receives_every_write(tmp_path, small_digits):
    model = build_model({**TINY, "conv": "fp"})
    calls = []

    def commit(files):
        calls.append(sorted(p.name for p in files))
        for target, write in files.items():
            write(target)

    path, log = tmp_path / "ck.npz", tmp_path / "log.jsonl"
    fit(model, small_digits, epochs=2, checkpoint_path=path, log_path=log, commit=commit,
        progress=False)  # fmt: skip
    assert calls == [["ck.npz", "log.jsonl"]] * 3  # epoch 0, 1, 2
    fit(build_model({**TINY, "conv": "fp"}), small_digits, epochs=2, resume_from=path,
        log_path=log, commit=commit, progress=False)  # fmt: skip
    assert calls[3:] == [["log.jsonl"]]  # resuming a finished run: the log is rewritten
    with pytest.raises(TypeError, match="commit must be callable"):
        fit(model, small_digits, epochs=1, commit="yes", progress=False)


def test_progress_goes_to_stderr(capsys, small_digits):
    model = build_model({**TINY, "conv": "fp"})
    fit(model, small_digits, epochs=2, progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    assert "epochs:" in err and "epoch 2/2" in err and "test top-1" in err
    fit(model, small_digits, epochs=1, progress=False)
    assert capsys.readouterr() == ("", "")
