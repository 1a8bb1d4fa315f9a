"""Tests of ``abcref figures`` (abcref/cli/figures.py) on its --quick budget."""

from __future__ import annotations

from abcref.apps.figures import FIGURES, SWEEP_FILES
from tests.cli._helpers import run


def test_figures_quick_and_from_a_saved_sweep(capsys, tmp_path):
    status, out, err = run(capsys, "figures", "--out", tmp_path / "a", "--quick")
    assert status == 0, err
    expected = sorted(["config.json"] + [f"{name}.png" for name in FIGURES] + list(SWEEP_FILES))
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == expected
    assert "[1/" in err and "runs: " in err  # a bar and a line per finished run, on stderr
    assert "[1/" not in out
    assert f"wrote {tmp_path / 'a' / 'accuracy_heatmap.png'} (" in out

    sweep = tmp_path / "a" / "accuracy_sweep.json"
    argv = ["figures", "--out", tmp_path / "b", "--quick", "--sweep", sweep, "--no-progress"]
    status, out, err = run(capsys, *argv)
    assert status == 0, err
    assert err == ""
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == sorted(
        ["config.json"] + [f"{name}.png" for name in FIGURES]
    )
    # the heatmap drawn from the saved sweep is the same picture
    heatmap = "accuracy_heatmap.png"
    assert (tmp_path / "b" / heatmap).read_bytes() == (tmp_path / "a" / heatmap).read_bytes()


def test_figures_refuses_a_used_folder_and_overwrites_on_request(capsys, tmp_path):
    """The repository's figures/ holds the script that regenerates it: --overwrite keeps it."""
    folder = tmp_path / "figures"
    folder.mkdir()
    (folder / "make_figures.py").write_text("print('regenerate')\n")
    (folder / "accuracy_heatmap.png").write_bytes(b"an old picture")
    status, _, err = run(capsys, "figures", "--out", folder, "--quick", "--no-progress")
    assert status == 2 and "holds no abcref run (it has 'accuracy_heatmap.png')" in err
    assert sorted(p.name for p in folder.iterdir()) == ["accuracy_heatmap.png", "make_figures.py"]
    argv = ["figures", "--out", folder, "--quick", "--no-progress", "--overwrite"]
    assert run(capsys, *argv)[0] == 0
    assert (folder / "make_figures.py").read_text() == "print('regenerate')\n"
    assert (folder / "accuracy_heatmap.png").read_bytes()[:4] == b"\x89PNG"
    status, _, err = run(capsys, "figures", "--out", folder, "--quick", "--no-progress")
    assert status == 2 and "holds an abcref figures run; --resume" not in err
    assert "holds an abcref figures run" in err and "--overwrite replaces it" in err
