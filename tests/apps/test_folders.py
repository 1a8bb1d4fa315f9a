"""Tests of abcref.apps.folders: which output directories a command may use, and how."""

from __future__ import annotations

import json

import pytest

from abcref.apps.folders import (
    CONFIG_NAME,
    OUTPUTS,
    RunFolderError,
    open_run_folder,
    read_record,
)


def _run(path, command, *outputs):
    """A folder holding a finished run of ``command`` with the given output files."""
    path.mkdir(parents=True)
    (path / CONFIG_NAME).write_text(json.dumps({"command": command, "settings": {"x": 1}}))
    for name in outputs:
        (path / name).write_text(f"{command} {name}")
    return path


def _listing(path):
    return sorted(p.name for p in path.iterdir())


def test_a_new_or_empty_folder_is_a_new_run(tmp_path):
    folder = open_run_folder(tmp_path / "a" / "b", "train")
    assert not (tmp_path / "a").exists()  # opening writes nothing
    folder.start({"settings": {"lr": 0.1}}, lambda d: (d / "model.npz").write_text("m"))
    assert _listing(tmp_path / "a" / "b") == ["config.json", "model.npz"]
    assert read_record(tmp_path / "a" / "b") == {"command": "train", "settings": {"lr": 0.1}}
    (tmp_path / "empty").mkdir()
    assert open_run_folder(tmp_path / "empty", "sweep").previous is None


def test_a_run_of_the_same_command_is_refused_unless_resume_or_overwrite(tmp_path):
    run = _run(tmp_path / "run", "train", "model.npz", "log.jsonl")
    before = {p.name: p.read_text() for p in run.iterdir()}
    with pytest.raises(RunFolderError, match="holds an abcref train run; --resume continues it"):
        open_run_folder(run, "train")
    assert {p.name: p.read_text() for p in run.iterdir()} == before
    folder = open_run_folder(run, "train", resume=True)
    assert folder.resume and folder.previous["settings"] == {"x": 1}
    with pytest.raises(RunFolderError, match="exclude each other"):
        open_run_folder(run, "train", resume=True, overwrite=True)


def test_overwrite_replaces_the_old_run_and_keeps_files_abcref_did_not_write(tmp_path):
    run = _run(tmp_path / "run", "sweep", "table.md", "sweep.json")
    (run / "logs").mkdir()
    (run / "logs" / "a.jsonl").write_text("{}")
    (run / "notes.txt").write_text("mine")
    (run / ".sweep.json.x1.tmp").write_text("half")  # an interrupted atomic write
    folder = open_run_folder(run, "train", overwrite=True)
    folder.start({"settings": {}}, lambda d: (d / "model.npz").write_text("new"))
    assert _listing(run) == ["config.json", "model.npz", "notes.txt"]
    assert (run / "notes.txt").read_text() == "mine"
    assert read_record(run)["command"] == "train"


def test_another_commands_run_or_foreign_files_are_refused(tmp_path):
    run = _run(tmp_path / "run", "reproduce", "table.md")
    with pytest.raises(RunFolderError, match="holds an abcref reproduce run; --overwrite"):
        open_run_folder(run, "sweep")
    with pytest.raises(RunFolderError, match="nothing to resume: .* holds an abcref reproduce"):
        open_run_folder(run, "sweep", resume=True)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("x")
    (mine / CONFIG_NAME).write_text("{not an abcref record")
    with pytest.raises(RunFolderError, match="holds no abcref run \\(it has 'config.json'\\)"):
        open_run_folder(mine, "figures")
    with pytest.raises(RunFolderError, match="nothing to resume: .* holds no abcref run"):
        open_run_folder(mine, "sweep", resume=True)
    with pytest.raises(ValueError, match="figures runs cannot be resumed"):
        open_run_folder(mine, "figures", resume=True)
    with pytest.raises(RunFolderError, match="nothing to resume: .* holds nothing"):
        open_run_folder(tmp_path / "missing", "train", resume=True)
    assert _listing(mine) == ["config.json", "thesis.tex"]


def test_files_are_not_folders(tmp_path):
    (tmp_path / "run1").mkdir()
    (tmp_path / "run1" / "config.json").write_text("{}")
    with pytest.raises(NotADirectoryError, match="'.*config.json' is a file, not a directory"):
        open_run_folder(tmp_path / "run1" / "config.json", "train")
    with pytest.raises(NotADirectoryError, match="config.json' is a file, not a directory"):
        open_run_folder(tmp_path / "run1" / "config.json" / "deeper", "train")


def test_commit_replaces_its_files_together_and_keeps_the_rest(tmp_path):
    folder = open_run_folder(tmp_path / "run", "train")
    with pytest.raises(RuntimeError, match="before start"):
        folder.commit(lambda d: None)
    folder.start({"settings": {}}, lambda d: (d / "log.jsonl").write_text(""))

    def epoch(d):
        (d / "model.npz").write_text("epoch 1")
        (d / "log.jsonl").write_text("record 1\n")

    folder.commit(epoch)
    assert _listing(tmp_path / "run") == ["config.json", "log.jsonl", "model.npz"]
    assert (tmp_path / "run" / "log.jsonl").read_text() == "record 1\n"


def test_a_resumed_folder_keeps_its_config(tmp_path):
    run = _run(tmp_path / "run", "train", "model.npz")
    before = (run / CONFIG_NAME).read_text()
    folder = open_run_folder(run, "train", resume=True)
    folder.start({"settings": {"x": 2}}, lambda d: (d / "log.jsonl").write_text("l"))
    assert (run / CONFIG_NAME).read_text() == before and _listing(run) == [
        "config.json",
        "log.jsonl",
        "model.npz",
    ]


def test_start_keeps_named_inputs(tmp_path):
    """A run may read a file of the run it replaces: ``keep`` keeps it."""
    run = _run(tmp_path / "run", "figures", "feature_maps.png", "error_vs_m.png")
    folder = open_run_folder(run, "figures", overwrite=True)
    folder.start({}, lambda d: (d / "error_vs_m.png").write_text("new"), keep=["feature_maps.png"])
    assert _listing(run) == ["config.json", "error_vs_m.png", "feature_maps.png"]


def test_every_command_is_known():
    assert set(OUTPUTS) == {
        "train",
        "sweep",
        "reproduce",
        "figures",
        "compare table3",
        "compare section52",
        "compare table2",
    }
    with pytest.raises(ValueError, match="command must be one of"):
        open_run_folder("x", "nonsense")


def test_the_current_directory_is_not_a_run_folder(tmp_path, monkeypatch):
    """Swapping in a new version of the working directory would leave the process outside it."""
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    for out in (".", "..", str(tmp_path)):
        with pytest.raises(RunFolderError, match="is the current directory or holds it"):
            open_run_folder(out, "train", overwrite=True)
    assert open_run_folder("run", "train").path.name == "run"
