"""Tests of ``abcref eval`` (abcref/cli/evaluate.py): metrics, --bits, the data it defaults to."""

from __future__ import annotations

import json
import shutil

import pytest

from abcref.cli import main
from tests.cli._helpers import TINY, run
from tests.data._files import write_mnist


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One epoch of an ABC M=2, N=2 model on 96 digits."""
    out = tmp_path_factory.mktemp("train")
    status = main(["train", "--M", "2", "--N", "2", "--epochs", "1", "--out", str(out), *TINY])
    assert status == 0
    return out


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


def test_eval_defaults_to_the_training_data(capsys, tmp_path, trained):
    """Without --data, eval reads the train run's --data from config.json beside it."""
    run_dir = tmp_path / "run"
    shutil.copytree(trained, run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    config["settings"]["data"] = str(tmp_path / "moved-away")
    (run_dir / "config.json").write_text(json.dumps(config))
    status, _, err = run(capsys, "eval", run_dir / "model.npz")
    assert status == 2 and "moved-away" in err
    (run_dir / "config.json").write_text("{not json")  # unreadable: an error, no fallback
    status, _, err = run(capsys, "eval", run_dir / "model.npz")
    assert status == 2 and "pass --data explicitly" in err and "config.json" in err
    (run_dir / "config.json").unlink()  # no config.json: the embedded digits
    status, out, _ = run(capsys, "eval", run_dir / "model.npz", "--limit", "8")
    assert status == 0 and "8 images of digits" in out


def test_corrupt_checkpoint(capsys, tmp_path, trained):
    bad = tmp_path / "bad.npz"
    bad.write_bytes((trained / "model.npz").read_bytes()[:500])
    status, _, err = run(capsys, "eval", bad)
    assert status == 2
    assert "corrupt or truncated checkpoint" in err and len(err.strip().splitlines()) == 1
    status, _, err = run(capsys, "eval", tmp_path / "missing.npz")
    assert status == 2 and "does not exist" in err


def test_traceback_flag_reraises(tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["--traceback", "eval", str(tmp_path / "missing.npz")])


def test_a_model_is_not_evaluated_on_images_of_another_shape(capsys, tmp_path, trained):
    """An 8x8 digits model on 28x28 images would report ~10% top-1 without complaint."""
    mnist = tmp_path / "mnist"
    write_mnist(mnist, n_train=4, n_test=4, rows=28, cols=28)
    status, out, err = run(capsys, "eval", trained / "model.npz", "--data", mnist)
    assert status == 2 and out == ""  # nothing evaluated, nothing reported
    assert err.endswith("was trained on 1x8x8 images, mnist has 1x28x28 images\n")


def test_strict_needs_bits(capsys, trained):
    status, out, err = run(capsys, "eval", trained / "model.npz", "--strict")
    assert status == 2 and out == ""
    assert (
        err
        == "abcref eval: error: --strict applies to --bits (differing bit-packed predictions)\n"
    )
