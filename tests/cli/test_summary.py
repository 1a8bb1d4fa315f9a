"""Tests of ``abcref summary`` (abcref/cli/summary.py): from a config or a checkpoint."""

import json

from tests.cli._helpers import run

CONFIG = json.dumps({"arch": "small_cnn", "in_channels": 1, "widths": [8, 16], "pool_after": [1]})
SHAPE = ["--input-shape", "1", "8", "8"]


def test_summary_text(capsys):
    status, out, _ = run(capsys, "summary", "--config", CONFIG, *SHAPE)
    assert status == 0
    assert out.splitlines()[0].split()[:2] == ["layer", "type"]
    assert "conv2" in out and "bn1: folded into conv2" in out and "packed model" in out


def test_summary_json_from_file(tmp_path, capsys):
    path = tmp_path / "model.json"
    path.write_text(CONFIG)
    status, out, _ = run(capsys, "summary", "--config", path, *SHAPE, "--json")
    assert status == 0
    payload = json.loads(out)
    names = [row["name"] for row in payload["layers"]]
    assert names[:3] == ["conv1", "bn1", "conv2"]
    layers = payload["layers"]
    assert payload["totals"]["packed_binary_macs"] == sum(r["packed_binary_macs"] for r in layers)


def test_summary_bad_config(capsys):
    status, _, err = run(capsys, "summary", "--config", "{not json", *SHAPE)
    assert status == 2
    assert err.startswith("abcref summary: error: --config is not valid JSON")
    status, _, err = run(capsys, "summary", "--config", "[1, 2]", *SHAPE)
    assert status == 2 and "--config must be a JSON object, got list" in err


def test_summary_config_paths_told_apart(capsys, tmp_path):
    """A missing file, a directory and a malformed file give three different errors."""
    status, _, err = run(capsys, "summary", "--config", tmp_path / "x.json", *SHAPE)
    assert status == 2 and err.endswith("x.json': no such file\n")
    status, _, err = run(capsys, "summary", "--config", tmp_path, *SHAPE)
    assert status == 2 and err.endswith("' is a directory, not a file\n")
    (tmp_path / "bad.json").write_text('{"arch": ')
    status, _, err = run(capsys, "summary", "--config", tmp_path / "bad.json", *SHAPE)
    assert status == 2 and "bad.json' is not valid JSON: Expecting value" in err
    (tmp_path / "list.json").write_text("[1]")
    status, _, err = run(capsys, "summary", "--config", tmp_path / "list.json", *SHAPE)
    assert status == 2 and "list.json' must be a JSON object, got list" in err


def test_summary_needs_input_shape(capsys):
    status, _, err = run(capsys, "summary", "--config", CONFIG)
    assert status == 2 and "--input-shape" in err
    status, _, err = run(capsys, "summary", "--config", CONFIG, "--input-shape", "1", "0", "8")
    assert status == 2 and "expected an integer >= 1, got 0" in err


def test_summary_from_checkpoint(tmp_path, capsys):
    from abcref.nn.models import build_model
    from abcref.train.checkpoint import save_checkpoint

    path = save_checkpoint(tmp_path / "model.npz", build_model(json.loads(CONFIG)))
    status, out, _ = run(capsys, "summary", "--checkpoint", path, *SHAPE)
    assert status == 0 and "folded into conv2" in out
    status, _, err = run(capsys, "summary", "--checkpoint", tmp_path / "no.npz", *SHAPE)
    assert status == 2 and "does not exist" in err
