"""One training run: its optimizer and schedule, and the run folder ``abcref train`` writes.

A budget names its optimizer and schedule (:func:`make_training`); every
run of a sweep and every ``abcref train`` builds them the same way. A run
folder holds three files that always describe the same run:

==================  ==========================================================
``model.npz``       the checkpoint, rewritten after every epoch (model,
                    optimizer, RNG state, history; ``abcref.train.checkpoint``)
``log.jsonl``       one JSON record per epoch
``config.json``     ``{"command", "settings", "init_from", "model_config",
                    "data"}``: the settings that produced the run
==================  ==========================================================

:func:`train_in_folder` trains into such a folder (or resumes it),
:func:`run_settings` reads the settings back for ``--resume``, and
:func:`trained_on` tells ``abcref eval`` which data a checkpoint was
trained on.
"""

from __future__ import annotations

import json
from pathlib import Path

from abcref._checks import check_choice
from abcref._io import write_text_atomic

__all__ = [
    "CHECKPOINT_NAME",
    "CONFIG_NAME",
    "LOG_NAME",
    "OPTIMIZER_NAMES",
    "SCHEDULE_NAMES",
    "auto_drop_last",
    "make_training",
    "run_settings",
    "train_in_folder",
    "trained_on",
]

OPTIMIZER_NAMES = ("adam", "sgd")
SCHEDULE_NAMES = ("cosine", "constant")

CHECKPOINT_NAME = "model.npz"
LOG_NAME = "log.jsonl"
CONFIG_NAME = "config.json"


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
        ``Cosine(epochs)`` (per step, from ``lr`` down to 0 at the last
        step) or ``Constant()``: factors of the optimizer's rate ``lr``.
    epochs : int

    Returns
    -------
    (Optimizer, Schedule)
    """
    from abcref.train import Constant, Cosine, make_optimizer

    check_choice(optimizer, "optimizer", set(OPTIMIZER_NAMES))
    check_choice(schedule, "schedule", set(SCHEDULE_NAMES))
    opt = make_optimizer(optimizer, model, lr=lr, weight_decay=weight_decay)
    sched = Cosine(epochs) if schedule == "cosine" else Constant()
    return opt, sched


def auto_drop_last(n_train: int, batch_size: int) -> bool:
    """True iff an epoch's last minibatch would hold exactly one image.

    Batch norm in training mode cannot normalise a batch of one image whose
    feature maps are 1x1 (and normalises a single image poorly anyway), so
    such a batch is skipped; every image is still seen, because the
    minibatch order changes every epoch.
    """
    return n_train % batch_size == 1


def train_in_folder(
    model,
    data,
    settings: dict,
    out,
    *,
    resume: bool = False,
    init_from=None,
    progress: bool = True,
):
    """Train ``model`` into the run folder ``out``, or resume the run there.

    Parameters
    ----------
    model : Module
        Freshly built (and possibly initialised from a full-precision
        model); on ``resume`` the checkpoint's state replaces it.
    data : Dataset
    settings : dict
        The run's resolved settings, saved in ``config.json``; this uses
        ``optimizer``, ``lr``, ``weight_decay``, ``schedule``, ``epochs``,
        ``batch_size`` and ``seed``.
    out : str or Path
        The run folder (created if missing).
    resume : bool
        Continue from ``out/model.npz``. ``config.json`` is rewritten only
        once ``fit`` has accepted the settings, so a refused resume leaves
        the folder as it was.
    init_from : str or Path, optional
        Recorded in ``config.json`` (the model is initialised by the caller).
    progress : bool
        tqdm bars per epoch.

    Returns
    -------
    History
    """
    from abcref.train import fit

    out = Path(out)
    optimizer, schedule = make_training(
        model,
        optimizer=settings["optimizer"],
        lr=settings["lr"],
        weight_decay=settings["weight_decay"],
        schedule=settings["schedule"],
        epochs=settings["epochs"],
    )
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "command": "train",
        "settings": settings,
        "init_from": None if init_from is None else str(init_from),
        "model_config": model.config,
        "data": repr(data),
    }
    config_text = json.dumps(record, indent=1) + "\n"
    if not resume:
        write_text_atomic(out / CONFIG_NAME, config_text)
    history = fit(
        model,
        data,
        epochs=settings["epochs"],
        optimizer=optimizer,
        schedule=schedule,
        batch_size=settings["batch_size"],
        seed=settings["seed"],
        drop_last=auto_drop_last(len(data.y_train), settings["batch_size"]),
        log_path=out / LOG_NAME,
        checkpoint_path=out / CHECKPOINT_NAME,
        resume_from=out / CHECKPOINT_NAME if resume else None,
        progress=progress,
    )
    if resume:
        write_text_atomic(out / CONFIG_NAME, config_text)
    return history


def run_settings(out) -> dict:
    """The settings saved in a run folder, for resuming it.

    Returns ``{}`` if the folder has a checkpoint but no ``config.json``.

    Raises
    ------
    FileNotFoundError
        If ``out`` holds no checkpoint to resume from.
    ValueError
        If ``config.json`` exists but is not readable.
    """
    out = Path(out)
    if not (out / CHECKPOINT_NAME).is_file():
        raise FileNotFoundError(f"no checkpoint {out / CHECKPOINT_NAME} to resume from")
    config_path = out / CONFIG_NAME
    if not config_path.is_file():
        return {}
    try:
        return json.loads(config_path.read_text())["settings"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{config_path} is not readable: {exc}") from exc


def trained_on(checkpoint, default: str = "digits") -> str:
    """The data of the train run that wrote ``checkpoint`` (its ``config.json``).

    No ``config.json`` beside the checkpoint means ``default`` (the
    embedded digits, ``abcref train``'s default); one that exists but
    cannot be read is an error, never a silent fallback to the wrong data.

    Raises
    ------
    ValueError
        If ``config.json`` exists but holds no readable ``settings.data``.
    """
    config_path = Path(checkpoint).parent / CONFIG_NAME
    if not config_path.exists():
        return default
    try:
        data = json.loads(config_path.read_text())["settings"]["data"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"cannot read the training data setting from {str(config_path)!r} "
            f"({type(exc).__name__}: {exc}); pass --data explicitly"
        ) from exc
    if not isinstance(data, str):
        raise ValueError(
            f"{str(config_path)!r} has settings.data = {data!r}, expected a string; "
            "pass --data explicitly"
        )
    return data
