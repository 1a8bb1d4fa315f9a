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
The digits are easy (one test image is 0.28 %): a long budget or a wide
network lets most configurations reach full precision, which hides the
differences the paper reports. ``DEFAULT`` uses a narrower network than
``small_cnn``'s default (32, 64, 64, 64), widths (16, 32, 32, 32), for
3 epochs (Adam, lr 3e-3, cosine decay, batch 64), 3 seeds: binarisation
costs a narrow network more, and a short budget shows who learns faster,
and the whole job (30 runs) takes about two minutes on 2 cores.
``docs/cli.md`` shows the same command at 5 epochs and at narrower widths
(``results/`` holds those runs).

What it writes
--------------
Besides the tables, figures and checkpoints, ``run.json`` (the command
line, its wall time, the machine) and ``results.md``, a Markdown block
ready to embed in a document: the stated setting, the M x N table, full
precision, the bit check and the trend sentences, computed from the
numbers (:mod:`abcref.apps.reproduce_report`). Both Markdown files and both
figures are drawn from the folder's JSON files, so
:func:`render_reproduce_folder` renders the Markdown again, byte for byte,
and :func:`render_reproduce_figures` redraws the PNGs, without training.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from abcref._io import write_text_atomic
from abcref.apps.folders import RunFolderError, open_run_folder
from abcref.apps.reporting import BLOCK_NAME, RUN_NAME, read_run_record, write_run_record
from abcref.apps.reproduce_report import console_lines, reproduce_block, table_markdown
from abcref.apps.results import SweepResult
from abcref.train.optim import DEFAULT_LRS

__all__ = [
    "DEFAULT",
    "FIGURE_FILES",
    "QUICK",
    "REPRODUCE_FILES",
    "ReproduceReport",
    "ReproduceSettings",
    "command_line",
    "draw_reproduce_figures",
    "read_reproduce_folder",
    "render_reproduce_figures",
    "render_reproduce_folder",
    "reproduce",
]

#: The files of a reproduce folder besides ``config.json``, ``logs/`` and ``models/``.
REPRODUCE_FILES = (
    BLOCK_NAME,
    "table.md",
    "table.csv",
    "heatmap.png",
    "training_curves.png",
    "sweep.json",
    "bits_check.json",
    RUN_NAME,
)


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
    lr: float = DEFAULT_LRS["adam"]
    widths: tuple = (16, 32, 32, 32)
    limit: int | None = None
    curves: tuple = ((1, 1), (3, 3), (5, 5))

    @classmethod
    def from_json(cls, saved: dict) -> ReproduceSettings:
        """The settings saved in a reproduce folder's ``config.json`` (lists back to tuples).

        Raises
        ------
        ValueError
            If ``saved`` holds keys that are not settings.
        """
        fields = {
            k: tuple(tuple(v) if isinstance(v, list) else v for v in value)
            if isinstance(value, list)
            else value
            for k, value in saved.items()
        }
        try:
            return cls(**fields)
        except TypeError as exc:
            raise ValueError(f"the saved reproduce settings are not readable: {exc}") from exc


#: What ``abcref reproduce`` runs (about two minutes on 2 cores).
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
    jobs: int = 1,
    scheduler: str | None = None,
) -> ReproduceReport:
    """Train FP + the ABC grid, print the table, check bits, write files.

    Parameters
    ----------
    out_dir : str or Path
        A new or empty directory (see ``resume`` and ``overwrite``; the
        rules of :mod:`abcref.apps.folders`). Receives ``config.json`` (the
        settings), ``results.md`` (the block to embed), ``table.md`` (M x N
        table, per-config summary, bit check, settings, wall time),
        ``table.csv`` (one row per run), ``heatmap.png``,
        ``training_curves.png``, ``sweep.json`` (the runs finished so far,
        rewritten after each), ``bits_check.json``, ``run.json`` (command,
        wall time, machine), ``logs/`` (a JSON-lines log per run) and
        ``models/`` (the seed-0 checkpoint of every config, for ``abcref
        eval``/``summary``). The tables, figures, ``bits_check.json`` and
        ``run.json`` appear together, at the end.
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
    jobs, scheduler
        Where the runs are trained (:func:`abcref.apps.sweep.run_sweep`):
        ``jobs`` worker processes, or a Dask scheduler's address. The
        results do not depend on them.

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
        jobs=jobs,
        scheduler=scheduler,
    )
    report.result = result
    report.bits = [
        {"label": label, "seed": seed, **result.extras[label, seed]["bits"]}
        for label, seed in ((row["label"], row["seed"]) for row in result.rows)
        if label != FULL_PRECISION
    ]

    grid = result.mn_grid()

    def write_results(directory: Path) -> None:
        result.to_csv(directory / "table.csv")
        bits_text = json.dumps(report.bits, indent=1, default=_json_default) + "\n"
        write_text_atomic(directory / "bits_check.json", bits_text)
        draw_reproduce_figures(settings, result, directory)
        report.seconds = time.perf_counter() - tic
        write_run_record(directory, command_line(settings), report.seconds, resumed=resume)
        # The Markdown is rendered from the JSON files as saved, as a reader re-renders it.
        saved = SweepResult.from_json(out / "sweep.json")
        record = read_run_record(directory)
        texts = {
            BLOCK_NAME: reproduce_block(settings, saved, json.loads(bits_text), record),
            "table.md": table_markdown(settings, saved, json.loads(bits_text), record),
        }
        for name, text in texts.items():
            write_text_atomic(directory / name, text)

    folder.commit(write_results)
    report.files = [out / name for name in REPRODUCE_FILES]
    n_test = result.settings["n_test"]
    for line in console_lines(grid, report.bits, settings, out, report.seconds, n_test):
        log(line)
    return report


def _make_subfolders(directory: Path) -> None:
    (directory / "models").mkdir()
    (directory / "logs").mkdir()


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def command_line(settings: ReproduceSettings) -> str:
    """The ``abcref reproduce`` command line that runs ``settings`` (flags for what differs)."""
    base, flags = DEFAULT, []
    if (settings.Ms, settings.Ns, settings.limit) == (QUICK.Ms, QUICK.Ns, QUICK.limit):
        base, flags = QUICK, ["--quick"]
    if settings.widths != base.widths:
        flags.append("--widths " + " ".join(map(str, settings.widths)))
    if settings.seeds != base.seeds:
        flags.append("--seeds " + " ".join(map(str, settings.seeds)))
    if settings.epochs != base.epochs:
        flags.append(f"--epochs {settings.epochs}")
    return " ".join(["abcref reproduce", *flags])


def read_reproduce_folder(directory):
    """``(settings, result, bits, record)`` from the JSON files of a reproduce folder."""
    directory = Path(directory)
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    settings = ReproduceSettings.from_json(config["settings"])
    result = SweepResult.from_json(directory / "sweep.json")
    bits = json.loads((directory / "bits_check.json").read_text(encoding="utf-8"))
    return settings, result, bits, read_run_record(directory)


def render_reproduce_folder(directory) -> dict[str, str]:
    """File name -> text of the Markdown files of a reproduce folder, from its JSON files.

    What ``reproduce`` wrote there, byte for byte, unless the files or the
    formatting code changed since.
    """
    settings, result, bits, record = read_reproduce_folder(directory)
    return {
        BLOCK_NAME: reproduce_block(settings, result, bits, record),
        "table.md": table_markdown(settings, result, bits, record),
    }


#: The figures of a reproduce folder, drawn from ``sweep.json`` and ``config.json``.
FIGURE_FILES = ("heatmap.png", "training_curves.png")


def draw_reproduce_figures(settings: ReproduceSettings, result, directory) -> list[Path]:
    """Write ``heatmap.png`` (every config, mean ± std over seeds) and ``training_curves.png``.

    The curves show full precision and the ABC configs of
    ``settings.curves`` that ``result`` ran, each the mean over the seeds.
    """
    from abcref.apps.plots import plot_curves, plot_heatmap
    from abcref.apps.sweep import FULL_PRECISION

    directory = Path(directory)
    labels = set(result.labels)
    curve_labels = [FULL_PRECISION] + [
        f"M={m}, N={n}" for m, n in settings.curves if f"M={m}, N={n}" in labels
    ]
    return [
        plot_heatmap(result, directory / FIGURE_FILES[0]),
        plot_curves(result, directory / FIGURE_FILES[1], labels=curve_labels),
    ]


def render_reproduce_figures(directory, out_dir=None) -> list[Path]:
    """Draw the PNGs of a reproduce folder again from its JSON files, without training.

    Parameters
    ----------
    directory : str or Path
        A folder written by :func:`reproduce`.
    out_dir : str or Path, optional
        Where to write :data:`FIGURE_FILES` (default ``directory`` itself:
        they replace the folder's figures, e.g. after a change of the
        drawing code).

    Returns
    -------
    list of Path
        The figures written.
    """
    settings, result, _, _ = read_reproduce_folder(directory)
    return draw_reproduce_figures(settings, result, directory if out_dir is None else out_dir)
