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

The (M, N) sweep runs through :func:`abcref.apps.sweep.run_sweep` (which trains
with :func:`abcref.train.fit`) and is saved next to the figures as
``accuracy_sweep.json`` (readable by
:meth:`abcref.apps.results.SweepResult.from_json`) and ``accuracy_sweep.csv``;
:func:`make_all` can draw the heatmap and curves from such a JSON file
instead of re-running the sweep (``sweep=``).

Determinism: every run is seeded (model initialisation and minibatch
order), figures are drawn with the Agg renderer and saved without a
software/date stamp, so re-running gives the same bytes *on the same
machine with the same BLAS thread count*. ``figures/make_figures.py``
pins BLAS to one thread before NumPy is imported; callers of
:func:`make_all` in a process where NumPy is already loaded should do the
same through their environment (``OPENBLAS_NUM_THREADS=1``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from abcref import viz
from abcref._io import save_png
from abcref.data import load_digits

#: The figures written by :func:`make_all`, without extension.
FIGURES = (
    "weight_approximation",
    "error_vs_m",
    "accuracy_heatmap",
    "feature_maps",
    "training_curves",
)
#: The sweep files written by :func:`make_all` (unless it reads a sweep).
SWEEP_FILES = ("accuracy_sweep.json", "accuracy_sweep.csv")


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
        Epochs per run (``run_sweep`` defaults: Adam, lr 3e-3, cosine
        decay, batch 64).
    widths : list of int
        ``small_cnn`` widths.
    limit : int or None
        Images per split (None: all 1,437 / 360).
    curves : tuple of (M, N)
        ABC configurations drawn in the training-curves figure (with full
        precision); the last one also gives the feature maps.
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


def save_figure(fig, path, *, dpi: int = 100) -> Path:
    """Save ``fig`` as a PNG with no software/date metadata (stable bytes), atomically."""
    return save_png(fig, path, dpi=dpi)


def _label(M: int, N: int) -> str:
    return f"M={M}, N={N}"  # the labels of abcref.apps.sweep.grid_configs


def make_all(
    out_dir,
    quick: bool = False,
    *,
    sweep=None,
    progress: bool | Callable[[str], None] = True,
    overwrite: bool = False,
) -> list[Path]:
    """Train what the figures need and write every PNG (and the sweep files).

    Parameters
    ----------
    out_dir : str or Path
        A new or empty directory, or (``overwrite``) one holding an abcref
        run (the rules of :mod:`abcref.apps.folders`). Receives
        ``config.json``, ``<name>.png`` for every name in :data:`FIGURES`
        and, unless ``sweep`` is given, the :data:`SWEEP_FILES`, all in one
        step at the end: an interrupted call leaves ``out_dir`` as it was.
    quick : bool
        Tiny budget (:data:`QUICK`) for tests: seconds, not minutes; the
        figures are then not meaningful.
    sweep : str or Path, optional
        A sweep JSON file (``SweepResult.to_json``, e.g. a previous
        ``accuracy_sweep.json`` or ``abcref sweep`` output) with an (M, N)
        grid and a full-precision row: the heatmap and the training curves
        are drawn from it, and only the two models the other figures need
        (full precision and the last of ``curves``, first seed) are
        trained. It may lie in ``out_dir``; it is kept there (with its
        ``.csv`` twin if it is the folder's own ``accuracy_sweep.json``).
    progress : bool or callable
        True: tqdm bars over the training runs and epochs, and a line per
        finished run, on stderr; a callable receives those lines instead.
    overwrite : bool
        Replace the abcref run ``out_dir`` holds (e.g. earlier figures);
        files abcref did not write are kept.

    Returns
    -------
    list of Path
        The files written, figures first.

    Raises
    ------
    RunFolderError
        If ``out_dir`` holds anything and ``overwrite`` is not given.
    """
    from abcref.apps.folders import open_run_folder
    from abcref.apps.results import SweepResult
    from abcref.apps.sweep import FULL_PRECISION, grid_configs, run_sweep

    settings = QUICK if quick else FULL
    folder = open_run_folder(out_dir, "figures", overwrite=overwrite)
    out = folder.path
    data = load_digits(limit=settings.limit)
    configs = grid_configs(
        settings.Ms, settings.Ns, base={"arch": "small_cnn", "widths": list(settings.widths)}
    )
    maps_label = _label(*settings.curves[-1])
    budget = {"data": data, "epochs": settings.epochs, "progress": progress}
    if sweep is None:
        result = run_sweep(configs, seeds=settings.seeds, keep_models=True, **budget)
        models = result.models
    else:
        result = SweepResult.from_json(sweep)
        needed = {k: configs[k] for k in (FULL_PRECISION, maps_label)}
        models = run_sweep(needed, seeds=settings.seeds[:1], keep_models=True, **budget).models
    figures = _draw(result, models, settings, maps_label, data)
    names = [f"{name}.png" for name in FIGURES]

    def write(directory: Path) -> None:
        for name, fig in zip(names, figures, strict=True):
            save_figure(fig, directory / name)
        if sweep is None:
            result.to_json(directory / SWEEP_FILES[0])
            result.to_csv(directory / SWEEP_FILES[1])

    record = {"settings": {"quick": bool(quick), "sweep": None if sweep is None else str(sweep)}}
    kept = ()  # this run's input is not one of the old run's outputs to remove
    if sweep is not None and Path(sweep).resolve().parent == out.resolve():
        name = Path(sweep).name
        kept = SWEEP_FILES if name == SWEEP_FILES[0] else (name,)
    folder.start(record, write, keep=kept)
    return [out / name for name in names] + (
        [out / name for name in SWEEP_FILES] if sweep is None else []
    )


def _draw(result, models, settings: FigureSettings, maps_label: str, data) -> list:
    """The matplotlib figures of :data:`FIGURES`, in order."""
    from abcref.apps.sweep import FULL_PRECISION

    seed = settings.seeds[0]
    fp_model = models[FULL_PRECISION, seed]
    drawn = [
        viz.plot_weight_approximation(
            fp_model.conv1.params["weight"], Ms=(1, 2, 3, 4, 5), num_filters=8
        )
    ]

    Ms = list(range(1, 7))
    rng = np.random.default_rng(0)
    gaussian = rng.normal(size=(64, 32, 3, 3))
    # Filters whose norms differ by ~10x, as in real layers (tutorial 01, section 6).
    uneven = gaussian * np.exp(rng.normal(scale=0.8, size=(64, 1, 1, 1)))
    trained = fp_model.conv1.params["weight"]

    def errors(W, per_channel=False):
        return (Ms, [viz.reconstruction_error(W, m, per_channel=per_channel) for m in Ms])

    curves = {
        "Gaussian": errors(gaussian),
        "uneven filter norms, whole layer": errors(uneven),
        "uneven filter norms, channel-wise": errors(uneven, per_channel=True),
        "trained conv1 (digits), whole layer": errors(trained),
        "trained conv1 (digits), channel-wise": errors(trained, per_channel=True),
    }
    drawn.append(viz.plot_error_vs_m(curves))

    grid = result.mn_grid("test_top1")  # mean and sample std over seeds
    n_seeds = len(result.settings.get("seeds", []))
    drawn.append(
        viz.plot_accuracy_heatmap(
            100 * grid.mean,
            grid.Ms,
            ["FP" if n is None else n for n in grid.Ns],
            spread=100 * grid.std if n_seeds > 1 else None,
            full_precision=None if grid.full_precision is None else 100 * grid.full_precision[0],
            title=(
                f"{result.settings.get('data') or 'data'}, {result.settings.get('epochs')} "
                f"epochs, {n_seeds} seed{'s' if n_seeds > 1 else ''}"
            ),
        )
    )

    abc_model = models[maps_label, seed]
    maps = viz.binary_activation_maps(abc_model, data.x_test[:1], "conv2")
    drawn.append(
        viz.plot_feature_maps(data.x_test[0, 0], maps[:, 0], v=abc_model.conv2.params["v"])
    )

    first_seed = result.settings["seeds"][0]
    wanted = [FULL_PRECISION] + [_label(M, N) for M, N in settings.curves]
    histories = {
        ("full precision" if label == FULL_PRECISION else f"ABC {label}"): result.histories[
            label, first_seed
        ]
        for label in wanted
        if (label, first_seed) in result.histories
    }
    drawn.append(viz.plot_training_curves(histories, metrics=("train_loss", "test_top1")))
    return drawn
