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
    from abcref.apps.sweep import grid_configs, plot_heatmap, run_sweep

    configs = grid_configs(Ms=(1, 3), Ns=(1, 3), base={"arch": "small_cnn"})
    result = run_sweep(configs, data=load_digits(), seeds=(0, 1, 2), epochs=5)
    print(result.to_markdown())            # one row per label, mean +- std over seeds
    print(result.mn_grid().to_markdown())  # the M x N table, rows M, columns N
    plot_heatmap(result, "heatmap.png")

Statistics
----------
Accuracies in :attr:`SweepResult.rows` are fractions in [0, 1], as in
:class:`abcref.train.History`; tables print percent. The spread over seeds
is the *sample* standard deviation (``ddof=1``, Bessel-corrected), the
usual "mean +- std over n runs"; it is NaN for a single seed.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from abcref._checks import check_choice, check_int, check_real
from abcref._io import save_png, write_text_atomic  # noqa: F401  (re-exported)

__all__ = [
    "FULL_PRECISION",
    "MNGrid",
    "SweepResult",
    "grid_configs",
    "make_training",
    "plot_heatmap",
    "plot_curves",
    "run_sweep",
]

#: Row label of the full-precision model in :func:`grid_configs`.
FULL_PRECISION = "full precision"

#: Columns of :attr:`SweepResult.rows` (and of ``to_csv``), in order.
ROW_COLUMNS = (
    "label",
    "seed",
    "epochs",
    "test_top1",
    "test_top5",
    "test_loss",
    "train_top1",
    "train_loss",
    "seconds_per_epoch",
    "seconds",
)

#: Metrics summarised by :meth:`SweepResult.summary`.
SUMMARY_METRICS = ("test_top1", "train_top1", "test_loss", "seconds_per_epoch")

OPTIMIZER_NAMES = ("adam", "sgd")
SCHEDULE_NAMES = ("cosine", "constant")


# -- building one run ---------------------------------------------------------


def make_training(model, *, optimizer: str, lr: float, weight_decay: float, schedule: str, epochs):
    """The optimizer and learning-rate schedule of one run.

    Parameters
    ----------
    model : Module
    optimizer : {"adam", "sgd"}
        ``Adam(model, lr=lr)`` or ``SGD(model, lr=lr, momentum=0.9)``
        (coupled L2 ``weight_decay`` on conv/linear weights, see
        ``docs/training.md``).
    lr, weight_decay : float
    schedule : {"cosine", "constant"}
        ``Cosine(lr, epochs)`` (per step, down to 0 at the last step) or
        ``Constant(lr)``.
    epochs : int

    Returns
    -------
    (Optimizer, Schedule)
    """
    from abcref.train import Constant, Cosine, make_optimizer

    check_choice(optimizer, "optimizer", set(OPTIMIZER_NAMES))
    check_choice(schedule, "schedule", set(SCHEDULE_NAMES))
    opt = make_optimizer(optimizer, model, lr=lr, weight_decay=weight_decay)
    sched = Cosine(lr, epochs) if schedule == "cosine" else Constant(lr)
    return opt, sched


def auto_drop_last(n_train: int, batch_size: int) -> bool:
    """True iff an epoch's last minibatch would hold exactly one image.

    Batch norm in training mode cannot normalise a batch of one image whose
    feature maps are 1x1 (and normalises a single image poorly anyway), so
    such a batch is skipped; every image is still seen, because the
    minibatch order changes every epoch.
    """
    return n_train % batch_size == 1


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
            conv = {"kind": "abc", "M": int(M), "N": None if N is None else int(N)}
            if per_channel:
                conv["per_channel"] = True
            if weight_ste != "paper":
                conv["weight_ste"] = weight_ste
            configs[f"M={M}, N={'FP' if N is None else N}"] = {**base, "conv": conv}
    return configs


# -- the sweep ----------------------------------------------------------------


def run_sweep(
    configs: Mapping[str, Mapping],
    *,
    data,
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 5,
    batch_size: int = 64,
    optimizer: str = "adam",
    lr: float = 3e-3,
    weight_decay: float = 0.0,
    schedule: str = "cosine",
    out_dir=None,
    progress: bool | Callable[[str], None] = False,
    keep_models: bool = False,
    drop_last: bool | None = None,
    on_run: Callable | None = None,
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
    lr, weight_decay : float
    schedule : {"cosine", "constant"}
        See :func:`make_training`.
    out_dir : str or Path, optional
        If given, each run's JSON-lines log goes to
        ``out_dir/logs/<label>_seed<k>.jsonl`` and the whole result to
        ``out_dir/sweep.json`` (rewritten after every run, so a long sweep
        can be inspected while it runs).
    progress : bool or callable
        True prints one line per finished run; a callable receives that
        line instead (e.g. ``logging.info``). No per-epoch bars.
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
        trained model in eval mode (e.g. to check or save it); its return
        value is ignored.

    Returns
    -------
    SweepResult

    Raises
    ------
    ValueError, TypeError
        For an empty ``configs`` or ``seeds``, a non-string label, a bad
        config (before any training starts: every config is built once
        first), or a bad budget value.
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
    if out_dir is not None:
        (out_dir / "logs").mkdir(parents=True, exist_ok=True)
    total, done = len(configs) * len(seeds), 0
    for label, config in configs.items():
        for seed in seeds:
            model = build_model({**config, "seed": seed})
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
                progress=False,
            )
            seconds = time.perf_counter() - tic
            row = _row(label, seed, epochs, history.last, seconds)
            result.rows.append(row)
            result.histories[label, seed] = [dict(r) for r in history.records]
            model.eval()
            if keep_models:
                result.models[label, seed] = model
            if on_run is not None:
                on_run(label, seed, model, history)
            done += 1
            if log is not None:
                log(
                    f"[{done}/{total}] {label}, seed {seed}: test top-1 "
                    f"{100 * row['test_top1']:.2f}%, train top-1 {100 * row['train_top1']:.2f}% "
                    f"({row['seconds_per_epoch']:.2f} s/epoch)"
                )
            if out_dir is not None:
                result.to_json(out_dir / "sweep.json")
    return result


def _field(data, name):
    return data[name] if isinstance(data, Mapping) else getattr(data, name)


def _progress_printer(progress):
    if progress is True:
        return lambda line: print(line, flush=True)
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


# -- results ------------------------------------------------------------------


def mean_std(values: Sequence[float], ddof: int = 1) -> tuple[float, float]:
    """Mean and standard deviation (``ddof=1``: sample std; NaN if too few)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan")
    mean = float(values.mean())
    if values.size <= ddof:
        return mean, float("nan")
    return mean, float(values.std(ddof=ddof))


def format_mean_std(mean: float, std: float, *, scale: float = 100.0, digits: int = 2) -> str:
    """``"99.35 ± 0.16"`` (``scale`` 100 turns fractions into percent)."""
    if not math.isfinite(mean):
        return "–"
    text = f"{scale * mean:.{digits}f}"
    if math.isfinite(std):
        text += f" ± {scale * std:.{digits}f}"
    return text


@dataclass
class MNGrid:
    """Mean and spread of a metric over an (M, N) grid of ABC configs.

    Attributes
    ----------
    Ms, Ns : list
        Row and column values (sorted; N may be None: FP activations,
        shown as "FP").
    mean, std : ndarray, shape (len(Ms), len(Ns))
        Of the metric over seeds (fractions for accuracies); NaN where a
        combination was not run.
    labels : list of list of str or None
        Row label of each cell.
    full_precision : tuple of (float, float) or None
        (mean, std) of the full-precision row, if the sweep had one.
    metric : str
    ddof : int
    """

    Ms: list
    Ns: list
    mean: np.ndarray
    std: np.ndarray
    labels: list
    full_precision: tuple | None
    metric: str = "test_top1"
    ddof: int = 1

    def to_markdown(self, *, scale: float = 100.0, digits: int = 2) -> str:
        """Rows M, columns N, cells ``mean ± std``; full precision below."""
        header = "| M \\ N | " + " | ".join(_n_name(n) for n in self.Ns) + " |"
        lines = [header, "|---|" + "---|" * len(self.Ns)]
        for i, M in enumerate(self.Ms):
            cells = [
                format_mean_std(self.mean[i, j], self.std[i, j], scale=scale, digits=digits)
                for j in range(len(self.Ns))
            ]
            lines.append(f"| **{M}** | " + " | ".join(cells) + " |")
        if self.full_precision is not None:
            fp = format_mean_std(*self.full_precision, scale=scale, digits=digits)
            lines.append("")
            lines.append(f"full precision: {fp}")
        return "\n".join(lines)


def _n_name(n) -> str:
    return "FP" if n is None else str(n)


def _abc_mn(config: Mapping) -> tuple[int, int | None] | None:
    conv = config.get("conv")
    if isinstance(conv, Mapping) and conv.get("kind") == "abc":
        return int(conv["M"]), conv.get("N")
    return None


def _is_fp(config: Mapping) -> bool:
    conv = config.get("conv")
    return conv == "fp" or (isinstance(conv, Mapping) and conv.get("kind") == "fp")


@dataclass
class SweepResult:
    """What :func:`run_sweep` measured.

    Attributes
    ----------
    rows : list of dict
        One per run, in training order, with the keys :data:`ROW_COLUMNS`:
        ``label``, ``seed``, ``epochs``, final-epoch ``test_top1``,
        ``test_top5``, ``test_loss`` (eval mode), ``train_top1``,
        ``train_loss`` (running averages over the last epoch, training
        mode), ``seconds_per_epoch`` and ``seconds`` (wall time of the run,
        evaluation included). Accuracies are fractions.
    histories : dict
        ``(label, seed)`` -> the run's per-epoch records
        (:attr:`abcref.train.History.records`).
    configs : dict
        Label -> the complete model config (every default filled in; the
        ``seed`` there is the first sweep seed's).
    settings : dict
        The shared budget: seeds, epochs, batch size, optimizer, lr, ...
    models : dict
        ``(label, seed)`` -> trained model, if ``keep_models``.
    """

    settings: dict
    configs: dict
    rows: list = field(default_factory=list)
    histories: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        """Row labels in config order."""
        return list(self.configs)

    def runs(self, label: str) -> list[dict]:
        """The rows of one label, in seed order of the sweep."""
        if label not in self.configs:
            raise KeyError(f"no label {label!r} in this sweep; labels are {self.labels}")
        return [r for r in self.rows if r["label"] == label]

    def summary(self, *, ddof: int = 1) -> list[dict]:
        """Mean and std over seeds of each metric, one dict per label.

        Returns
        -------
        list of dict
            ``{"label", "runs", "<metric>_mean", "<metric>_std"}`` for each
            metric of :data:`SUMMARY_METRICS`; labels without finished runs
            are left out. ``ddof=1``: sample standard deviation (NaN for one
            run).
        """
        out = []
        for label in self.labels:
            runs = self.runs(label)
            if not runs:
                continue
            entry = {"label": label, "runs": len(runs)}
            for metric in SUMMARY_METRICS:
                mean, std = mean_std([r[metric] for r in runs], ddof)
                entry[f"{metric}_mean"], entry[f"{metric}_std"] = mean, std
            out.append(entry)
        return out

    def to_markdown(self, *, ddof: int = 1) -> str:
        """The summary as a markdown table (accuracies in percent)."""
        lines = [
            "| model | runs | test top-1 (%) | train top-1 (%) | test loss | s/epoch |",
            "|---|---|---|---|---|---|",
        ]
        for s in self.summary(ddof=ddof):
            loss = format_mean_std(s["test_loss_mean"], s["test_loss_std"], scale=1, digits=3)
            lines.append(
                f"| {s['label']} | {s['runs']} "
                f"| {format_mean_std(s['test_top1_mean'], s['test_top1_std'])} "
                f"| {format_mean_std(s['train_top1_mean'], s['train_top1_std'])} "
                f"| {loss} | {s['seconds_per_epoch_mean']:.2f} |"
            )
        return "\n".join(lines)

    def mn_grid(self, metric: str = "test_top1", *, ddof: int = 1) -> MNGrid:
        """The ABC rows arranged by (M, N), plus the full-precision row.

        Rows whose config is ``{"kind": "abc", "M", "N"}`` fill the grid;
        a row with ``conv = "fp"`` is the full-precision reference; other
        rows are ignored.

        Raises
        ------
        ValueError
            If there is no ABC row, or two labels share an (M, N) (e.g.
            whole-layer and channel-wise in one sweep: sweep them
            separately).
        """
        check_choice(metric, "metric", set(ROW_COLUMNS) - {"label", "seed", "epochs"})
        cells, fp = {}, None
        for label, config in self.configs.items():
            runs = self.runs(label)
            if _is_fp(config) and runs:
                if fp is not None:
                    raise ValueError("more than one full-precision row in the sweep")
                fp = mean_std([r[metric] for r in runs], ddof)
            mn = _abc_mn(config)
            if mn is None:
                continue
            if mn in cells:
                raise ValueError(
                    f"labels {cells[mn][0]!r} and {label!r} both have (M, N) = {mn}; "
                    "mn_grid needs one label per (M, N)"
                )
            cells[mn] = (label, runs)
        if not cells:
            raise ValueError("the sweep has no ABC config (conv kind 'abc'); no (M, N) grid")
        Ms = sorted({m for m, _ in cells})
        Ns = sorted({n for _, n in cells}, key=lambda n: (n is None, n or 0))
        mean = np.full((len(Ms), len(Ns)), np.nan)
        std = np.full((len(Ms), len(Ns)), np.nan)
        labels = [[None] * len(Ns) for _ in Ms]
        for (m, n), (label, runs) in cells.items():
            i, j = Ms.index(m), Ns.index(n)
            labels[i][j] = label
            if runs:
                mean[i, j], std[i, j] = mean_std([r[metric] for r in runs], ddof)
        return MNGrid(Ms, Ns, mean, std, labels, fp, metric, ddof)

    # -- files ---------------------------------------------------------------
    def to_csv(self, path) -> Path:
        """Write one line per run (columns :data:`ROW_COLUMNS`), atomically."""
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=ROW_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: _csv_value(row[k]) for k in ROW_COLUMNS})
        return write_text_atomic(path, text.getvalue())

    def to_json(self, path) -> Path:
        """Write settings, configs, rows and histories as JSON, atomically."""
        payload = {
            "format": "abcref-sweep",
            "format_version": 1,
            "settings": self.settings,
            "configs": self.configs,
            "rows": self.rows,
            "histories": [
                {"label": label, "seed": seed, "records": records}
                for (label, seed), records in self.histories.items()
            ],
        }
        return write_text_atomic(path, json.dumps(_json_safe(payload), indent=1) + "\n")

    @classmethod
    def from_json(cls, path) -> SweepResult:
        """Read a file written by :meth:`to_json` (models are not stored)."""
        path = Path(path)
        try:
            payload = json.loads(path.read_text())
            if payload.get("format") != "abcref-sweep":
                raise ValueError("format field is not 'abcref-sweep'")
            result = cls(settings=payload["settings"], configs=payload["configs"])
            result.rows = [_json_restore(r) for r in payload["rows"]]
            for h in payload["histories"]:
                result.histories[h["label"], h["seed"]] = h["records"]
        except (UnicodeDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{str(path)!r} is not a readable abcref sweep file: {exc}") from exc
        except ValueError as exc:
            raise ValueError(f"{str(path)!r} is not an abcref sweep file: {exc}") from exc
        return result


def _csv_value(value):
    if isinstance(value, float):
        return "" if not math.isfinite(value) else repr(value)
    return value


def _json_safe(obj):
    """NaN -> None (strict JSON has no NaN)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def _json_restore(row: dict) -> dict:
    return {k: (float("nan") if v is None and k in ROW_COLUMNS else v) for k, v in row.items()}


# -- figures ------------------------------------------------------------------


def plot_heatmap(result: SweepResult, path, *, metric: str = "test_top1", dpi: int = 100) -> Path:
    """Draw ``result.mn_grid(metric)`` as an annotated heatmap PNG.

    Cells show mean ± std over seeds in percent (for accuracies), rows M,
    columns N; the full-precision mean is in the title. Uses
    :func:`abcref.viz.plot_accuracy_heatmap`.
    """
    from abcref.viz import plot_accuracy_heatmap

    grid = result.mn_grid(metric)
    scale = 100.0 if "top" in metric else 1.0
    spread = np.where(np.isfinite(grid.std), grid.std, 0.0) * scale
    fp = None if grid.full_precision is None else scale * grid.full_precision[0]
    seeds = len(result.settings.get("seeds", []))
    name = metric.replace("_", " ").replace("top1", "top-1").replace("top5", "top-5")
    title = f"{name}{' (%)' if scale == 100 else ''}, mean ± std over {seeds} seed(s)"
    Ns = [_n_name(n) for n in grid.Ns]
    fig = plot_accuracy_heatmap(
        grid.mean * scale, grid.Ms, Ns, spread=spread, full_precision=fp, title=title, dpi=dpi
    )
    return save_png(fig, path)


def plot_curves(
    result: SweepResult,
    path,
    *,
    labels: Sequence[str] | None = None,
    seed: int | None = None,
    dpi: int = 100,
) -> Path:
    """Training loss and test top-1 per epoch, one line per label (one seed).

    ``labels`` default to all; ``seed`` defaults to the sweep's first.
    Uses :func:`abcref.viz.plot_training_curves`.
    """
    from abcref.viz import plot_training_curves

    labels = result.labels if labels is None else list(labels)
    seed = result.settings["seeds"][0] if seed is None else seed
    histories = {}
    for label in labels:
        if (label, seed) not in result.histories:
            raise KeyError(f"no run ({label!r}, seed {seed}) in this sweep")
        histories[label] = result.histories[label, seed]
    fig = plot_training_curves(histories, dpi=dpi)
    return save_png(fig, path)
