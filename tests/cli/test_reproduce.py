"""Tests of ``abcref reproduce`` (abcref/cli/reproduce.py) on its --quick budget.

The run goes end to end through abcref.apps.reproduce, so this is that
module's test too.
"""

from __future__ import annotations

import json

from abcref.apps.reproduce import (
    FIGURE_FILES,
    QUICK,
    REPRODUCE_FILES,
    render_reproduce_figures,
    render_reproduce_folder,
)
from tests.cli._helpers import run


def test_reproduce_quick(capsys, tmp_path):
    status, out, err = run(capsys, "reproduce", "--quick", "--out", tmp_path, "--no-progress")
    assert status == 0, err
    for name in REPRODUCE_FILES:
        assert (tmp_path / name).is_file(), name
    # The Markdown is what the code renders from the folder's JSON files, and the block
    # states the command, the setting, the table and the computed trend.
    rendered = render_reproduce_folder(tmp_path)
    assert {name: (tmp_path / name).read_text() for name in rendered} == rendered
    # So are the figures: drawn again from sweep.json, without training, byte for byte.
    (tmp_path / "redrawn").mkdir()
    redrawn = render_reproduce_figures(tmp_path, tmp_path / "redrawn")
    assert [p.name for p in redrawn] == list(FIGURE_FILES)
    assert all(p.read_bytes() == (tmp_path / p.name).read_bytes() for p in redrawn)
    block = rendered["results.md"]
    assert block.startswith("`abcref reproduce --quick`: on the embedded digits (128 train")
    assert "| M \\ N | 1 | 2 |" in block and "Full precision (the same graph" in block
    assert "- Accuracy " in block and "PASS" in block
    assert "`abcref reproduce --quick` took " in block and "s on this machine (" in block
    assert json.loads((tmp_path / "run.json").read_text())["command"] == "abcref reproduce --quick"
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


def test_reproduce_widths_and_epochs_are_stated(capsys, tmp_path):
    argv = ["reproduce", "--quick", "--widths", "4", "4", "--epochs", "2", "--seeds", "1"]
    status, out, err = run(capsys, *argv, "--out", tmp_path, "--no-progress")
    assert status == 0, err
    assert "small_cnn widths [4, 4]" in out
    command = "abcref reproduce --quick --widths 4 4 --seeds 1 --epochs 2"
    assert json.loads((tmp_path / "run.json").read_text())["command"] == command
    assert (tmp_path / "results.md").read_text().startswith(f"`{command}`: ")
    # --resume keeps the saved setting; a different --widths is refused
    status, _, err = run(capsys, "reproduce", "--out", tmp_path, "--resume", "--widths", "8")
    assert status == 2 and "--widths as given would change them" in err
