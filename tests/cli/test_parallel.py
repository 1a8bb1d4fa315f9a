"""``--jobs`` and ``--scheduler`` of sweep, reproduce, compare, figures: --jobs 1's results.

Each command runs in this process under ``threadpool_limits(1)``: one BLAS
thread, as the ``abcref`` command sets before NumPy loads (here NumPy was
loaded first) and as every worker computes.
"""

from __future__ import annotations

import csv
import json
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from abcref.train import load_checkpoint
from tests.cli._helpers import TINY, run

SWEEP = ["sweep", "--M", "1", "2", "--N", "1", "--seeds", "0", "1", "--epochs", "1", *TINY]


def run_pinned(capsys, *argv):
    with threadpool_limits(limits=1):
        return run(capsys, *argv)


def untimed(text: str) -> str:
    """A command's text without the lines that state a wall time or seconds per epoch."""
    keep = [
        line
        for line in text.splitlines()
        if not any(w in line for w in ("Wall time", "wall time", " s)", "took ", "s/epoch"))
    ]
    return "\n".join(keep)


def csv_rows(path):
    with open(path) as f:
        return [{k: v for k, v in r.items() if "seconds" not in k} for r in csv.DictReader(f)]


def sweep_json(path):
    payload = json.loads(path.read_text())
    for row in payload["rows"]:
        row.pop("seconds"), row.pop("seconds_per_epoch")
    for h in payload["histories"]:
        for record in h["records"]:
            record.pop("seconds")
    return payload


def test_sweep_with_two_jobs_writes_what_one_job_writes(capsys, tmp_path):
    outs = {jobs: tmp_path / f"jobs{jobs}" for jobs in (1, 2)}
    printed = {}
    for jobs, out in outs.items():
        status, stdout, err = run_pinned(capsys, *SWEEP, "--jobs", jobs, "--out", out)
        assert status == 0, err
        printed[jobs] = stdout.replace(str(out), "OUT")
    assert untimed(printed[2]) == untimed(printed[1])
    one, two = outs[1], outs[2]
    assert csv_rows(two / "table.csv") == csv_rows(one / "table.csv")
    assert sweep_json(two / "sweep.json") == sweep_json(one / "sweep.json")
    grids = [
        untimed((out / "table.md").read_text().replace(str(out), "OUT")).split("## Every")[0]
        for out in (one, two)
    ]
    assert grids[1] == grids[0]  # the rows of "## Every config" are those of table.csv
    # --jobs is not part of the run: not in its record, not in the command table.md shows.
    records = [json.loads((out / "config.json").read_text().replace(str(out), "OUT"))
               for out in (one, two)]  # fmt: skip
    assert "--jobs" not in records[1]["argv"] and "--jobs" not in grids[1]
    assert records[1] == records[0]
    assert sorted(p.name for p in (two / "logs").iterdir()) == sorted(
        p.name for p in (one / "logs").iterdir()
    )


def test_a_sweep_resumes_with_another_number_of_jobs(capsys, tmp_path):
    out = tmp_path / "sweep"
    status, _, err = run_pinned(capsys, *SWEEP, "--jobs", "2", "--out", out)
    assert status == 0, err
    before = sweep_json(out / "sweep.json")
    saved = json.loads((out / "sweep.json").read_text())
    saved["rows"], saved["histories"] = saved["rows"][1::2], saved["histories"][1::2]
    (out / "sweep.json").write_text(json.dumps(saved))
    status, _, err = run_pinned(capsys, "sweep", "--out", out, "--resume", "--jobs", "1")
    assert status == 0, err
    assert sweep_json(out / "sweep.json") == before


def test_reproduce_quick_with_two_jobs_equals_one_job(capsys, tmp_path):
    outs = {jobs: tmp_path / f"jobs{jobs}" for jobs in (1, 2)}
    printed = {}
    for jobs, out in outs.items():
        status, stdout, err = run_pinned(
            capsys, "reproduce", "--quick", "--no-progress", "--jobs", jobs, "--out", out
        )
        assert status == 0, err
        printed[jobs] = stdout.replace(str(out), "OUT")
    one, two = outs[1], outs[2]
    assert untimed(printed[2]) == untimed(printed[1])
    assert (two / "bits_check.json").read_bytes() == (one / "bits_check.json").read_bytes()
    assert (two / "config.json").read_bytes() == (one / "config.json").read_bytes()
    assert sweep_json(two / "sweep.json") == sweep_json(one / "sweep.json")
    assert untimed((two / "results.md").read_text()) == untimed((one / "results.md").read_text())
    for model in sorted((one / "models").iterdir()):
        a, b = load_checkpoint(model).model_state, load_checkpoint(two / "models" / model.name)
        for key, value in a.items():
            np.testing.assert_array_equal(b.model_state[key], value, err_msg=f"{model} {key}")


def test_figures_quick_with_two_jobs_draws_the_same_bytes(capsys, tmp_path):
    for jobs in (1, 2):
        out = tmp_path / str(jobs)
        status, _, err = run_pinned(capsys, "figures", "--quick", "--jobs", jobs, "--out", out)
        assert status == 0, err
    for png in sorted((tmp_path / "1").glob("*.png")):
        assert (tmp_path / "2" / png.name).read_bytes() == png.read_bytes(), png.name


def test_compare_takes_jobs(capsys):
    argv = ["compare", "section52", "--Ks", "1", "--seeds", "0", "--epochs", "1", "--limit", "64",
            "--base", '{"arch": "small_cnn", "widths": [4, 8]}', "--no-progress"]  # fmt: skip
    printed = []
    for jobs in ("1", "2"):
        status, stdout, err = run_pinned(capsys, *argv, "--jobs", jobs)
        assert status == 0, err
        printed.append(untimed(stdout))
    assert printed[0] == printed[1]


def test_progress_counts_runs_and_shows_step_bars_only_with_one_job(capsys, tmp_path):
    argv = [w for w in SWEEP if w != "--no-progress"]
    for jobs in ("1", "2"):
        status, _, err = run_pinned(capsys, *argv, "--jobs", jobs, "--out", tmp_path / jobs)
        assert status == 0, err
        assert "runs: 100%" in err and "6/6" in err
        assert ("epoch 1/1" in err) == (jobs == "1"), err[-500:]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "expected an integer >= 1, got 0"),
        ("-2", "expected an integer >= 1, got -2"),
        ("two", "expected an integer, got 'two'"),
        ("1.5", "expected an integer, got '1.5'"),
    ],
)
@pytest.mark.parametrize("command", [["sweep"], ["reproduce"], ["figures"], ["compare", "table3"]])
def test_bad_jobs_is_a_usage_error(capsys, tmp_path, command, value, message):
    status, out, err = run(capsys, *command, "--jobs", value, "--out", tmp_path / "out")
    assert status == 2 and out == ""
    assert f"argument --jobs: {message}" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_jobs_and_scheduler_together_is_a_usage_error(capsys, tmp_path):
    status, _, err = run(capsys, *SWEEP, "--jobs", "2", "--scheduler", "tcp://127.0.0.1:9")
    assert status == 2 and "not allowed with argument" in err


def test_scheduler_without_dask_names_the_install_command(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if it were not installed
    out = tmp_path / "out"
    status, _, err = run(capsys, *SWEEP, "--scheduler", "tcp://127.0.0.1:9", "--out", out)
    assert status == 2
    assert 'pip install "abcref[cluster]"' in err and err.count("\n") == 1
    assert not out.exists()
