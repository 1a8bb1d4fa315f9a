"""Tests of the ``abcref`` command: help texts, train/eval/resume, sweep, reproduce, errors.

Commands run in-process through ``abcref.cli.main`` (fast); one test runs
the installed console script.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from abcref.apps.reproduce import QUICK
from abcref.cli import main
from abcref.train import load_checkpoint

TINY = ["--widths", "4", "8", "--limit", "96", "--batch-size", "32", "--no-progress"]


def run(capsys, *argv):
    """Run ``abcref argv``; return (status, stdout, stderr)."""
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# -- help ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], ["reproduce", "train", "eval", "sweep", "summary", "figures", "oracle",
              "exit status"]),
        (["train"], ["--M", "--N", "--fp", "--per-channel", "--weight-ste", "--init-from",
                     "--resume", "--optimizer", "default 64", "examples:", "small_cnn"]),
        (["eval"], ["CHECKPOINT", "--bits", "identical", "examples:"]),
        (["sweep"], ["--seeds", "table.md", "heatmap.png", "(default: 1 3 5)", "examples:"]),
        (["reproduce"], ["--quick", "table.md", "16 32 32 32", "(default: runs/reproduce)",
                         "Exit status 1"]),
        (["figures"], ["--quick", "(default: figures)"]),
        (["summary"], ["--checkpoint", "--input-shape"]),
        (["oracle"], ["export", "check"]),
    ],
)  # fmt: skip
def test_help(capsys, argv, expected):
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for text in expected:
        assert text in out, f"{text!r} missing from `abcref {' '.join(argv)} --help`"


def test_console_script_help():
    exe = shutil.which("abcref", path=str(Path(sys.executable).parent)) or shutil.which("abcref")
    assert exe is not None, "the abcref console script is not installed"
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "abcref reproduce" in proc.stdout


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--epochs", "0"])
    assert exc.value.code == 2
    assert "expected an integer >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["nonsense"])
    assert exc.value.code == 2
    status, _, err = run(capsys, "train", "--fp", "--M", "3")
    assert status == 2 and "--fp (full precision) excludes --M and --N" in err
    status, _, err = run(capsys, "train", "--depth", "20")
    assert status == 2 and "cifar_resnet option" in err


# -- train / eval / resume --------------------------------------------------------


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


def test_eval_prints_metrics_and_bits(capsys, trained):
    status, out, _ = run(capsys, "eval", trained / "model.npz", "--limit", "96")
    assert status == 0
    log = json.loads((trained / "log.jsonl").read_text().splitlines()[0])
    assert f"top-1 {100 * log['test_top1']:.2f}%" in out and "top-5" in out and "loss" in out
    status, out, _ = run(
        capsys, "eval", trained / "model.npz", "--limit", "96", "--bits", "--strict"
    )
    assert status == 0
    assert "2 ABC layers compiled" not in out  # widths [4, 8]: one inner (ABC) conv
    assert "1 ABC layers compiled to xnor/popcount; identical predictions on 96 images" in out


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
        schedule=Cosine(3e-3, 2), batch_size=32, seed=0,
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
    assert status == 1
    assert "cannot resume exactly" in err and "schedule" in err
    assert (run_dir / "config.json").read_text() == before  # untouched on refusal


def test_resume_without_checkpoint(capsys, tmp_path):
    status, _, err = run(capsys, "train", "--out", tmp_path, "--resume")
    assert status == 1 and "no checkpoint" in err


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


# -- runtime errors: one line, status 1 --------------------------------------------


def test_missing_data_dir(capsys, tmp_path):
    status, out, err = run(capsys, "train", "--data", tmp_path / "nowhere", "--out", tmp_path)
    assert status == 1
    assert err.startswith("abcref train: error: no embedded dataset named")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_empty_data_dir(capsys, tmp_path):
    status, _, err = run(capsys, "eval", "x.npz", "--data", tmp_path)
    assert status == 1 and "error:" in err


def test_corrupt_checkpoint(capsys, tmp_path, trained):
    bad = tmp_path / "bad.npz"
    bad.write_bytes((trained / "model.npz").read_bytes()[:500])
    status, _, err = run(capsys, "eval", bad)
    assert status == 1
    assert "not a readable abcref checkpoint" in err and len(err.strip().splitlines()) == 1
    status, _, err = run(capsys, "eval", tmp_path / "missing.npz")
    assert status == 1 and "does not exist" in err


def test_traceback_flag_reraises(tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["--traceback", "eval", str(tmp_path / "missing.npz")])


# -- sweep ----------------------------------------------------------------------


def test_sweep_writes_table_csv_heatmap(capsys, tmp_path):
    status, out, err = run(
        capsys, "sweep", "--M", "1", "2", "--N", "1", "--seeds", "0", "1", "--epochs", "1",
        *TINY, "--out", tmp_path,
    )  # fmt: skip
    assert status == 0, err
    for name in ("table.md", "table.csv", "heatmap.png", "sweep.json"):
        assert (tmp_path / name).is_file(), name
    with open(tmp_path / "table.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["label"], r["seed"]) for r in rows] == [
        (label, seed)
        for label in ("full precision", "M=1, N=1", "M=2, N=1")
        for seed in ("0", "1")
    ]
    table = (tmp_path / "table.md").read_text()
    assert "| M \\ N | 1 |" in table and "| **1** | " in table and "| **2** | " in table
    assert "full precision: " in table and "ddof=1" in table
    assert "| M \\ N | 1 |" in out


# -- reproduce --------------------------------------------------------------------


def test_reproduce_quick(capsys, tmp_path):
    status, out, err = run(capsys, "reproduce", "--quick", "--out", tmp_path, "--no-progress")
    assert status == 0, err
    for name in ("table.md", "table.csv", "heatmap.png", "training_curves.png", "sweep.json",
                 "bits_check.json"):  # fmt: skip
        assert (tmp_path / name).is_file(), name
    assert "| M \\ N | 1 | 2 |" in out and "full precision: " in out
    assert "identical predictions for all 4 trained ABC models" in out and "PASS" in out
    bits = json.loads((tmp_path / "bits_check.json").read_text())
    assert len(bits) == len(QUICK.Ms) * len(QUICK.Ns) * len(QUICK.seeds)
    assert all(b["identical"] and b["layers"] == 1 for b in bits)
    models = sorted(p.name for p in (tmp_path / "models").iterdir())
    assert models == ["M1_N1_seed0.npz", "M1_N2_seed0.npz", "M2_N1_seed0.npz",
                      "M2_N2_seed0.npz", "full_precision_seed0.npz"]  # fmt: skip
    # A reproduce checkpoint is usable by eval --bits.
    status, out, _ = run(capsys, "eval", tmp_path / "models" / "M2_N2_seed0.npz", "--bits",
                         "--limit", "64")  # fmt: skip
    assert status == 0 and "identical predictions" in out


def test_eval_defaults_to_the_training_data(capsys, tmp_path, trained):
    """Without --data, eval reads the train run's --data from config.json beside it."""
    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    config["settings"]["data"] = str(tmp_path / "moved-away")
    (run_dir / "config.json").write_text(json.dumps(config))
    status, _, err = run(capsys, "eval", run_dir / "model.npz")
    assert status == 1 and "moved-away" in err
    (run_dir / "config.json").write_text("{not json")  # unreadable: an error, no fallback
    status, _, err = run(capsys, "eval", run_dir / "model.npz")
    assert status == 1 and "pass --data explicitly" in err and "config.json" in err
    (run_dir / "config.json").unlink()  # no config.json: the embedded digits
    status, out, _ = run(capsys, "eval", run_dir / "model.npz", "--limit", "8")
    assert status == 0 and "8 images of digits" in out


def test_figures_quick(capsys, tmp_path):
    pytest.importorskip("abcref.apps.figures")
    status, out, err = run(capsys, "figures", "--out", tmp_path, "--quick")
    assert status == 0, err
    assert "wrote" in out and any(p.suffix == ".png" for p in tmp_path.iterdir())
