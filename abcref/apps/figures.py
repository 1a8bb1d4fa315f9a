"""Regenerate the figures of ``figures/`` from one call: :func:`make_all`.

The figures (PNG, about 100 dpi) and what produces them:

==========================  ================================================
``weight_approximation``    trained first-layer filters and the histogram of
                            the weights against ``sum_m alpha_m B_m``, M = 1..5
                            (the paper's supplementary S2)
``error_vs_m``              relative reconstruction error against M for
                            Gaussian and trained layers, whole-layer and
                            channel-wise (the analogue of Table 1)
``feature_maps``            one test digit and the N binary maps A_n entering
                            a trained ABC layer (the paper's supplementary S3)
==========================  ================================================

The trained models are two runs of ``abcref reproduce``'s setting
(:data:`abcref.apps.reproduce.DEFAULT`): its full-precision model and its
M = N = 5 model, first seed, trained with the same config, budget and seed
as there, so they are the models of that command's seed-0 runs (training
is deterministic). The M x N heatmap and the training curves are not
drawn here: ``abcref reproduce`` draws them from the same runs as its table
(``results/reproduce/heatmap.png``, ``training_curves.png``).

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from abcref import viz
from abcref._io import save_png
from abcref.apps.reproduce import DEFAULT as REPRODUCE
from abcref.data import load_digits

#: The figures written by :func:`make_all`, without extension.
FIGURES = ("weight_approximation", "error_vs_m", "feature_maps")


@dataclass(frozen=True)
class FigureSettings:
    """The two training runs behind the figures.

    Attributes
    ----------
    widths : tuple of int
        ``small_cnn`` widths.
    epochs, batch_size : int
    lr : float
        Adam's initial rate, cosine-decayed to 0.
    seed : int
        Initialisation and minibatch order of both runs.
    limit : int or None
        Images per split (None: all 1,437 / 360).
    maps : (M, N)
        The ABC model whose binary activations ``feature_maps`` shows.
    """

    widths: tuple = REPRODUCE.widths
    epochs: int = REPRODUCE.epochs
    batch_size: int = REPRODUCE.batch_size
    lr: float = REPRODUCE.lr
    seed: int = REPRODUCE.seeds[0]
    limit: int | None = REPRODUCE.limit
    maps: tuple = (5, 5)


#: The repository's figures: ``abcref reproduce``'s setting, seed 0.
FULL = FigureSettings()
#: Smoke-test budget (seconds): tiny model, few images, one epoch.
QUICK = FigureSettings(widths=(4, 8), epochs=1, limit=128, maps=(2, 2))


def save_figure(fig, path, *, dpi: int = 100) -> Path:
    """Save ``fig`` as a PNG with no software/date metadata (stable bytes), atomically."""
    return save_png(fig, path, dpi=dpi)


def _label(M: int, N: int) -> str:
    return f"M={M}, N={N}"  # the labels of abcref.apps.sweep.grid_configs


def make_all(
    out_dir,
    quick: bool = False,
    *,
    progress: bool | Callable[[str], None] = True,
    overwrite: bool = False,
    jobs: int = 1,
    scheduler: str | None = None,
) -> list[Path]:
    """Train the two models the figures need and write every PNG.

    Parameters
    ----------
    out_dir : str or Path
        A new or empty directory, or (``overwrite``) one holding an abcref
        run (the rules of :mod:`abcref.apps.folders`). Receives
        ``config.json`` and ``<name>.png`` for every name in
        :data:`FIGURES`, all in one step at the end: an interrupted call
        leaves ``out_dir`` as it was.
    quick : bool
        Tiny budget (:data:`QUICK`) for tests: seconds, not minutes; the
        figures are then not meaningful.
    progress : bool or callable
        True: tqdm bars over the training runs and epochs, and a line per
        finished run, on stderr; a callable receives those lines instead.
    overwrite : bool
        Replace the abcref run ``out_dir`` holds (e.g. earlier figures);
        files abcref did not write are kept.
    jobs, scheduler
        Where the two runs are trained (:func:`abcref.apps.sweep.run_sweep`);
        the figures do not depend on them.

    Returns
    -------
    list of Path
        The figures written.

    Raises
    ------
    RunFolderError
        If ``out_dir`` holds anything and ``overwrite`` is not given.
    """
    from abcref.apps.folders import open_run_folder
    from abcref.apps.sweep import FULL_PRECISION, grid_configs, run_sweep

    settings = QUICK if quick else FULL
    folder = open_run_folder(out_dir, "figures", overwrite=overwrite)
    out = folder.path
    data = load_digits(limit=settings.limit)
    base = {"arch": "small_cnn", "widths": list(settings.widths)}
    M, N = settings.maps
    configs = grid_configs((M,), (N,), base=base)
    result = run_sweep(
        configs,
        data=data,
        seeds=(settings.seed,),
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        lr=settings.lr,
        keep_models=True,
        progress=progress,
        jobs=jobs,
        scheduler=scheduler,
    )
    fp_model = result.models[FULL_PRECISION, settings.seed]
    abc_model = result.models[_label(M, N), settings.seed]
    figures = _draw(fp_model, abc_model, data)
    names = [f"{name}.png" for name in FIGURES]

    def write(directory: Path) -> None:
        for name, fig in zip(names, figures, strict=True):
            save_figure(fig, directory / name)

    folder.start({"settings": {"quick": bool(quick)}}, write)
    return [out / name for name in names]


def _draw(fp_model, abc_model, data) -> list:
    """The matplotlib figures of :data:`FIGURES`, in order."""
    trained = fp_model.conv1.params["weight"]
    drawn = [viz.plot_weight_approximation(trained, Ms=(1, 2, 3, 4, 5), num_filters=8)]

    Ms = list(range(1, 7))
    rng = np.random.default_rng(0)
    gaussian = rng.normal(size=(64, 32, 3, 3))
    # Filters whose norms differ by ~10x, as in real layers (tutorial 01, section 6).
    uneven = gaussian * np.exp(rng.normal(scale=0.8, size=(64, 1, 1, 1)))

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

    maps = viz.binary_activation_maps(abc_model, data.x_test[:1], "conv2")
    drawn.append(
        viz.plot_feature_maps(data.x_test[0, 0], maps[:, 0], v=abc_model.conv2.params["v"])
    )
    return drawn
