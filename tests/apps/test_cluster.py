"""Tests of run_sweep(scheduler=...): a sweep on a Dask cluster equals the serial sweep.

Two worker processes on loopback (``distributed.LocalCluster``). A worker
plugin kills the worker that starts a chosen run, to test what happens
when a worker dies mid-run: Dask reschedules the run, or, once it has
failed too often, the sweep names it and keeps the finished runs.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from abcref.apps.parallel import WorkersLost
from abcref.apps.results import SweepResult
from abcref.apps.sweep import grid_configs, run_sweep, slug
from abcref.data import load_digits

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

# A second cluster while the module's is up: its dashboard moves to another port, and says so.
pytestmark = pytest.mark.filterwarnings("ignore:Port 8787 is already in use:UserWarning")

CONFIGS = grid_configs([1], [1, 2], base={"arch": "small_cnn", "widths": [4, 8]})  # 3 configs
BUDGET = {"seeds": (0, 1), "epochs": 1, "batch_size": 32}


def local_cluster():
    return distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
    )


@pytest.fixture(scope="module")
def data():
    return load_digits(limit=96)


@pytest.fixture(scope="module")
def serial(data):
    with threadpool_limits(limits=1):
        return run_sweep(CONFIGS, data=data, **BUDGET, keep_models=True)


@pytest.fixture(scope="module")
def cluster():
    with local_cluster() as cluster:
        yield cluster


def without_seconds(rows):
    return [{k: v for k, v in row.items() if not k.startswith("seconds")} for row in rows]


def assert_same_sweep(result, reference) -> None:
    assert without_seconds(result.rows) == without_seconds(reference.rows)
    assert result.mn_grid().to_markdown() == reference.mn_grid().to_markdown()
    for run, model in reference.models.items():
        state = result.models[run].state_dict()
        for name, value in model.state_dict().items():
            np.testing.assert_array_equal(state[name], value, err_msg=f"{run} {name}")


class KillWorker(distributed.WorkerPlugin):
    """Kill the worker process that starts the sweep's run number ``index``.

    With a ``marker`` file, only the first time (the file records it);
    without, every time.
    """

    def __init__(self, index: int, marker=None):
        self.index = index
        self.marker = None if marker is None else str(marker)

    def transition(self, key, start, finish, **kwargs):
        if finish != "executing" or not str(key).endswith(f"-{self.index}"):
            return
        if not str(key).startswith("abcref-run-"):
            return
        if self.marker is not None:
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return
        os._exit(1)


def test_a_cluster_sweep_equals_the_serial_sweep(data, serial, cluster, tmp_path):
    result = run_sweep(
        CONFIGS,
        data=data,
        **BUDGET,
        keep_models=True,
        out_dir=tmp_path,
        scheduler=cluster.scheduler_address,
    )
    assert_same_sweep(result, serial)
    saved = SweepResult.from_json(tmp_path / "sweep.json")
    assert without_seconds(saved.rows) == without_seconds(serial.rows)
    logs = sorted(f"{slug(label)}_seed{seed}.jsonl" for label, seed in serial.models)
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == logs


def test_a_run_whose_worker_dies_is_trained_again(data, serial, cluster, tmp_path):
    with distributed.Client(cluster) as client:
        client.register_plugin(KillWorker(2, tmp_path / "killed"), name="kill-once")
        try:
            address = cluster.scheduler_address
            result = run_sweep(CONFIGS, data=data, **BUDGET, keep_models=True, scheduler=address)
        finally:
            client.unregister_worker_plugin("kill-once")
    assert (tmp_path / "killed").exists()  # a worker did die
    assert_same_sweep(result, serial)


def test_a_run_that_keeps_killing_workers_is_named_and_the_rest_saved(data, serial, tmp_path):
    out = tmp_path / "sweep"
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), local_cluster() as cl:
        with distributed.Client(cl) as client:
            client.register_plugin(KillWorker(2), name="kill-always")
            address = cl.scheduler_address
            with pytest.raises(WorkersLost, match="did not finish") as caught:
                run_sweep(CONFIGS, data=data, **BUDGET, out_dir=out, scheduler=address)
    runs = [(row["label"], row["seed"]) for row in serial.rows]
    lost = caught.value.runs
    assert runs[2] in lost and "'M=1, N=1' seed 0" in str(caught.value)
    saved = SweepResult.from_json(out / "sweep.json")
    finished = [(row["label"], row["seed"]) for row in saved.rows]
    assert sorted(finished + lost) == sorted(runs) and not set(finished) & set(lost)
    with threadpool_limits(limits=1):
        resumed = run_sweep(CONFIGS, data=data, **BUDGET, out_dir=out, resume=True)
    assert without_seconds(resumed.rows) == without_seconds(serial.rows)


def test_an_unreachable_scheduler_is_an_os_error(data):
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), pytest.raises(OSError):
        run_sweep(CONFIGS, data=data, **BUDGET, scheduler="tcp://127.0.0.1:9")


def test_the_sweep_command_on_a_cluster_prints_the_serial_table(capsys, cluster, tmp_path):
    from tests.cli._helpers import TINY, run

    argv = ["sweep", "--M", "1", "--N", "1", "--seeds", "0", "1", "--epochs", "1", *TINY]
    tables = []
    for where in (["--jobs", "1"], ["--scheduler", cluster.scheduler_address]):
        with threadpool_limits(limits=1):
            status, out, err = run(capsys, *argv, *where, "--out", tmp_path / where[0][2:])
        assert status == 0, err
        tables.append(out[out.index("| M \\ N |") : out.index("\nwrote ")])
    assert tables[1] == tables[0]
