"""Tests of ``abcref train`` (abcref/cli/train.py): the run folder, --resume, --init-from."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from abcref.cli import main
from abcref.train import load_checkpoint
from tests.cli._helpers import TINY, run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One epoch of an ABC M=2, N=2 model on 96 digits."""
    out = tmp_path_factory.mktemp("train")
    status = main(["train", "--M", "2", "--N", "2", "--epochs", "1", "--out", str(out), *TINY])
    assert status == 0
    return out


def test_train_writes_checkpoint_log_config(trained):
    assert sorted(p.name for p in trained.iterdir()) == ["config.json", "log.jsonl", "model.npz"]
    checkpoint = load_checkpoint(trained / "model.npz")
    assert checkpoint.epoch == 1
    assert checkpoint.model_config["conv"]["M"] == 2 and checkpoint.model_config["widths"] == [
        4,
        8,
    ]
    (record,) = [json.loads(line) for line in (trained / "log.jsonl").read_text().splitlines()]
    assert record["epoch"] == 1 and 0 <= record["test_top1"] <= 1
    config = json.loads((trained / "config.json").read_text())
    assert config["settings"]["M"] == 2 and config["settings"]["lr"] == 3e-3
    assert config["model_config"] == checkpoint.model_config


def test_resume_equals_uninterrupted(capsys, tmp_path):
    """train --resume after epoch 1 of 2 gives bitwise the uninterrupted 2-epoch run."""
    from abcref.data import load_digits
    from abcref.nn import build_model
    from abcref.train import Adam, Cosine, fit

    args = ["--M", "1", "--N", "2", "--epochs", "2", *TINY]
    assert run(capsys, "train", *args, "--out", tmp_path / "straight")[0] == 0
    # An interrupted run: its config.json, and the checkpoint fit() wrote after
    # epoch 1 of the same 2-epoch cosine schedule.
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(tmp_path / "straight" / "config.json", partial / "config.json")
    model = build_model(load_checkpoint(tmp_path / "straight" / "model.npz").model_config)
    fit(model, load_digits(limit=96), epochs=1, optimizer=Adam(model, lr=3e-3),
        schedule=Cosine(2), batch_size=32, seed=0,
        checkpoint_path=partial / "model.npz", progress=False)  # fmt: skip
    assert load_checkpoint(partial / "model.npz").epoch == 1

    status, out, err = run(capsys, "train", "--out", partial, "--resume", "--no-progress")
    assert status == 0, err
    assert "epoch 2/2" in out
    a = load_checkpoint(tmp_path / "straight" / "model.npz").model_state
    b = load_checkpoint(partial / "model.npz").model_state
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_resume_with_changed_budget_is_refused(capsys, trained, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir)
    before = (run_dir / "config.json").read_text()
    status, _, err = run(capsys, "train", "--out", run_dir, "--resume", "--epochs", "3")
    assert status == 2
    assert "--resume continues" in err and "--epochs 3 (saved 1)" in err
    assert (run_dir / "config.json").read_text() == before  # untouched on refusal
    # The same value as saved is no change.
    status, _, err = run(capsys, "train", "--out", run_dir, "--resume", "--epochs", "1",
                         "--widths", "4", "8", "--no-progress")  # fmt: skip
    assert status == 0, err


def test_init_from_full_precision(capsys, tmp_path):
    fp = tmp_path / "fp"
    assert run(capsys, "train", "--fp", "--epochs", "1", "--out", fp, *TINY)[0] == 0
    status, out, err = run(
        capsys, "train", "--M", "2", "--N", "1", "--epochs", "1", "--init-from",
        fp / "model.npz", "--limit", "96", "--batch-size", "32", "--no-progress",
        "--out", tmp_path / "ft",
    )  # fmt: skip
    assert status == 0, err
    assert "initialised from" in out and "arrays copied" in out
    # The architecture (widths 4 8) came from the FP checkpoint.
    assert load_checkpoint(tmp_path / "ft" / "model.npz").model_config["widths"] == [4, 8]


def _files(path):
    return {p.name: p.read_bytes() for p in path.iterdir()}


def test_a_run_folder_is_never_overwritten_silently(capsys, trained, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir)
    before = _files(run_dir)
    args = ["--M", "1", "--N", "1", "--epochs", "1", *TINY, "--out", run_dir]
    status, out, err = run(capsys, "train", *args)
    assert status == 2 and out == ""
    assert err == (
        f"abcref train: error: {str(run_dir)!r} holds an abcref train run; --resume continues "
        "it, --overwrite replaces it\n"
    )
    assert _files(run_dir) == before
    (run_dir / "notes.txt").write_text("keep me")
    status, _, err = run(capsys, "train", *args, "--overwrite")
    assert status == 0, err
    assert sorted(_files(run_dir)) == ["config.json", "log.jsonl", "model.npz", "notes.txt"]
    assert (run_dir / "notes.txt").read_text() == "keep me"
    assert load_checkpoint(run_dir / "model.npz").model_config["conv"]["M"] == 1
    assert json.loads((run_dir / "config.json").read_text())["settings"]["M"] == 1


def test_out_naming_a_file(capsys, trained):
    status, _, err = run(capsys, "train", "--out", trained / "config.json", *TINY)
    assert status == 2
    assert err.endswith("config.json' is a file, not a directory\n") and "Errno" not in err


def test_fine_tuning_recipe_from_a_hardtanh_source(capsys, tmp_path):
    """train --fp --activation hardtanh, then --init-from: the ABC model inherits hardtanh."""
    source = tmp_path / "fp-hardtanh"
    argv = ["train", "--fp", "--activation", "hardtanh", "--epochs", "1", *TINY, "--out", source]
    assert run(capsys, *argv)[0] == 0
    config = load_checkpoint(source / "model.npz").model_config
    assert config["activation"] == "hardtanh" and config["conv"] == {"kind": "fp"}
    argv = ["train", "--M", "2", "--N", "2", "--epochs", "1", "--init-from",
            source / "model.npz", "--limit", "96", "--batch-size", "32", "--no-progress",
            "--out", tmp_path / "ft"]  # fmt: skip
    status, out, err = run(capsys, *argv)
    assert status == 0, err
    tuned = load_checkpoint(tmp_path / "ft" / "model.npz").model_config
    assert tuned["activation"] == "hardtanh" and tuned["widths"] == [4, 8]
    record = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert record["init_from"] == str(source / "model.npz")
    # An ABC checkpoint is no full-precision source.
    argv[argv.index("--out") + 1] = tmp_path / "ft2"
    argv[argv.index("--init-from") + 1] = tmp_path / "ft" / "model.npz"
    status, _, err = run(capsys, *argv)
    assert status == 2 and "is not a full-precision model: its conv kind is 'abc'" in err
    assert not (tmp_path / "ft2").exists()


def test_weight_only_abc_takes_an_activation(capsys, tmp_path):
    argv = ["train", "--M", "2", "--N", "0", "--activation", "clip", "--epochs", "1", *TINY]
    assert run(capsys, *argv, "--out", tmp_path / "w")[0] == 0
    config = load_checkpoint(tmp_path / "w" / "model.npz").model_config
    assert config["activation"] == "clip" and config["conv"]["N"] is None


def test_progress_stays_off_stdout(capsys, tmp_path):
    argv = ["train", "--M", "1", "--N", "1", "--epochs", "2", "--widths", "4", "8", "--limit",
            "64", "--out", tmp_path / "run"]  # fmt: skip
    status, out, err = run(capsys, *argv)  # progress on
    assert status == 0
    assert "epochs:" in err and "epoch 2/2:" in err  # the bars, on stderr
    lines = out.splitlines()
    assert len(lines) == 4
    for line, start in zip(lines, ("Dataset('digits'", "model: ", "epoch 2/2: ", "wrote "),
                           strict=True):  # fmt: skip
        assert line.startswith(start), line
