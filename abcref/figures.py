"""Regenerate every figure of ``figures/`` from one call: :func:`make_all`.

The figures (PNG, about 100 dpi) and what produces them:

==========================  ================================================
``weight_approximation``    trained first-layer filters and the histogram of
                            the weights against ``sum_m alpha_m B_m``, M = 1..5
                            (the paper's supplementary S2)
``error_vs_m``              relative reconstruction error against M for
                            Gaussian and trained layers, whole-layer and
                            channel-wise (the analogue of Table 1)
``accuracy_heatmap``        test top-1 over (M, N), mean +- std over seeds,
                            from a sweep on the embedded digits (Table 2)
``feature_maps``            one test digit and the N binary maps A_n entering
                            a trained ABC layer (the paper's supplementary S3)
``training_curves``         loss and test accuracy per epoch, full precision
                            against several (M, N)
==========================  ================================================

The sweep's results are also written as ``accuracy_sweep.csv`` (one row per
run), and :func:`make_all` can read such a file instead of training
(``sweep_csv=``). All training goes through :func:`abcref.train.fit`.

Determinism: every run is seeded (model initialisation and minibatch
order), figures are drawn with the Agg renderer and saved without a
software/date stamp, so re-running gives the same bytes *on the same
machine with the same BLAS thread count*. ``figures/make_figures.py``
pins BLAS to one thread before NumPy is imported; callers of
:func:`make_all` in a process where NumPy is already loaded should do the
same through their environment (``OPENBLAS_NUM_THREADS=1``).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from abcref import viz

#: The figures written by :func:`make_all`, without extension.
FIGURES = (
    "weight_approximation",
    "error_vs_m",
    "accuracy_heatmap",
    "feature_maps",
    "training_curves",
)
SWEEP_CSV = "accuracy_sweep.csv"
SWEEP_COLUMNS = ("conv", "M", "N", "seed", "epochs", "test_top1", "train_loss", "seconds")


@dataclass(frozen=True)
class FigureSettings:
    """Budget of the training behind the figures.

    Attributes
    ----------
    Ms, Ns : tuple of int
        Grid of the (M, N) sweep.
    seeds : tuple of int
        One run per seed and configuration (the heatmap shows mean +- std).
    epochs : int
        Epochs per run (Adam, lr 3e-3, cosine decay, batch 64).
    widths : list of int
        ``small_cnn`` widths.
    limit : int or None
        Images per split (None: all 1,437 / 360).
    curves : tuple of (M, N)
        ABC configurations drawn in the training-curves figure (with full
        precision); must be in the sweep grid.
    """

    Ms: tuple = (1, 3, 5)
    Ns: tuple = (1, 3, 5)
    seeds: tuple = (0, 1, 2)
    epochs: int = 5
    widths: list = field(default_factory=lambda: [16, 32, 32])
    limit: int | None = None
    curves: tuple = ((1, 1), (3, 3), (5, 5))


#: The README figures (about 2-4 minutes on 2 cores).
FULL = FigureSettings()
#: Smoke-test budget (seconds): tiny model, few images, one epoch.
QUICK = FigureSettings(
    Ms=(1, 2), Ns=(1, 2), seeds=(0,), epochs=1, widths=[4, 8], limit=128, curves=((1, 1),)
)

LR = 3e-3
BATCH_SIZE = 64


def _write_atomic(path: Path, data: bytes) -> None:
    """Write bytes to ``path`` through a temporary file in the same directory."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; figures are for everyone to read
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_figure(fig, path: Path, *, dpi: int = 100) -> Path:
    """Save ``fig`` as a PNG with no software/date metadata (stable bytes), atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # the Agg renderer whatever the global backend
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    _write_atomic(Path(path), buffer.getvalue())
    return Path(path)


def _train(conv, seed: int, settings: FigureSettings, data):
    from abcref.nn import build_model
    from abcref.train import Adam, Cosine, fit

    config = {"arch": "small_cnn", "widths": list(settings.widths), "conv": conv, "seed": seed}
    model = build_model(config)
    history = fit(
        model,
        data,
        epochs=settings.epochs,
        optimizer=Adam(model, lr=LR),
        schedule=Cosine(LR, settings.epochs),
        batch_size=BATCH_SIZE,
        seed=seed,
        drop_last=True,  # a last batch of 1 image cannot be batch-normalised
        progress=False,
    )
    return model, history


def _row(conv_kind, M, N, seed, settings, history) -> dict:
    last = history.last
    return {
        "conv": conv_kind,
        "M": "" if M is None else M,
        "N": "" if N is None else N,
        "seed": seed,
        "epochs": settings.epochs,
        "test_top1": round(float(last["test_top1"]), 6),
        "train_loss": round(float(last["train_loss"]), 6),
        "seconds": round(float(sum(history.column("seconds"))), 2),
    }


def run_sweep(
    settings: FigureSettings, data, *, log: Callable[[str], None] = print
) -> tuple[list[dict], dict]:
    """Train full precision and every (M, N) of the grid, for every seed.

    Returns
    -------
    rows : list of dict
        One per run, keys :data:`SWEEP_COLUMNS` (``conv`` "fp" or "abc";
        M and N empty for full precision; ``test_top1`` a fraction).
    runs : dict
        ``("fp", seed)`` or ``((M, N), seed)`` -> ``(model, history)``.
    """
    from abcref.nn import abc_conv

    rows, runs = [], {}
    for seed in settings.seeds:
        model, history = _train("fp", seed, settings, data)
        runs["fp", seed] = (model, history)
        rows.append(_row("fp", None, None, seed, settings, history))
        log(f"full precision, seed {seed}: test top-1 {100 * history.last['test_top1']:.2f}%")
        for M in settings.Ms:
            for N in settings.Ns:
                model, history = _train(abc_conv(M=M, N=N), seed, settings, data)
                runs[(M, N), seed] = (model, history)
                rows.append(_row("abc", M, N, seed, settings, history))
                log(
                    f"ABC M={M}, N={N}, seed {seed}: "
                    f"test top-1 {100 * history.last['test_top1']:.2f}%"
                )
    return rows, runs


def write_sweep_csv(rows: Sequence[dict], path) -> Path:
    """Write sweep rows (keys :data:`SWEEP_COLUMNS`) as CSV, atomically."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=SWEEP_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row[k] for k in SWEEP_COLUMNS})
    path = Path(path)
    _write_atomic(path, text.getvalue().encode())
    return path


def read_sweep_csv(path) -> list[dict]:
    """Read a sweep CSV: columns ``conv, M, N, test_top1`` (others optional).

    ``conv`` is "fp" or "abc"; M and N are integers for "abc" rows;
    ``test_top1`` is a fraction in [0, 1]. Returns rows with M, N as int
    (None for full precision) and ``test_top1`` as float.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If a required column is missing or a value does not parse.
    """
    path = Path(path)
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"conv", "M", "N", "test_top1"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(
                f"sweep CSV {path} lacks columns {sorted(missing)}; "
                f"expected at least conv, M, N, test_top1 (got {reader.fieldnames})"
            )
        rows = []
        for line, raw in enumerate(reader, start=2):
            try:
                conv = raw["conv"].strip()
                if conv not in ("fp", "abc"):
                    raise ValueError(f"conv must be 'fp' or 'abc', got {conv!r}")
                row = dict(raw)
                row["conv"] = conv
                row["M"] = int(raw["M"]) if conv == "abc" else None
                row["N"] = int(raw["N"]) if conv == "abc" else None
                row["test_top1"] = float(raw["test_top1"])
                if not 0.0 <= row["test_top1"] <= 1.0:
                    raise ValueError(
                        f"test_top1 must be a fraction in [0, 1], got {raw['test_top1']}"
                    )
            except (TypeError, ValueError) as exc:
                raise ValueError(f"sweep CSV {path}, line {line}: {exc}") from None
            rows.append(row)
    return rows


def accuracy_grid(rows: Sequence[dict]):
    """Mean and std (over seeds) of test top-1 in percent on the (M, N) grid.

    Returns
    -------
    Ms, Ns : list of int
    mean, std : ndarray, shape (len(Ms), len(Ns))
        NaN where a configuration has no run.
    fp : float or None
        Mean full-precision accuracy in percent.
    """
    Ms = sorted({int(r["M"]) for r in rows if r["conv"] == "abc"})
    Ns = sorted({int(r["N"]) for r in rows if r["conv"] == "abc"})
    mean = np.full((len(Ms), len(Ns)), np.nan)
    std = np.full((len(Ms), len(Ns)), np.nan)
    for i, M in enumerate(Ms):
        for j, N in enumerate(Ns):
            values = [
                100 * float(r["test_top1"])
                for r in rows
                if r["conv"] == "abc" and int(r["M"]) == M and int(r["N"]) == N
            ]
            if values:
                mean[i, j], std[i, j] = np.mean(values), np.std(values)
    fp_values = [100 * float(r["test_top1"]) for r in rows if r["conv"] == "fp"]
    fp = float(np.mean(fp_values)) if fp_values else None
    return Ms, Ns, mean, std, fp


def make_all(
    out_dir,
    quick: bool = False,
    *,
    sweep_csv=None,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Train what the figures need and write every PNG (and the sweep CSV).

    Parameters
    ----------
    out_dir : str or Path
        Created if missing. Receives ``<name>.png`` for every name in
        :data:`FIGURES` and, unless ``sweep_csv`` is given,
        :data:`SWEEP_CSV`.
    quick : bool
        Tiny budget (:data:`QUICK`) for tests: seconds, not minutes; the
        figures are then not meaningful.
    sweep_csv : str or Path, optional
        Read the (M, N) accuracies from this CSV (see
        :func:`read_sweep_csv`) instead of running the sweep; only the runs
        drawn in the other figures are trained.
    log : callable
        Receives one line per run (default ``print``).

    Returns
    -------
    list of Path
        The files written, figures first.
    """
    from abcref.data import load_digits
    from abcref.nn import abc_conv

    settings = QUICK if quick else FULL
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = load_digits(limit=settings.limit)
    written: list[Path] = []
    seed = settings.seeds[0]

    if sweep_csv is None:
        rows, runs = run_sweep(settings, data, log=log)
    else:
        rows = read_sweep_csv(sweep_csv)
        runs = {("fp", seed): _train("fp", seed, settings, data)}
        for M, N in settings.curves:
            runs[(M, N), seed] = _train(abc_conv(M=M, N=N), seed, settings, data)
    fp_model = runs["fp", seed][0]

    fig = viz.plot_weight_approximation(
        fp_model.conv1.params["W"], Ms=(1, 2, 3, 4, 5), num_filters=8
    )
    written.append(save_figure(fig, out / "weight_approximation.png"))

    Ms = list(range(1, 7))
    rng = np.random.default_rng(0)
    gaussian = rng.normal(size=(64, 32, 3, 3))
    # Filters whose norms differ by ~10x, as in real layers (tutorial 01, section 6).
    uneven = gaussian * np.exp(rng.normal(scale=0.8, size=(64, 1, 1, 1)))
    trained = fp_model.conv1.params["W"]

    def errors(W, per_channel=False):
        return (Ms, [viz.reconstruction_error(W, m, per_channel=per_channel) for m in Ms])

    curves = {
        "Gaussian": errors(gaussian),
        "uneven filter norms, whole layer": errors(uneven),
        "uneven filter norms, channel-wise": errors(uneven, per_channel=True),
        "trained conv1 (digits), whole layer": errors(trained),
        "trained conv1 (digits), channel-wise": errors(trained, per_channel=True),
    }
    written.append(save_figure(viz.plot_error_vs_m(curves), out / "error_vs_m.png"))

    grid_Ms, grid_Ns, mean, std, fp = accuracy_grid(rows)
    n_seeds = len({r.get("seed") for r in rows if r["conv"] == "abc"})
    epochs = rows[0].get("epochs", settings.epochs) if rows else settings.epochs
    fig = viz.plot_accuracy_heatmap(
        mean,
        grid_Ms,
        grid_Ns,
        spread=std if n_seeds > 1 else None,
        full_precision=fp,
        title=f"digits, {epochs} epochs, {n_seeds} seed{'s' if n_seeds > 1 else ''}",
    )
    written.append(save_figure(fig, out / "accuracy_heatmap.png"))

    maps_key = max(settings.curves)  # the largest configuration drawn
    abc_model = runs[maps_key, seed][0]
    maps = viz.binary_activation_maps(abc_model, data.x_test[:1], "conv2")
    fig = viz.plot_feature_maps(data.x_test[0, 0], maps[:, 0], v=abc_model.conv2.params["v"])
    written.append(save_figure(fig, out / "feature_maps.png"))

    histories = {"full precision": runs["fp", seed][1]}
    for M, N in settings.curves:
        histories[f"ABC M={M}, N={N}"] = runs[(M, N), seed][1]
    fig = viz.plot_training_curves(histories, metrics=("train_loss", "test_top1"))
    written.append(save_figure(fig, out / "training_curves.png"))

    if sweep_csv is None:
        written.append(write_sweep_csv(rows, out / SWEEP_CSV))
    return written
