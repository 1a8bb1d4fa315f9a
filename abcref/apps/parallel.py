"""Where a sweep's runs are trained: in this process, in worker processes, or on a Dask cluster.

A sweep's runs are independent: run ``(label, seed)`` builds its model
from its config and seed and trains it with the sweep's budget
(:func:`train_run`); nothing else is random. So the runs can be trained
anywhere, in any order, and each gives the same model and the same
metrics as in the serial loop, provided BLAS computes with one thread in
both places (the ``abcref`` command pins one thread; workers always do).

Three engines give the same runs:

- ``jobs=1``, no scheduler: one run after another in this process (the
  reference; :func:`abcref.apps.sweep.run_sweep` does this itself);
- ``jobs=N``: :class:`concurrent.futures.ProcessPoolExecutor` with ``N``
  worker processes (forkserver start method), each with single-threaded
  BLAS (``threadpoolctl``) and the dataset, received once when it starts;
- ``scheduler="tcp://host:8786"``: a Dask distributed cluster
  (``pip install "abcref[cluster]"``); the dataset is scattered to every
  worker once, then each run is one task.

:func:`train_elsewhere` yields the finished runs in the order they finish;
the sweep puts them back in order. A worker that dies takes its run with
it: the process pool then stops (:class:`WorkersLost`, naming the runs
that did not finish); Dask reschedules the task on another worker, up to
its ``distributed.scheduler.allowed-failures`` times (default 3), and
then fails the same way. Any other exception a run raises (a diverged
training's ``FloatingPointError``) is raised again here, as in the
serial loop.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

__all__ = [
    "CLUSTER_INSTALL",
    "RunSpec",
    "TrainedRun",
    "WorkersLost",
    "check_jobs",
    "default_jobs",
    "require_dask",
    "train_elsewhere",
    "train_run",
]

#: How to install the optional Dask dependency.
CLUSTER_INSTALL = 'pip install "abcref[cluster]"'


class WorkersLost(RuntimeError):
    """Worker processes died, or the cluster was lost, before some runs finished.

    Attributes
    ----------
    runs : list of (label, seed)
        The runs that did not finish, in sweep order.
    """

    def __init__(self, message: str, runs: Sequence[tuple[str, int]]):
        super().__init__(message)
        self.runs = list(runs)


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: what :func:`train_run` needs besides the data.

    Attributes
    ----------
    label : str
    seed : int
        Sets the initialisation (``config["seed"]``) and the minibatch order.
    config : dict
        The model config, for :func:`abcref.nn.build_model`.
    budget : dict
        ``epochs``, ``batch_size``, ``optimizer``, ``lr``,
        ``weight_decay``, ``schedule`` and ``drop_last``.
    """

    label: str
    seed: int
    config: dict
    budget: dict

    @property
    def run(self) -> tuple[str, int]:
        return self.label, self.seed


@dataclass
class TrainedRun:
    """What a run gives back: the trained model (eval mode), its history, its wall time."""

    model: object
    history: object
    seconds: float


def train_run(spec: RunSpec, data, *, log_path=None, progress: bool = False) -> TrainedRun:
    """Build and train the model of one run (the serial loop and every worker call this).

    Parameters
    ----------
    spec : RunSpec
    data : Dataset, object or dict
        Anything :func:`abcref.train.fit` takes.
    log_path : str or Path, optional
        ``fit``'s JSON-lines log of the run.
    progress : bool
        ``fit``'s bars over the epochs and steps.

    Returns
    -------
    TrainedRun
    """
    from abcref.apps.run import make_training
    from abcref.nn import build_model
    from abcref.train import fit

    budget = spec.budget
    model = build_model({**spec.config, "seed": spec.seed})
    optimizer, schedule = make_training(
        model,
        optimizer=budget["optimizer"],
        lr=budget["lr"],
        weight_decay=budget["weight_decay"],
        schedule=budget["schedule"],
        epochs=budget["epochs"],
    )
    tic = time.perf_counter()
    history = fit(
        model,
        data,
        epochs=budget["epochs"],
        optimizer=optimizer,
        schedule=schedule,
        batch_size=budget["batch_size"],
        seed=spec.seed,
        drop_last=budget["drop_last"],
        log_path=log_path,
        progress=progress,
    )
    seconds = time.perf_counter() - tic
    return TrainedRun(model.eval(), history, seconds)


def default_jobs() -> int:
    """The cores this process may use (``os.sched_getaffinity``, else ``os.cpu_count``)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def check_jobs(jobs) -> int:
    """``jobs`` as a positive int (None: :func:`default_jobs`)."""
    from abcref._checks import check_int

    return default_jobs() if jobs is None else check_int(jobs, "jobs", min_value=1)


def require_dask() -> None:
    """Raise an ImportError naming the install command if Dask distributed is missing."""
    if importlib.util.find_spec("distributed") is None:
        raise ImportError(
            f"a Dask scheduler needs the dask[distributed] package: {CLUSTER_INSTALL}"
        )


def train_elsewhere(
    specs: Sequence[RunSpec], data, *, jobs: int = 2, scheduler: str | None = None
) -> Iterator[tuple[RunSpec, TrainedRun]]:
    """Train ``specs`` in worker processes or on a Dask cluster; yield each as it finishes.

    Parameters
    ----------
    specs : sequence of RunSpec
    data : Dataset, object or dict
        Sent to each worker once.
    jobs : int
        Worker processes (ignored with ``scheduler``).
    scheduler : str, optional
        A Dask scheduler's address, e.g. ``"tcp://10.0.0.1:8786"``.

    Yields
    ------
    (RunSpec, TrainedRun)
        In the order the runs finish. The models come without the caches
        of their last forward pass.

    Raises
    ------
    WorkersLost
        If workers died (or the scheduler was lost) before every run
        finished; the runs yielded so far are complete.
    Exception
        What a run raised (e.g. ``FloatingPointError``), as in the serial loop.
    """
    if scheduler is not None:
        yield from _on_cluster(specs, data, scheduler)
    else:
        yield from _in_processes(specs, data, min(jobs, len(specs)))


# -- worker side ------------------------------------------------------------------

_WORKER_DATA = None


def _start_worker(data) -> None:
    """Pool initializer: keep the data, one BLAS thread, leave Ctrl-C to the parent."""
    global _WORKER_DATA
    from threadpoolctl import threadpool_limits

    # The parent stops the workers on Ctrl-C; a worker interrupted on its own
    # would only print a traceback and break the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threadpool_limits(limits=1)  # for the life of this process
    _WORKER_DATA = data
    # A parent killed outright (SIGKILL) cannot stop its workers, and they would
    # wait for tasks forever: each ends itself once the parent is gone.
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_after, args=(parent,), daemon=True).start()


def _exit_after(parent) -> None:
    parent.join()
    os._exit(1)


def _train_in_worker(spec: RunSpec) -> TrainedRun:
    return _portable(train_run(spec, _WORKER_DATA))


def _train_on_cluster_worker(spec: RunSpec, data) -> TrainedRun:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _portable(train_run(spec, data))


def _portable(trained: TrainedRun) -> TrainedRun:
    """Drop the caches of the model's last forward pass (tens of MB) before it is sent back."""
    for _, module in trained.model.named_modules():
        module._cache = None
    return trained


# -- local worker processes ---------------------------------------------------------


def _in_processes(specs, data, jobs: int):
    # forkserver: workers start from a clean process (no threads of the parent's
    # progress bars or clients are copied), and receive the data once, pickled.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    executor = ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_start_worker, initargs=(data,)
    )
    futures = {executor.submit(_train_in_worker, spec): spec for spec in specs}
    order = {spec.run: index for index, spec in enumerate(specs)}
    yielded = set()
    finished = False
    try:
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            failed = []
            for future in sorted(done, key=lambda f: order[futures[f].run]):
                if future.exception() is not None:
                    failed.append(future.exception())
                    continue
                yielded.add(futures[future].run)
                yield futures[future], future.result()
            for exc in failed:
                if isinstance(exc, BrokenProcessPool):
                    lost = [s.run for s in specs if s.run not in yielded]
                    raise WorkersLost(_lost_message(lost, f"a worker process died ({exc})"), lost)
            if failed:
                raise failed[0]
        finished = True
    finally:
        if finished:
            executor.shutdown()
        else:
            _stop(executor)


def _stop(executor: ProcessPoolExecutor) -> None:
    """Shut the pool down now (an error, Ctrl-C): cancel what has not started, end the rest."""
    # concurrent.futures has no public way to end running tasks before Python 3.14
    # (terminate_workers); without it, exit would wait for every run in progress.
    # The process table is read first: shutdown() forgets it.
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join()


# -- Dask -------------------------------------------------------------------------------------


def _on_cluster(specs, data, scheduler: str):
    require_dask()
    from distributed import Client, as_completed

    with Client(scheduler) as client:
        # Once to every worker; tasks refer to it by its future.
        data_future = client.scatter(data, broadcast=True, hash=False)
        token = uuid.uuid4().hex[:8]
        futures = {
            client.submit(
                _train_on_cluster_worker,
                spec,
                data_future,
                key=f"abcref-run-{token}-{index}",  # a run's index in the sweep
                pure=False,
            ): spec
            for index, spec in enumerate(specs)
        }
        finished: set = set()
        failures: list = []
        for future in as_completed(futures):
            spec = futures[future]
            try:
                trained = future.result()
            except Exception as exc:
                if not _lost_worker(exc):
                    client.cancel(list(futures))
                    raise
                failures.append(exc)
                continue
            finished.add(spec.run)
            yield spec, trained
        if failures:
            lost = [s.run for s in specs if s.run not in finished]
            reason = f"{type(failures[0]).__name__}: {failures[0]}"
            raise WorkersLost(_lost_message(lost, f"Dask workers were lost ({reason})"), lost)


def _lost_worker(exc) -> bool:
    """True for the errors of a task whose worker died (or whose data was lost with it)."""
    from concurrent.futures import CancelledError

    from distributed.scheduler import KilledWorker

    # CancelledError: the task's data went with its worker, or the client lost the
    # scheduler; OSError: a closed connection (distributed's CommClosedError).
    return isinstance(exc, (KilledWorker, CancelledError, OSError))


def _lost_message(lost, why: str) -> str:
    shown = ", ".join(f"{label!r} seed {seed}" for label, seed in lost)
    return (
        f"{why}; {len(lost)} run(s) did not finish: {shown}. The finished runs are saved in "
        "sweep.json (with an output directory): resume the sweep to train the rest"
    )
