"""Tests of ``abcref figures`` (abcref/cli/figures.py) on its --quick budget."""

from __future__ import annotations

from abcref.apps.figures import FIGURES
from tests.cli._helpers import run


def test_figures_quick(capsys, tmp_path):
    status, out, err = run(capsys, "figures", "--out", tmp_path / "a", "--quick")
    assert status == 0, err
    expected = sorted(["config.json"] + [f"{name}.png" for name in FIGURES])
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == expected
    assert "[1/" in err and "runs: " in err  # a bar and a line per finished run, on stderr
    assert "[1/" not in out
    assert f"wrote {tmp_path / 'a' / 'feature_maps.png'} (" in out


def test_figures_refuses_a_used_folder_and_overwrites_on_request(capsys, tmp_path):
    """The repository's figures/ holds the script that regenerates it: --overwrite keeps it."""
    folder = tmp_path / "figures"
    folder.mkdir()
    (folder / "make_figures.py").write_text("print('regenerate')\n")
    (folder / "feature_maps.png").write_bytes(b"an old picture")
    status, _, err = run(capsys, "figures", "--out", folder, "--quick", "--no-progress")
    assert status == 2 and "holds no abcref run (it has 'feature_maps.png')" in err
    assert sorted(p.name for p in folder.iterdir()) == ["feature_maps.png", "make_figures.py"]
    argv = ["figures", "--out", folder, "--quick", "--no-progress", "--overwrite"]
    assert run(capsys, *argv)[0] == 0
    assert (folder / "make_figures.py").read_text() == "print('regenerate')\n"
    assert (folder / "feature_maps.png").read_bytes()[:4] == b"\x89PNG"
    status, _, err = run(capsys, "figures", "--out", folder, "--quick", "--no-progress")
    assert status == 2 and "holds an abcref figures run; --resume" not in err
    assert "holds an abcref figures run" in err and "--overwrite replaces it" in err
