"""Tests of ``abcref sweep`` (abcref/cli/sweep.py): the files it writes and what it prints."""

from __future__ import annotations

import csv

from tests.cli._helpers import TINY, run


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
