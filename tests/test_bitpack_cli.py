import argparse
import json

import pytest

from abcref.cli.summary import add_summary_subparser


def _run(argv):
    parser = argparse.ArgumentParser(prog="abcref")
    add_summary_subparser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


CONFIG = json.dumps({"arch": "small_cnn", "in_channels": 1, "widths": [8, 16], "pool_after": [1]})


def test_summary_text(capsys):
    assert _run(["summary", "--config", CONFIG, "--input-shape", "1", "8", "8"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:2] == ["layer", "type"]
    assert "conv2" in out and "bn1: folded into conv2" in out


def test_summary_json_from_file(tmp_path, capsys):
    path = tmp_path / "model.json"
    path.write_text(CONFIG)
    assert _run(["summary", "--config", str(path), "--input-shape", "1", "8", "8", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    names = [row["name"] for row in payload["layers"]]
    assert names[:3] == ["conv1", "bn1", "conv2"]
    totals, layers = payload["totals"], payload["layers"]
    assert totals["packed_binary_macs"] == sum(r["packed_binary_macs"] for r in layers)


def test_summary_bad_config(capsys):
    assert _run(["summary", "--config", "{not json", "--input-shape", "1", "8", "8"]) == 2
    assert "--config is neither a JSON object" in capsys.readouterr().err


def test_summary_needs_input_shape():
    with pytest.raises(SystemExit):
        _run(["summary", "--config", CONFIG])


def test_registered_on_the_abcref_command(capsys):
    from abcref.cli import main

    assert main(["summary", "--config", CONFIG, "--input-shape", "1", "8", "8"]) == 0
    assert "packed model" in capsys.readouterr().out


def test_summary_from_checkpoint(tmp_path, capsys):
    from abcref.nn.models import build_model
    from abcref.train.checkpoint import save_checkpoint

    path = save_checkpoint(tmp_path / "model.npz", build_model(json.loads(CONFIG)))
    assert _run(["summary", "--checkpoint", str(path), "--input-shape", "1", "8", "8"]) == 0
    assert "folded into conv2" in capsys.readouterr().out
    assert (
        _run(["summary", "--checkpoint", str(tmp_path / "no.npz"), "--input-shape", "1", "8", "8"])
        == 2
    )
    assert "does not exist" in capsys.readouterr().err
