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
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from abcref._checks import check_bool, check_choice, check_int, check_real
from abcref.apps.results import SweepResult
from abcref.apps.run import OPTIMIZER_NAMES, SCHEDULE_NAMES, auto_drop_last, make_training
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
        True shows tqdm bars on stderr, over the runs (with an ETA) and over
        the current run's epochs and steps, and writes one line per
        finished run above them; a callable receives that line instead
        (e.g. ``logging.info``), without bars.
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

    Returns
    -------
    SweepResult

    Raises
    ------
    ValueError, TypeError
        For an empty ``configs`` or ``seeds``, a non-string label, a bad
        config (before any training starts: every config is built once
        first), a bad budget value, or (``resume``) a ``sweep.json`` made
        with other settings or configs.
    """
    from abcref.nn import build_model
    from abcref.train import fit

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
    bar = tqdm(
        total=len(runs),
        initial=sum(run in finished for run in runs),
        desc="runs",
        unit="run",
        disable=progress is not True,
        file=sys.stderr,
    )
    for done, (label, seed) in enumerate(runs, 1):
        if (label, seed) in finished:
            row, records, extra = finished[label, seed]
            result.rows.append(row)
            result.histories[label, seed] = records
            if extra is not None:
                result.extras[label, seed] = extra
            continue
        model = build_model({**configs[label], "seed": seed})
        opt, sched = make_training(
            model,
            optimizer=optimizer,
            lr=lr,
            weight_decay=weight_decay,
            schedule=schedule,
            epochs=epochs,
        )
        log_path = None
        if out_dir is not None:
            log_path = out_dir / "logs" / f"{slug(label)}_seed{seed}.jsonl"
        tic = time.perf_counter()
        history = fit(
            model,
            data,
            epochs=epochs,
            optimizer=opt,
            schedule=sched,
            batch_size=batch_size,
            seed=seed,
            drop_last=drop_last,
            log_path=log_path,
            progress=progress is True,
        )
        seconds = time.perf_counter() - tic
        row = _row(label, seed, epochs, history.last, seconds)
        result.rows.append(row)
        result.histories[label, seed] = [dict(r) for r in history.records]
        model.eval()
        if keep_models:
            result.models[label, seed] = model
        if on_run is not None:
            extra = on_run(label, seed, model, history)
            if isinstance(extra, Mapping):
                result.extras[label, seed] = _json_copy(extra, f"on_run({label!r}, {seed})")
        if log is not None:
            log(
                f"[{done}/{len(runs)}] {label}, seed {seed}: test top-1 "
                f"{100 * row['test_top1']:.2f}%, train top-1 {100 * row['train_top1']:.2f}% "
                f"({row['seconds_per_epoch']:.2f} s/epoch)"
            )
        bar.update()
        if out_dir is not None:
            result.to_json(out_dir / "sweep.json")
    bar.close()
    return result


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
