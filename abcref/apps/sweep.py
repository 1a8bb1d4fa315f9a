"""Train several model configs over several seeds with one budget: :func:`run_sweep`.

A sweep maps row labels to model configs (see :func:`abcref.nn.build_model`)
and trains every config once per seed, all on the same data with the same
optimizer, schedule, epochs and batch size. Run ``(label, seed)`` builds
``build_model({**config, "seed": seed})`` (so ``seed`` fixes the
initialisation) and shuffles its minibatches with ``fit(..., seed=seed)``:
nothing else is random, so a sweep is deterministic (same machine, same
NumPy/BLAS build and thread count).

::

    from abcref.data import load_digits
    from abcref.apps.plots import plot_heatmap
    from abcref.apps.sweep import grid_configs, run_sweep

    configs = grid_configs(Ms=(1, 3), Ns=(1, 3), base={"arch": "small_cnn"})
    result = run_sweep(configs, data=load_digits(), seeds=(0, 1, 2), epochs=5)
    print(result.to_markdown())            # one row per label, mean +- std over seeds
    print(result.mn_grid().to_markdown())  # the M x N table, rows M, columns N
    plot_heatmap(result, "heatmap.png")

The result is a :class:`abcref.apps.results.SweepResult` (tables, CSV,
JSON); :mod:`abcref.apps.plots` draws it.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from pathlib import Path

from tqdm.auto import tqdm

from abcref._checks import check_bool, check_choice, check_int, check_real
from abcref._io import write_text_atomic
from abcref.apps.parallel import RunSpec, require_dask, train_elsewhere, train_run
from abcref.apps.results import SweepResult
from abcref.apps.run import OPTIMIZER_NAMES, SCHEDULE_NAMES, auto_drop_last
from abcref.train.optim import DEFAULT_LRS

__all__ = ["FULL_PRECISION", "abc_conv", "grid_configs", "rerun", "run_sweep", "slug"]

#: Row label of the full-precision model in :func:`grid_configs`.
FULL_PRECISION = "full precision"


def abc_conv(
    M: int, N: int | None, *, per_channel: bool = False, weight_ste: str = "paper"
) -> dict:
    """The conv config of an ABC layer, leaving out options at their defaults.

    ``N = None`` means full-precision activations (weight-only ABC).
    """
    conv = {"kind": "abc", "M": int(M), "N": None if N is None else int(N)}
    if per_channel:
        conv["per_channel"] = True
    if weight_ste != "paper":
        conv["weight_ste"] = weight_ste
    return conv


def grid_configs(
    Ms: Sequence[int],
    Ns: Sequence[int | None],
    *,
    base: Mapping | None = None,
    full_precision: bool = True,
    per_channel: bool = False,
    weight_ste: str = "paper",
) -> dict[str, dict]:
    """Configs of a full-precision model and an ABC model per (M, N).

    Parameters
    ----------
    Ms, Ns : sequence of int
        Weight bases and binary activations; ``N = None`` means
        full-precision activations (weight-only ABC).
    base : mapping, optional
        Everything but ``conv`` (default ``{"arch": "small_cnn"}``).
    full_precision : bool
        Include the full-precision model (``conv = "fp"``), labelled
        :data:`FULL_PRECISION`, as the first row.
    per_channel, weight_ste
        ABC options of every ABC row.

    Returns
    -------
    dict
        Label -> config, in row order: ``"full precision"``, then
        ``"M=1, N=1"``, ``"M=1, N=3"``, ... (M outer, N inner).
    """
    base = dict(base or {"arch": "small_cnn"})
    base.pop("conv", None)
    configs = {}
    if full_precision:
        configs[FULL_PRECISION] = {**base, "conv": "fp"}
    for M in Ms:
        for N in Ns:
            conv = abc_conv(M, N, per_channel=per_channel, weight_ste=weight_ste)
            configs[f"M={M}, N={'FP' if N is None else N}"] = {**base, "conv": conv}
    return configs


def run_sweep(
    configs: Mapping[str, Mapping],
    *,
    data,
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 5,
    batch_size: int = 64,
    optimizer: str = "adam",
    lr: float = DEFAULT_LRS["adam"],
    weight_decay: float = 0.0,
    schedule: str = "cosine",
    out_dir=None,
    progress: bool | Callable[[str], None] = False,
    keep_models: bool = False,
    drop_last: bool | None = None,
    on_run: Callable | None = None,
    resume: bool = False,
    on_start: Callable[[], None] | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
) -> SweepResult:
    """Train every config once per seed with the same data and budget.

    Parameters
    ----------
    configs : mapping of str to dict
        Row label -> model config for :func:`abcref.nn.build_model`. Its
        ``"seed"`` (if any) is replaced by each sweep seed.
    data : Dataset, object or dict, or str
        Anything :func:`abcref.train.fit` takes (``x_train, y_train,
        x_test, y_test``); a string is passed to
        :func:`abcref.data.load_dataset` (``"digits"`` or a directory).
    seeds : sequence of int
        One run per seed and config; the seed sets both the initialisation
        and the minibatch order.
    epochs, batch_size : int
    optimizer : {"adam", "sgd"}
    lr : float
        Initial learning rate (default ``DEFAULT_LRS["adam"]``, whatever
        the optimizer).
    weight_decay : float
    schedule : {"cosine", "constant"}
        See :func:`make_training`.
    out_dir : str or Path, optional
        If given, each run's JSON-lines log goes to
        ``out_dir/logs/<label>_seed<k>.jsonl`` and the whole result to
        ``out_dir/sweep.json``, rewritten (atomically) after every run: a
        run is finished once it is in ``sweep.json``.
    progress : bool or callable
        True shows tqdm bars on stderr, over the runs (finished / total,
        with an ETA) and, with ``jobs=1``, over the current run's epochs
        and steps, and writes one line per finished run above them; a
        callable receives that line instead (e.g. ``logging.info``),
        without bars.
    keep_models : bool
        Keep every trained model (eval mode) in ``result.models[(label,
        seed)]``. Each model keeps the caches of its last forward pass (the
        final evaluation), so this costs tens of MB per model; ``on_run``
        is the lighter way to use the models.
    drop_last : bool, optional
        Passed to ``fit``; None (default) drops an epoch's last minibatch
        only if it would hold a single image (:func:`auto_drop_last`).
    on_run : callable, optional
        ``on_run(label, seed, model, history)`` after each run, with the
        trained model in eval mode (e.g. to check or save it). A dict it
        returns (JSON-serialisable) is kept in ``result.extras[(label,
        seed)]`` and in ``sweep.json``.
    resume : bool
        Continue the sweep whose ``out_dir/sweep.json`` holds the runs
        finished so far: those runs are not trained again (nor passed to
        ``on_run``; they have no model in ``result.models``), their rows,
        histories and extras are read back, and the result equals that of
        an uninterrupted sweep (training is deterministic). No
        ``sweep.json`` yet means no run had finished.
    on_start : callable, optional
        ``on_start()`` once every argument and config has been checked,
        before anything is written or trained (e.g. to create the output
        folder only for a sweep that can run).
    jobs : int
        Runs trained at once, each in its own worker process with
        single-threaded BLAS (:mod:`abcref.apps.parallel`); 1 (default)
        trains them one after another in this process. The result does
        not depend on it: the same rows in the same order, the same
        histories, extras and models, as long as this process also
        computes with one BLAS thread (``OPENBLAS_NUM_THREADS=1``, as the
        ``abcref`` command sets). The runs finish in any order; the rows,
        ``on_run`` calls and the ``sweep.json`` rewrites keep the sweep
        order (a finished run waits for the runs before it).
    scheduler : str, optional
        Address of a Dask distributed scheduler (``"tcp://host:8786"``,
        needs ``pip install "abcref[cluster]"``): each run is a task on
        its workers, and ``jobs`` is ignored. A lost worker's run is
        rescheduled by Dask; runs that still do not finish raise
        :class:`abcref.apps.parallel.WorkersLost` naming them, after the
        finished ones are saved (``resume`` continues).

    Returns
    -------
    SweepResult

    Raises
    ------
    ValueError, TypeError
        For an empty ``configs`` or ``seeds``, a non-string label, a bad
        config (before any training starts: every config is built once
        first), a bad budget value, or (``resume``) a ``sweep.json`` made
        with other settings or configs, or a bad ``jobs``.
    WorkersLost
        If worker processes (or Dask workers) died before every run
        finished; the finished runs are in ``sweep.json``.
    """
    from abcref.nn import build_model

    if not isinstance(configs, Mapping) or not configs:
        raise ValueError(f"configs must be a non-empty mapping label -> config, got {configs!r}")
    for label, config in configs.items():
        if not isinstance(label, str) or not label:
            raise TypeError(f"configs labels must be non-empty strings, got {label!r}")
        if not isinstance(config, Mapping):
            raise TypeError(f"configs[{label!r}] must be a dict, got {type(config).__name__}")
    seeds = tuple(check_int(s, "seeds[i]", min_value=0) for s in seeds)
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {list(seeds)}")
    epochs = check_int(epochs, "epochs", min_value=1)
    batch_size = check_int(batch_size, "batch_size", min_value=1)
    lr = check_real(lr, "lr")
    weight_decay = check_real(weight_decay, "weight_decay")
    check_choice(optimizer, "optimizer", set(OPTIMIZER_NAMES))
    check_choice(schedule, "schedule", set(SCHEDULE_NAMES))
    resume = check_bool(resume, "resume")
    jobs = check_int(jobs, "jobs", min_value=1)
    if scheduler is not None:
        if not isinstance(scheduler, str) or not scheduler:
            raise TypeError(f"scheduler must be a Dask scheduler address, got {scheduler!r}")
        require_dask()
    if isinstance(data, (str, os.PathLike)):
        from abcref.data import load_dataset

        data = load_dataset(data)
    n_train = len(_field(data, "y_train"))
    if drop_last is None:
        drop_last = auto_drop_last(n_train, batch_size)
    # Build each config once up front so a typo fails before hours of training.
    full_configs = {}
    for label, config in configs.items():
        full_configs[label] = build_model({**config, "seed": seeds[0]}).config
    log = _progress_printer(progress)

    settings = {
        "seeds": list(seeds),
        "epochs": epochs,
        "batch_size": batch_size,
        "optimizer": optimizer,
        "lr": lr,
        "weight_decay": weight_decay,
        "schedule": schedule,
        "drop_last": drop_last,
        "n_train": n_train,
        "n_test": len(_field(data, "y_test")),
        "data": getattr(data, "name", None),
    }
    result = SweepResult(settings=settings, configs=full_configs)
    out_dir = None if out_dir is None else Path(out_dir)
    if on_start is not None:
        on_start()
    finished = {}
    if resume:
        if out_dir is None:
            raise ValueError("resume=True needs the out_dir whose sweep.json it continues")
        finished = _finished_runs(out_dir / "sweep.json", result)
    if out_dir is not None:
        (out_dir / "logs").mkdir(parents=True, exist_ok=True)
    runs = [(label, seed) for label in configs for seed in seeds]
    budget = {
        "epochs": epochs,
        "batch_size": batch_size,
        "optimizer": optimizer,
        "lr": lr,
        "weight_decay": weight_decay,
        "schedule": schedule,
        "drop_last": drop_last,
    }
    specs = [
        RunSpec(label, seed, dict(configs[label]), budget)
        for label, seed in runs
        if (label, seed) not in finished
    ]
    entries = dict(finished)  # (label, seed) -> (row, history records, extra or None)
    bar = tqdm(
        total=len(runs),
        initial=len(entries),
        desc="runs",
        unit="run",
        disable=progress is not True,
        file=sys.stderr,
    )

    def log_path(spec):
        if out_dir is None:
            return None
        return out_dir / "logs" / f"{slug(spec.label)}_seed{spec.seed}.jsonl"

    def finish(spec, trained, *, write_log: bool) -> None:
        """Record one trained run (in sweep order), call on_run, rewrite sweep.json."""
        label, seed = spec.run
        if write_log and out_dir is not None:
            write_text_atomic(log_path(spec), _log_text(trained.history.records))
        row = _row(label, seed, epochs, trained.history.last, trained.seconds)
        extra = None
        if keep_models:
            result.models[label, seed] = trained.model
        if on_run is not None:
            returned = on_run(label, seed, trained.model, trained.history)
            if isinstance(returned, Mapping):
                extra = _json_copy(returned, f"on_run({label!r}, {seed})")
        entries[label, seed] = (row, [dict(r) for r in trained.history.records], extra)
        if log is not None:
            log(
                f"[{runs.index((label, seed)) + 1}/{len(runs)}] {label}, seed {seed}: test top-1 "
                f"{100 * row['test_top1']:.2f}%, train top-1 {100 * row['train_top1']:.2f}% "
                f"({row['seconds_per_epoch']:.2f} s/epoch)"
            )
        bar.update()
        _fill(result, entries, runs)
        if out_dir is not None:
            result.to_json(out_dir / "sweep.json")

    try:
        if scheduler is None and min(jobs, len(specs)) <= 1:
            for spec in specs:
                trained = train_run(spec, data, log_path=log_path(spec), progress=progress is True)
                finish(spec, trained, write_log=False)
        else:
            # closing: an error here stops the workers at once, not when collected.
            engine = train_elsewhere(specs, data, jobs=jobs, scheduler=scheduler)
            with closing(engine) as finished_runs:
                _collect_in_order(
                    finished_runs, specs, lambda spec, run: finish(spec, run, write_log=True)
                )
    finally:
        bar.close()
    _fill(result, entries, runs)
    return result


def _collect_in_order(finished_runs, specs, finish) -> None:
    """Pass runs that finish in any order to ``finish`` in the order of ``specs``.

    A run that finishes early waits for the runs before it. If the engine
    fails (a worker died, a run raised), the runs that did finish are
    passed on, still in order, before the error is raised, so that
    ``sweep.json`` keeps every finished run for ``resume``.
    """
    waiting = {}
    next_index = 0
    while True:
        try:
            spec, trained = next(finished_runs)
        except StopIteration:
            return
        except Exception:
            for spec in specs[next_index:]:
                if spec.run in waiting:
                    finish(*waiting.pop(spec.run))
            raise
        waiting[spec.run] = (spec, trained)
        while next_index < len(specs) and specs[next_index].run in waiting:
            finish(*waiting.pop(specs[next_index].run))
            next_index += 1


def _fill(result: SweepResult, entries: dict, runs: list) -> None:
    """``result``'s rows, histories and extras: the finished runs, in sweep order."""
    done = [run for run in runs if run in entries]
    result.rows = [entries[run][0] for run in done]
    result.histories = {run: entries[run][1] for run in done}
    result.extras = {run: entries[run][2] for run in done if entries[run][2] is not None}


def _log_text(records) -> str:
    """A run's JSON-lines log, as ``fit`` writes it."""
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)


def rerun(saved: SweepResult, runs: Sequence[tuple[str, int]], *, data=None) -> SweepResult:
    """Train again some runs of a saved sweep, each with the saved config and budget.

    Runs are independent and deterministic, so on the machine (NumPy/BLAS
    build and thread count) that made ``saved``, each rerun row equals the
    saved row of its ``(label, seed)``: a few reruns check a whole
    committed sweep without training it all.

    Parameters
    ----------
    saved : SweepResult
        E.g. :meth:`SweepResult.from_json` of a ``sweep.json``.
    runs : sequence of (label, seed)
        Runs of ``saved`` to train again.
    data : optional
        The data (default: ``saved.settings["data"]``, cut to the saved
        numbers of train and test images).

    Returns
    -------
    SweepResult
        One row per run, in the order of ``runs``.

    Raises
    ------
    ValueError
        If a run is not one of ``saved``'s, or the data or budget differ from
        the saved ones.
    """
    settings = saved.settings
    rows = {(r["label"], r["seed"]) for r in saved.rows}
    for run in runs:
        if tuple(run) not in rows:
            raise ValueError(f"runs: {tuple(run)!r} is not a (label, seed) of the saved sweep")
    if data is None:
        dtype = next(iter(saved.configs.values()), {}).get("dtype", "float32")
        data = _saved_data(settings, dtype)
    budget = {k: settings[k] for k in ("epochs", "batch_size", "optimizer", "lr", "weight_decay")}
    out = SweepResult(settings={**settings, "seeds": [s for _, s in runs]}, configs={})
    for label, seed in runs:
        one = run_sweep(
            {label: saved.configs[label]},
            data=data,
            seeds=(seed,),
            schedule=settings["schedule"],
            drop_last=settings["drop_last"],
            **budget,
        )
        differ = {k for k, v in one.settings.items() if k != "seeds" and settings.get(k) != v}
        if differ:
            raise ValueError(f"the rerun's {sorted(differ)} differ from the saved sweep's")
        out.configs.setdefault(label, one.configs[label])
        out.rows += one.rows
        out.histories.update(one.histories)
    return out


def _saved_data(settings: dict, dtype: str):
    """The data a sweep trained on, from its settings (name, numbers of images)."""
    from abcref.data import load_dataset

    data = load_dataset(settings["data"], dtype=dtype)
    sizes = (len(data.y_train), len(data.y_test))
    if sizes != (settings["n_train"], settings["n_test"]):
        limit = max(settings["n_train"], settings["n_test"])
        data = load_dataset(settings["data"], limit=limit, dtype=dtype)
    return data


def _finished_runs(path: Path, result: SweepResult) -> dict:
    """``(label, seed) -> (row, history records, extra)`` of the runs a ``sweep.json`` holds."""
    if not path.exists():
        return {}
    saved = SweepResult.from_json(path)
    for what in ("settings", "configs"):
        if _normalised(getattr(saved, what)) != _normalised(getattr(result, what)):
            raise ValueError(
                f"cannot resume from {str(path)!r}: it was written by a sweep with other {what}"
            )
    return {
        (row["label"], row["seed"]): (
            row,
            saved.histories.get((row["label"], row["seed"]), []),
            saved.extras.get((row["label"], row["seed"])),
        )
        for row in saved.rows
    }


def _normalised(value):
    """A JSON round trip (tuples become lists), for comparing settings with saved ones."""
    return json.loads(json.dumps(value))


def _json_copy(extra, what: str) -> dict:
    try:
        return json.loads(json.dumps(dict(extra)))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} returned a dict that is not JSON-serialisable: {exc}") from exc


def _field(data, name):
    return data[name] if isinstance(data, Mapping) else getattr(data, name)


def _progress_printer(progress):
    if progress is True:
        return lambda line: tqdm.write(line, file=sys.stderr)
    if progress is False or progress is None:
        return None
    if callable(progress):
        return progress
    raise TypeError(f"progress must be a bool or a callable, got {progress!r}")


def _row(label: str, seed: int, epochs: int, last: dict, seconds: float) -> dict:
    nan = float("nan")
    return {
        "label": label,
        "seed": seed,
        "epochs": epochs,
        "test_top1": float(last.get("test_top1", nan)),
        "test_top5": float(last.get("test_top5", nan)),
        "test_loss": float(last.get("test_loss", nan)),
        "train_top1": float(last["train_top1"]),
        "train_loss": float(last["train_loss"]),
        "seconds_per_epoch": seconds / epochs,
        "seconds": seconds,
    }


def slug(label: str) -> str:
    """A file-name-safe form of a row label (``"M=1, N=3"`` -> ``"M1_N3"``)."""
    text = re.sub(r"[^A-Za-z0-9]+", "_", label.replace("=", "")).strip("_")
    return text or "run"
