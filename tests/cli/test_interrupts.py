"""Run folders survive interrupts: real signals sent to real ``abcref`` processes.

Each test runs a small command once uninterrupted (the reference), then
again many times, each time killed at another point (SIGKILL, so that no
clean-up runs; or SIGINT / SIGTERM), checks that the folder is either as
it was or a consistent partial run, resumes it with ``--resume``, and
compares the result with the reference. Timing decides where a kill lands,
never whether a test passes: every assertion holds wherever it lands
(a kill after the process has finished leaves a finished run, which
``--resume`` leaves as it is).
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from abcref.apps.sweep import slug
from abcref.train import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ["--M", "1", "--N", "2", "--widths", "4", "8", "--limit", "256", "--batch-size", "8",
         "--epochs", "4", "--no-progress"]  # fmt: skip
SWEEP = ["--M", "1", "--N", "1", "2", "--seeds", "0", "1", "--epochs", "2", "--widths", "4", "8",
         "--limit", "96", "--batch-size", "32", "--no-progress"]  # fmt: skip


def _command(*argv) -> list[str]:
    return [sys.executable, "-m", "abcref.cli", *map(str, argv)]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}


def abcref(*argv) -> subprocess.CompletedProcess:
    """Run the command to its end."""
    proc = subprocess.run(_command(*argv), capture_output=True, text=True, env=_env(), timeout=120)
    return proc


def interrupt(argv, *, signum, ready, delay: float) -> int:
    """Start ``abcref argv``; once ``ready()`` (or ended), wait ``delay`` s and send ``signum``.

    Returns the exit status (negative: killed by that signal) and what the command printed on
    stderr.
    """
    child = subprocess.Popen(
        _command(*argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env()
    )
    deadline = time.monotonic() + 60
    while child.poll() is None and not ready() and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(delay)
    if child.poll() is None:
        child.send_signal(signum)
    _, err = child.communicate(timeout=60)
    return child.returncode, err.decode()


def _lines(path: Path) -> int:
    """Lines of a file, 0 if it does not exist (yet)."""
    try:
        return len(path.read_text().splitlines())
    except OSError:
        return 0


def _rows(path: Path) -> int:
    try:
        return len(json.loads(path.read_text())["rows"])
    except (OSError, ValueError):
        return 0


def _leftovers(out: Path) -> list[str]:
    """Entries beside ``out`` other than ``out`` and the references (staging left by a kill)."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _sorted_keys(records):
    """Records as the log writes them (keys sorted)."""
    return [json.loads(json.dumps(r, sort_keys=True)) for r in records]


def _without_seconds(records):
    return [{k: v for k, v in r.items() if "seconds" not in k} for r in records]


# -- train ----------------------------------------------------------------------------


def assert_consistent_train_run(out: Path) -> int:
    """``out`` is a train run whose config, checkpoint and log agree; return its epoch."""
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "log.jsonl", "model.npz"]
    record = json.loads((out / "config.json").read_text())
    checkpoint = load_checkpoint(out / "model.npz")
    assert record["command"] == "train"
    assert record["model_config"] == checkpoint.model_config
    history = checkpoint.metadata["extra"]["history"]
    assert len(history) == checkpoint.epoch
    assert _records(out / "log.jsonl") == _sorted_keys(history)
    return checkpoint.epoch


def assert_same_train_run(out: Path, reference: Path) -> None:
    assert json.loads((out / "config.json").read_text()) == json.loads(
        (reference / "config.json").read_text()
    )
    a, b = load_checkpoint(out / "model.npz"), load_checkpoint(reference / "model.npz")
    assert a.epoch == b.epoch and a.model_state.keys() == b.model_state.keys()
    for key in a.model_state:
        np.testing.assert_array_equal(a.model_state[key], b.model_state[key], err_msg=key)
    for key, value in a.optimizer_state["arrays"].items():
        np.testing.assert_array_equal(value, b.optimizer_state["arrays"][key], err_msg=key)
    assert _without_seconds(_records(out / "log.jsonl")) == _without_seconds(
        _records(reference / "log.jsonl")
    )


@pytest.fixture(scope="module")
def train_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "run"
    proc = abcref("train", *TRAIN, "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out


def after_commits(out: Path, commits: int):
    """True once a train run has written ``commits`` times (epoch 0 is the first)."""
    log = out / "log.jsonl"  # written with every commit: empty at epoch 0, then a line per epoch
    return lambda: commits == 0 or (log.exists() and _lines(log) >= commits - 1)


# (signal, commits written before it is sent, extra delay in s): many points of a run.
TRAIN_KILLS = [
    (signal.SIGKILL, 0, 0.0),  # while starting: the folder may not exist yet
    (signal.SIGKILL, 1, 0.0),  # the epoch-0 checkpoint is in place: killed in epoch 1
    (signal.SIGKILL, 3, 0.02),
    (signal.SIGINT, 2, 0.0),
    (signal.SIGTERM, 5, 0.0),  # at the very end, or after it
]


@pytest.mark.parametrize(("signum", "commits", "delay"), TRAIN_KILLS)
def test_interrupted_train_resumes_to_the_uninterrupted_run(
    tmp_path, train_reference, signum, commits, delay
):
    out = tmp_path / "run"
    ready = after_commits(out, commits)
    status, err = interrupt(
        ["train", *TRAIN, "--out", out], signum=signum, ready=ready, delay=delay
    )
    # 130: interrupted in the command; -signum: before it began or after it ended.
    assert status in (0, 130, -signum), err
    if status == 130:
        assert err.endswith("abcref train: interrupted\n") or err.endswith("(SIGTERM)\n"), err
    if out.exists():
        assert_consistent_train_run(out)
        proc = abcref("train", "--out", out, "--resume", "--no-progress")
    else:
        proc = abcref("train", *TRAIN, "--out", out)  # interrupted before any write: start over
    assert proc.returncode == 0, proc.stderr
    assert_same_train_run(out, train_reference)
    assert _leftovers(out) == []


@pytest.mark.parametrize("commits", [0, 2])
def test_interrupted_overwrite_leaves_the_old_run_or_the_new_one(
    tmp_path, train_reference, commits
):
    out = tmp_path / "run"
    old = abcref("train", "--fp", "--widths", "4", "--limit", "64", "--epochs", "1",
                 "--no-progress", "--out", out)  # fmt: skip
    assert old.returncode == 0, old.stderr
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def ready():
        try:
            started = json.loads((out / "config.json").read_text())["settings"]["fp"] is False
        except (OSError, ValueError, KeyError):
            return False
        return started and after_commits(out, commits)()

    interrupt(["train", *TRAIN, "--out", out, "--overwrite"], signum=signal.SIGKILL,
              ready=ready if commits else (lambda: True), delay=0.0)  # fmt: skip
    now = {p.name: p.read_bytes() for p in out.iterdir()}
    if now == before:  # killed before the switch: as it was
        proc = abcref("train", *TRAIN, "--out", out, "--overwrite")
    else:
        assert_consistent_train_run(out)
        assert json.loads((out / "config.json").read_text())["settings"]["fp"] is False
        proc = abcref("train", "--out", out, "--resume", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert_same_train_run(out, train_reference)


# -- sweep ----------------------------------------------------------------------------


def _csv_without_seconds(path: Path) -> list[dict]:
    return _without_seconds(csv.DictReader(io.StringIO(path.read_text())))


@pytest.fixture(scope="module")
def sweep_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "sweep"
    proc = abcref("sweep", *SWEEP, "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


def _grid(stdout: str) -> str:
    """The M x N table a sweep prints (everything from its header to the wall time line)."""
    start = stdout.index("| M \\ N |")
    return stdout[start : stdout.index("\nwrote ")]


@pytest.mark.parametrize(("finished", "delay"), [(0, 0.3), (2, 0.0)])
def test_interrupted_sweep_resumes_to_the_same_table(tmp_path, sweep_reference, finished, delay):
    reference, printed = sweep_reference
    out = tmp_path / "sweep"
    ready = (lambda: _rows(out / "sweep.json") >= finished) if finished else (lambda: True)
    interrupt(["sweep", *SWEEP, "--out", out], signum=signal.SIGKILL, ready=ready, delay=delay)
    if out.exists():
        assert json.loads((out / "config.json").read_text())["command"] == "sweep"
        if (out / "sweep.json").exists():  # every run it lists has its complete log
            for h in json.loads((out / "sweep.json").read_text())["histories"]:
                log = out / "logs" / f"{slug(h['label'])}_seed{h['seed']}.jsonl"
                assert _records(log) == _sorted_keys(h["records"])
        proc = abcref("sweep", "--out", out, "--resume", "--no-progress")
    else:
        proc = abcref("sweep", *SWEEP, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert _grid(proc.stdout) == _grid(printed)  # the printed table, byte for byte
    assert _csv_without_seconds(out / "table.csv") == _csv_without_seconds(reference / "table.csv")
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in reference.iterdir())
    assert _leftovers(out) == []


# -- reproduce --------------------------------------------------------------------------


def _printed(stdout: str) -> str:
    """What reproduce prints, without its wall time (the only line that may differ)."""
    return "\n".join(line for line in stdout.splitlines() if not line.startswith("wall time"))


def test_interrupted_reproduce_resumes_to_the_same_table(tmp_path):
    reference = tmp_path / "reference"
    straight = abcref("reproduce", "--quick", "--no-progress", "--out", reference)
    assert straight.returncode == 0, straight.stderr
    for finished in (2,):
        out = tmp_path / f"after{finished}"
        ready = lambda: _rows(out / "sweep.json") >= finished  # noqa: B023, E731
        interrupt(["reproduce", "--quick", "--no-progress", "--out", out], signum=signal.SIGKILL,
                  ready=ready, delay=0.0)  # fmt: skip
        assert not (out / "table.md").exists() or _rows(out / "sweep.json") == 5
        resumed = abcref("reproduce", "--out", out, "--resume", "--no-progress")
        assert resumed.returncode == 0, resumed.stderr
        assert _printed(resumed.stdout) == _printed(straight.stdout).replace(
            str(reference), str(out)
        )
        assert (out / "bits_check.json").read_bytes() == (
            reference / "bits_check.json"
        ).read_bytes()
        assert _csv_without_seconds(out / "table.csv") == _csv_without_seconds(
            reference / "table.csv"
        )
        for model in (reference / "models").iterdir():
            a = load_checkpoint(model).model_state
            b = load_checkpoint(out / "models" / model.name).model_state
            for key in a:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{model.name} {key}")
    # A different budget cannot resume it.
    proc = abcref("reproduce", "--out", out, "--resume", "--epochs", "2")
    assert proc.returncode == 2 and "--resume continues" in proc.stderr


# -- parallel runs ------------------------------------------------------------------------


def _descendants(pid: int) -> set[int]:
    """The processes started (directly or not) by ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_parallel_sweep_stops_its_workers_at_once_and_resumes(tmp_path, signum):
    out = tmp_path / "sweep"
    long = [*SWEEP[: SWEEP.index("--epochs")], "--epochs", "40", *SWEEP[SWEEP.index("--widths") :]]
    child = subprocess.Popen(
        _command("sweep", *long, "--jobs", "2", "--out", out),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=_env(),
    )
    deadline = time.monotonic() + 120
    workers: set[int] = set()
    while child.poll() is None and time.monotonic() < deadline:
        workers |= _descendants(child.pid)
        if _rows(out / "sweep.json") >= 1 and len(workers) >= 3:  # forkserver + 2 workers
            break
        time.sleep(0.01)
    child.send_signal(signum)
    sent = time.monotonic()
    _, err = child.communicate(timeout=60)
    # Runs of seconds each were in progress: the command ends without waiting for them.
    assert child.returncode == 130 and time.monotonic() - sent < 20, err.decode()
    assert "abcref sweep: interrupted" in err.decode()
    deadline = time.monotonic() + 10
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(workers) >= 3 and not any(map(_alive, workers))
    assert 1 <= _rows(out / "sweep.json") < 6
    proc = abcref("sweep", "--out", out, "--resume", "--no-progress", "--jobs", "2")
    assert proc.returncode == 0, proc.stderr
    assert _rows(out / "sweep.json") == 6 and (out / "table.md").exists()
    assert _leftovers(out) == []
