"""``abcref reproduce``: the paper's M x N trend on the embedded digits, in minutes.

ABC-Net's Table 2 says that accuracy rises with the number of weight bases
M and of binary activations N, and that M = N = 5 comes closest to full
precision. :func:`reproduce` trains, on the embedded digits (no download),
a full-precision model and an ABC model for every (M, N) of a grid, over
several seeds with one budget (:func:`abcref.apps.sweep.run_sweep`), prints the
M x N table (mean ± std over seeds), checks that the bit-packed compiled
model (:func:`abcref.compiler.compile_model`, xnor/popcount) predicts
exactly what the float model predicts for every trained ABC model, and
writes tables, figures and one checkpoint per config.

The setting (:data:`DEFAULT`) and why
-------------------------------------
The digits are easy: with the default ``small_cnn`` widths (32, 64, 64, 64)
every configuration reaches 99-100 % at 40 epochs, and at 5 epochs the
configurations still lie within about 1.5 points, about the spread over
seeds (one test image is 0.28 %). ``DEFAULT`` uses a narrower network,
widths (16, 32, 32, 32), for 3 epochs (Adam, lr 3e-3, cosine decay, batch
64), 3 seeds: binarisation costs a narrow network more, and a short budget
shows who learns faster, so accuracy rises with N at every M and with M at
every N by more than the spread, and the whole job (30 runs) takes a few
minutes on 2 cores. ``docs/cli.md`` gives the measurements behind the
choice (5 epochs; other widths).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from abcref._io import write_text_atomic
from abcref.apps.folders import RunFolderError, open_run_folder

__all__ = ["DEFAULT", "QUICK", "ReproduceReport", "ReproduceSettings", "reproduce"]


@dataclass(frozen=True)
class ReproduceSettings:
    """Budget and grid of :func:`reproduce`.

    Attributes
    ----------
    Ms, Ns : tuple of int
        The (M, N) grid (plus one full-precision model).
    seeds : tuple of int
        One run per seed and config (initialisation and minibatch order).
    epochs, batch_size : int
    lr : float
        Adam's initial learning rate, cosine-decayed to 0.
    widths : tuple of int
        ``small_cnn`` conv widths.
    limit : int or None
        Images per split (None: all 1,437 train / 360 test).
    curves : tuple of (M, N)
        ABC configs drawn with full precision in ``training_curves.png``.
    """

    Ms: tuple = (1, 3, 5)
    Ns: tuple = (1, 3, 5)
    seeds: tuple = (0, 1, 2)
    epochs: int = 3
    batch_size: int = 64
    lr: float = 3e-3
    widths: tuple = (16, 32, 32, 32)
    limit: int | None = None
    curves: tuple = ((1, 1), (3, 3), (5, 5))


#: What ``abcref reproduce`` runs (a few minutes on 2 cores).
DEFAULT = ReproduceSettings()
#: ``abcref reproduce --quick``: a smoke run of a few seconds (numbers meaningless).
QUICK = ReproduceSettings(
    Ms=(1, 2), Ns=(1, 2), seeds=(0,), epochs=1, widths=(4, 8), limit=128, curves=((1, 1),)
)


@dataclass
class ReproduceReport:
    """What :func:`reproduce` measured and wrote."""

    result: object  # abcref.apps.results.SweepResult
    bits: list = field(default_factory=list)
    files: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def bits_ok(self) -> bool:
        """Every compiled ABC model predicted exactly like its float model."""
        return bool(self.bits) and all(b["identical"] for b in self.bits)


def reproduce(
    out_dir="runs/reproduce",
    *,
    settings: ReproduceSettings = DEFAULT,
    progress: bool = True,
    log=print,
    resume: bool = False,
    overwrite: bool = False,
) -> ReproduceReport:
    """Train FP + the ABC grid, print the table, check bits, write files.

    Parameters
    ----------
    out_dir : str or Path
        A new or empty directory (see ``resume`` and ``overwrite``; the
        rules of :mod:`abcref.apps.folders`). Receives ``config.json`` (the
        settings), ``table.md`` (M x N table, per-config summary, bit check,
        settings, wall time), ``table.csv`` (one row per run),
        ``heatmap.png``, ``training_curves.png``, ``sweep.json`` (the runs
        finished so far, rewritten after each), ``bits_check.json``,
        ``logs/`` (a JSON-lines log per run) and ``models/`` (the seed-0
        checkpoint of every config, for ``abcref eval``/``summary``). The
        tables, figures and ``bits_check.json`` appear together, at the end.
    settings : ReproduceSettings
        :data:`DEFAULT` or :data:`QUICK` or your own.
    progress : bool
        tqdm bars over the runs (with an ETA) and epochs, and a line per
        finished run, on stderr.
    log : callable
        Receives the header line and the result lines (default ``print``).
    resume : bool
        Continue the interrupted reproduce run in ``out_dir`` (same
        ``settings``): the runs it finished are not trained again, and the
        table is the one an uninterrupted run prints.
    overwrite : bool
        Replace the abcref run ``out_dir`` holds (files abcref did not
        write are kept).

    Returns
    -------
    ReproduceReport

    Raises
    ------
    RunFolderError
        If ``out_dir`` holds another run (and neither ``resume`` nor
        ``overwrite`` is given), or ``resume`` finds no reproduce run there
        or one started with other ``settings``.
    """
    from abcref.apps.plots import plot_curves, plot_heatmap
    from abcref.apps.sweep import FULL_PRECISION, grid_configs, run_sweep, slug
    from abcref.compiler import bits_check
    from abcref.data import load_digits
    from abcref.train import save_checkpoint

    tic = time.perf_counter()
    folder = open_run_folder(out_dir, "reproduce", resume=resume, overwrite=overwrite)
    out = folder.path
    record = {"settings": json.loads(json.dumps(asdict(settings)))}
    if resume and folder.previous.get("settings") != record["settings"]:
        raise RunFolderError(
            f"cannot resume {str(out_dir)!r}: it was started with other settings "
            f"({folder.previous.get('settings')})"
        )
    data = load_digits(limit=settings.limit)
    base = {"arch": "small_cnn", "widths": list(settings.widths)}
    configs = grid_configs(settings.Ms, settings.Ns, base=base)
    log(
        f"abcref reproduce: {len(configs)} configs (full precision + M in {list(settings.Ms)} "
        f"x N in {list(settings.Ns)}) x seeds {list(settings.seeds)}, {settings.epochs} epochs "
        f"each, small_cnn widths {list(settings.widths)}, on {data!r}"
    )
    report = ReproduceReport(result=None)
    first_seed = settings.seeds[0]
    input_shape = [int(n) for n in data.image_shape]

    def check_and_save(label, seed, model, history):
        # Check every ABC model as soon as it is trained, keep none in memory;
        # the verdict is kept in sweep.json, for a resumed run.
        if seed == first_seed:
            path = out / "models" / f"{slug(label)}_seed{seed}.npz"
            extra = {"input_shape": input_shape}
            save_checkpoint(path, model, epoch=settings.epochs, metrics=history.last, extra=extra)
        if label == FULL_PRECISION:
            return None
        check = bits_check(model, data.x_test)
        del check["top1_bits"]
        return {"bits": json.loads(json.dumps(check, default=_json_default))}

    result = run_sweep(
        configs,
        data=data,
        seeds=settings.seeds,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        lr=settings.lr,
        out_dir=out,
        progress=progress,
        on_run=check_and_save,
        resume=resume,
        on_start=lambda: folder.start(record, None if resume else _make_subfolders),
    )
    report.result = result
    report.bits = [
        {"label": label, "seed": seed, **result.extras[label, seed]["bits"]}
        for label, seed in ((row["label"], row["seed"]) for row in result.rows)
        if label != FULL_PRECISION
    ]

    grid = result.mn_grid()
    curve_labels = [FULL_PRECISION] + [
        f"M={m}, N={n}" for m, n in settings.curves if f"M={m}, N={n}" in configs
    ]

    def write_results(directory: Path) -> None:
        result.to_csv(directory / "table.csv")
        bits_text = json.dumps(report.bits, indent=1, default=_json_default) + "\n"
        write_text_atomic(directory / "bits_check.json", bits_text)
        plot_heatmap(result, directory / "heatmap.png")
        plot_curves(result, directory / "training_curves.png", labels=curve_labels)
        report.seconds = time.perf_counter() - tic
        write_text_atomic(directory / "table.md", _report_markdown(report, settings, grid))

    folder.commit(write_results)
    report.files = [
        out / name
        for name in (
            "table.md",
            "table.csv",
            "heatmap.png",
            "training_curves.png",
            "sweep.json",
            "bits_check.json",
        )
    ]
    for line in _console_lines(report, settings, grid, out):
        log(line)
    return report


def _make_subfolders(directory: Path) -> None:
    (directory / "models").mkdir()
    (directory / "logs").mkdir()


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def marginals(grid) -> tuple[list, list]:
    """Mean accuracy of each M over the N columns, and of each N over the M rows."""
    by_m = [float(np.nanmean(grid.mean[i])) for i in range(len(grid.Ms))]
    by_n = [float(np.nanmean(grid.mean[:, j])) for j in range(len(grid.Ns))]
    return by_m, by_n


def _bits_summary(report: ReproduceReport) -> str:
    n = len(report.bits)
    same = sum(b["identical"] for b in report.bits)
    images = report.bits[0]["images"] if report.bits else 0
    worst = max((b["max_logit_diff"] for b in report.bits), default=0.0)
    flipped = sum(b["images_flipped"] for b in report.bits)
    if report.bits_ok:
        return (
            f"bit-packed inference: identical predictions for all {n} trained ABC models "
            f"({images} test images each; max |logit difference| {worst:.1e}, "
            f"{flipped} of {n * images} image evaluations with an activation at a threshold "
            "binarised the other way within float rounding) - PASS"
        )
    bad = [
        f"{b['label']} seed {b['seed']} ({b['differ']})" for b in report.bits if not b["identical"]
    ]
    return (
        f"bit-packed inference: {same} of {n} ABC models identical; predictions differ for "
        f"{', '.join(bad)} - FAIL"
    )


def _trend_lines(grid) -> list[str]:
    by_m, by_n = marginals(grid)
    lines = [
        "mean over N, by M: "
        + ", ".join(f"M={m}: {100 * v:.2f}" for m, v in zip(grid.Ms, by_m, strict=True)),
        "mean over M, by N: "
        + ", ".join(f"N={n}: {100 * v:.2f}" for n, v in zip(grid.Ns, by_n, strict=True)),
    ]
    if grid.full_precision is not None:
        gap = 100 * (np.nanmax(grid.mean) - grid.full_precision[0])
        i, j = np.unravel_index(np.nanargmax(grid.mean), grid.mean.shape)
        side = "above" if gap > 0 else "below"
        lines.append(
            f"best ABC config: M={grid.Ms[i]}, N={grid.Ns[j]}, {abs(gap):.2f} points {side} "
            "full precision (mean over seeds)"
        )
    return lines


def _console_lines(report, settings, grid, out) -> list[str]:
    return [
        "",
        f"Final-epoch test top-1 (%) on the embedded digits, mean ± std over "
        f"{len(settings.seeds)} seed(s); rows M (weight bases), columns N (binary activations):",
        "",
        grid.to_markdown(),
        "",
        *_trend_lines(grid),
        _bits_summary(report),
        f"wrote {out}/table.md, table.csv, heatmap.png, training_curves.png, sweep.json, "
        f"bits_check.json, logs/, models/",
        f"wall time {report.seconds:.0f} s",
    ]


def _report_markdown(report, settings, grid) -> str:
    s = settings
    command = "abcref reproduce" + (" --quick" if s == QUICK else "")
    return (
        "# ABC-Net M x N trend on the embedded digits\n\n"
        f"Command: `{command}` (wall time {report.seconds:.0f} s).\n\n"
        f"Final-epoch test top-1 (%) on the 360 test digits, mean ± sample std (ddof=1) over "
        f"seeds {list(s.seeds)}. Model: `small_cnn` widths {list(s.widths)} (first conv and "
        f"classifier full precision); {s.epochs} epochs, Adam lr {s.lr:g} with cosine decay, "
        f"batch {s.batch_size}; the full-precision model is the same graph with ReLU + float "
        f"convs.\n\n"
        f"{grid.to_markdown()}\n\n"
        + "\n".join(f"- {line}" for line in _trend_lines(grid))
        + f"\n- {_bits_summary(report)}\n\n"
        f"## Every config\n\n{report.result.to_markdown()}\n\n"
        f"Settings: `{json.dumps(asdict(s))}`\n"
    )
