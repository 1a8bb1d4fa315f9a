"""Tests of run_sweep(jobs=N) (abcref.apps.parallel): the same sweep as jobs=1, run for run.

The serial sweeps run under ``threadpool_limits(1)``: workers compute with
one BLAS thread, and identical results are promised for a parent that
does the same (the ``abcref`` command pins one thread).
"""

from __future__ import annotations

import json
import multiprocessing
import os

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from abcref.apps.parallel import WorkersLost, check_jobs, default_jobs
from abcref.apps.results import SweepResult
from abcref.apps.sweep import grid_configs, run_sweep, slug
from abcref.data import load_digits

TINY = {"arch": "small_cnn", "widths": [4, 8]}
CONFIGS = grid_configs([1, 2], [1, 2], base=TINY)  # 5 configs
BUDGET = {"seeds": (0, 1), "epochs": 1, "batch_size": 32}


@pytest.fixture(scope="module")
def data():
    return load_digits(limit=96)


def without_seconds(rows):
    return [{k: v for k, v in row.items() if not k.startswith("seconds")} for row in rows]


def sweep_json(path):
    """A sweep.json without its timing fields (what may differ between two equal sweeps)."""
    payload = json.loads(path.read_text())
    payload["rows"] = without_seconds(payload["rows"])
    for h in payload["histories"]:
        h["records"] = without_seconds(h["records"])
    return payload


def untimed_markdown(result: SweepResult) -> str:
    """The per-config table with its seconds-per-epoch column zeroed."""
    rows = [{**row, "seconds": 0.0, "seconds_per_epoch": 0.0} for row in result.rows]
    return SweepResult(settings=result.settings, configs=result.configs, rows=rows).to_markdown()


def assert_same_models(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for run in a:
        state_a, state_b = a[run].state_dict(), b[run].state_dict()
        assert list(state_a) == list(state_b)
        for name in state_a:
            np.testing.assert_array_equal(state_a[name], state_b[name], err_msg=f"{run} {name}")
        assert a[run].training is False and b[run].training is False


class Calls:
    """An on_run that records its calls and returns an extra computed from the model."""

    def __init__(self):
        self.runs = []

    def __call__(self, label, seed, model, history):
        self.runs.append((label, seed))
        first = next(iter(model.state_dict().values()))
        return {"checksum": float(np.sum(first, dtype=np.float64)), "epochs": len(history.records)}


@pytest.fixture(scope="module")
def serial(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    calls = Calls()
    with threadpool_limits(limits=1):
        result = run_sweep(
            CONFIGS, data=data, **BUDGET, out_dir=out, keep_models=True, on_run=calls
        )
    return result, out, calls


def test_two_jobs_give_the_serial_sweep(data, serial, tmp_path):
    reference, reference_out, reference_calls = serial
    calls = Calls()
    result = run_sweep(
        CONFIGS, data=data, **BUDGET, out_dir=tmp_path, keep_models=True, on_run=calls, jobs=2
    )
    assert without_seconds(result.rows) == without_seconds(reference.rows)
    assert untimed_markdown(result) == untimed_markdown(reference)
    assert result.mn_grid().to_markdown() == reference.mn_grid().to_markdown()
    assert result.extras == reference.extras
    assert calls.runs == reference_calls.runs  # on_run in sweep order
    assert_same_models(result.models, reference.models)
    assert sweep_json(tmp_path / "sweep.json") == sweep_json(reference_out / "sweep.json")
    for label, seed in calls.runs:  # the logs too, written by this process
        name = f"{slug(label)}_seed{seed}.jsonl"
        lines = [(d / "logs" / name).read_text().splitlines() for d in (tmp_path, reference_out)]
        logs = [without_seconds(map(json.loads, text)) for text in lines]
        assert logs[0] == logs[1]


def test_more_jobs_than_runs(data, serial):
    reference = serial[0]
    result = run_sweep({"M=1, N=1": CONFIGS["M=1, N=1"]}, data=data, **BUDGET, jobs=8)
    assert without_seconds(result.rows) == without_seconds(reference.rows[2:4])


def test_resume_with_runs_finished_out_of_order(data, serial, tmp_path):
    """A sweep.json holding runs with gaps (finished in any order) resumes to the whole sweep."""
    reference, reference_out, _ = serial
    saved = SweepResult.from_json(reference_out / "sweep.json")
    keep = [run for i, run in enumerate(saved.histories) if i % 3 == 1]
    partial = SweepResult(settings=saved.settings, configs=saved.configs)
    partial.rows = [r for r in saved.rows if (r["label"], r["seed"]) in keep]
    partial.histories = {run: saved.histories[run] for run in keep}
    partial.to_json(tmp_path / "sweep.json")
    calls = []
    result = run_sweep(
        CONFIGS,
        data=data,
        **BUDGET,
        out_dir=tmp_path,
        resume=True,
        jobs=2,
        on_run=lambda label, seed, model, history: calls.append((label, seed)),
    )
    assert calls == [run for run in saved.histories if run not in keep]
    assert without_seconds(result.rows) == without_seconds(reference.rows)
    assert [r["seconds"] for r in result.rows if (r["label"], r["seed"]) in keep] == [
        r["seconds"] for r in partial.rows
    ]


@pytest.mark.parametrize("jobs", [0, -1, 1.5, "2", True])
def test_bad_jobs(data, jobs):
    with pytest.raises((ValueError, TypeError), match="jobs"):
        run_sweep(CONFIGS, data=data, **BUDGET, jobs=jobs)


def test_default_jobs_are_the_usable_cores():
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    assert default_jobs() == (expected or os.cpu_count())
    assert check_jobs(None) == default_jobs() and check_jobs(3) == 3


def test_the_error_a_run_raises_is_raised(data, tmp_path):
    configs = {**CONFIGS, "diverges": {**TINY, "conv": "fp"}}
    with pytest.raises(FloatingPointError):
        run_sweep(configs, data=data, **{**BUDGET, "seeds": (0,)}, lr=1e30, jobs=2)


class KillsItsWorker(dict):
    """Data whose training images, read in a worker process, kill that worker (once).

    The first worker to read ``x_train`` creates the marker file and dies,
    as a worker killed by the system mid-run would.
    """

    def __init__(self, arrays, marker):
        super().__init__(arrays)
        self.marker = str(marker)

    def __getitem__(self, key):
        if key == "x_train" and multiprocessing.parent_process() is not None:
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                os._exit(1)
        return super().__getitem__(key)

    def __reduce__(self):
        return (KillsItsWorker, (dict(self), self.marker))


def test_a_dead_worker_stops_the_sweep_naming_the_runs_to_resume(data, serial, tmp_path):
    reference = serial[0]
    arrays = {k: getattr(data, k) for k in ("x_train", "y_train", "x_test", "y_test")}
    out = tmp_path / "sweep"
    with pytest.raises(WorkersLost, match="did not finish") as caught:
        killing = KillsItsWorker(arrays, tmp_path / "marker")
        run_sweep(CONFIGS, data=killing, **BUDGET, out_dir=out, jobs=2)
    lost = caught.value.runs
    assert lost and f"{lost[0][0]!r} seed {lost[0][1]}" in str(caught.value)
    saved = SweepResult.from_json(out / "sweep.json") if (out / "sweep.json").exists() else None
    finished = [] if saved is None else [(r["label"], r["seed"]) for r in saved.rows]
    runs = [(r["label"], r["seed"]) for r in reference.rows]
    assert sorted(finished + lost) == sorted(runs) and not set(finished) & set(lost)
    # The reference sweep read data with a name: a plain dict has none, so compare rows only.
    with threadpool_limits(limits=1):
        resumed = run_sweep(CONFIGS, data=arrays, **BUDGET, out_dir=out, resume=True, jobs=2)
    assert without_seconds(resumed.rows) == without_seconds(reference.rows)
