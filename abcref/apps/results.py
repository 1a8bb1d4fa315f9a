"""What a sweep measured: :class:`SweepResult`, its (M, N) view :class:`MNGrid`, tables and files.

:func:`abcref.apps.sweep.run_sweep` fills a :class:`SweepResult`, one row
per run; this module summarises the rows over seeds and writes them as
markdown, CSV and JSON (:meth:`SweepResult.from_json` reads the JSON back).

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from abcref._checks import check_choice
from abcref._io import write_text_atomic

__all__ = ["MNGrid", "ROW_COLUMNS", "SweepResult", "format_mean_std", "mean_std", "n_label"]

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

    def to_markdown(
        self, *, scale: float = 100.0, digits: int = 2, full_precision: bool = True
    ) -> str:
        """Rows M, columns N, cells ``mean ± std``; full precision below (unless False)."""
        header = "| M \\ N | " + " | ".join(n_label(n) for n in self.Ns) + " |"
        lines = [header, "|---|" + "---|" * len(self.Ns)]
        for i, M in enumerate(self.Ms):
            cells = [
                format_mean_std(self.mean[i, j], self.std[i, j], scale=scale, digits=digits)
                for j in range(len(self.Ns))
            ]
            lines.append(f"| **{M}** | " + " | ".join(cells) + " |")
        if full_precision and self.full_precision is not None:
            fp = format_mean_std(*self.full_precision, scale=scale, digits=digits)
            lines.append("")
            lines.append(f"full precision: {fp}")
        return "\n".join(lines)


def n_label(n) -> str:
    """Column heading of an N value: "FP" for full-precision activations (N = None)."""
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
    extras : dict
        ``(label, seed)`` -> a JSON dict kept with the run (what ``run_sweep``'s
        ``on_run`` returned, e.g. a check's verdict), so that a resumed
        sweep has it for the runs it does not train again.
    """

    settings: dict
    configs: dict
    rows: list = field(default_factory=list)
    histories: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)

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
        """Write settings, configs, rows, histories and extras as JSON, atomically."""
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
        if self.extras:
            payload["extras"] = [
                {"label": label, "seed": seed, "extra": extra}
                for (label, seed), extra in self.extras.items()
            ]
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
            for e in payload.get("extras", []):
                result.extras[e["label"], e["seed"]] = e["extra"]
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
