"""Tests of ``abcref reproduce`` (abcref/cli/reproduce.py) on its --quick budget.

The run goes end to end through abcref.apps.reproduce, so this is that
module's test too.
"""

from __future__ import annotations

import json

from abcref.apps.reproduce import QUICK
from tests.cli._helpers import run


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
