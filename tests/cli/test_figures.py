"""Tests of ``abcref figures`` (abcref/cli/figures.py) on its --quick budget."""

from __future__ import annotations

from abcref.apps.figures import FIGURES, SWEEP_FILES
from tests.cli._helpers import run


def test_figures_quick_and_from_a_saved_sweep(capsys, tmp_path):
    status, out, err = run(capsys, "figures", "--out", tmp_path / "a", "--quick")
    assert status == 0, err
    expected = sorted([f"{name}.png" for name in FIGURES] + list(SWEEP_FILES))
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == expected
    assert "[1/" in out  # a line per finished run
    assert f"wrote {tmp_path / 'a' / 'accuracy_heatmap.png'} (" in out

    sweep = tmp_path / "a" / "accuracy_sweep.json"
    argv = ["figures", "--out", tmp_path / "b", "--quick", "--sweep", sweep, "--no-progress"]
    status, out, err = run(capsys, *argv)
    assert status == 0, err
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == sorted(
        f"{name}.png" for name in FIGURES
    )
    assert "[1/" not in out
    # the heatmap drawn from the saved sweep is the same picture
    heatmap = "accuracy_heatmap.png"
    assert (tmp_path / "b" / heatmap).read_bytes() == (tmp_path / "a" / heatmap).read_bytes()
