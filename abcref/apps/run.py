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

They change together (:mod:`abcref.apps.folders`): the folder is always
either as it was before the run or a consistent partial run.
:func:`train_in_folder` trains into such a folder (or resumes it),
:func:`run_settings` reads the settings back for ``--resume``, and
:func:`trained_on` tells ``abcref eval`` which data a checkpoint was
trained on.
"""

from __future__ import annotations

import json
from pathlib import Path

from abcref._checks import check_choice
from abcref.apps.folders import CONFIG_NAME, RunFolder, read_record

__all__ = [
    "CHECKPOINT_NAME",
    "CONFIG_NAME",
    "LOG_NAME",
    "OPTIMIZER_NAMES",
    "SCHEDULE_NAMES",
    "auto_drop_last",
    "check_input_shape",
    "full_precision_source",
    "load_trained",
    "make_training",
    "run_settings",
    "train_in_folder",
    "trained_on",
]

OPTIMIZER_NAMES = ("adam", "sgd")
SCHEDULE_NAMES = ("cosine", "constant")

CHECKPOINT_NAME = "model.npz"
LOG_NAME = "log.jsonl"


def make_training(model, *, optimizer: str, lr: float, weight_decay: float, schedule: str, epochs):
    """The optimizer and learning-rate schedule of one run.

    Parameters
    ----------
    model : Module
    optimizer : {"adam", "sgd"}
        ``Adam(model, lr=lr)`` or ``SGD(model, lr=lr, momentum=0.9)``.
        ``weight_decay`` acts on conv/linear weights: decoupled under Adam
        (AdamW), which is correct for ABC latent weights under every
        reading of eq. (7); coupled L2 under SGD, which refuses to decay
        ABC latent weights under ``weight_ste="paper"`` (the reason is in
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
    # Only with a decay: the flag is part of the optimizer's saved settings,
    # and runs without decay resume as they always did.
    decoupled = optimizer == "adam" and weight_decay > 0
    opt = make_optimizer(
        optimizer, model, lr=lr, weight_decay=weight_decay, decoupled_weight_decay=decoupled
    )
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
    folder: RunFolder,
    *,
    init_from=None,
    progress: bool = True,
):
    """Train ``model`` into the run folder ``folder``, or resume the run there.

    The folder's three files change together, never one without the
    others: the first write puts ``config.json``, the untrained model's
    checkpoint (epoch 0) and an empty log in place at once, and after every
    epoch the checkpoint and the log are replaced together
    (:meth:`RunFolder.commit`, through ``fit``'s ``commit``). An interrupted
    run is therefore always a consistent partial run that
    ``folder.resume`` continues.

    Parameters
    ----------
    model : Module
        Freshly built (and possibly initialised from a full-precision
        model); on resume the checkpoint's state replaces it.
    data : Dataset
    settings : dict
        The run's resolved settings, saved in ``config.json``; this uses
        ``optimizer``, ``lr``, ``weight_decay``, ``schedule``, ``epochs``,
        ``batch_size`` and ``seed``.
    folder : RunFolder
        From :func:`abcref.apps.folders.open_run_folder` with command
        ``"train"``. On resume its ``config.json`` is left as saved (``fit``
        refuses settings that would change the run).
    init_from : str or Path, optional
        Recorded in ``config.json`` (the model is initialised by the caller).
    progress : bool
        tqdm bars over epochs and steps, on stderr.

    Returns
    -------
    History
    """
    from abcref.train import fit

    if folder.command != "train":
        raise ValueError(f"folder must be opened for 'train', got {folder.command!r}")
    optimizer, schedule = make_training(
        model,
        optimizer=settings["optimizer"],
        lr=settings["lr"],
        weight_decay=settings["weight_decay"],
        schedule=settings["schedule"],
        epochs=settings["epochs"],
    )
    record = {
        "settings": settings,
        "init_from": None if init_from is None else str(init_from),
        "model_config": model.config,
        "data": repr(data),
    }

    def commit(files: dict) -> None:
        def populate(directory: Path) -> None:
            for target, write in files.items():
                write(directory / Path(target).name)

        if not folder.started:
            folder.start(record, populate)
        else:
            folder.commit(populate)

    out = folder.path
    return fit(
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
        resume_from=out / CHECKPOINT_NAME if folder.resume else None,
        progress=progress,
        commit=commit,
    )


def run_settings(out) -> dict:
    """The settings saved in the train run folder ``out``, for resuming it.

    Raises
    ------
    FileNotFoundError
        If ``out`` holds no checkpoint to resume from.
    ValueError
        If ``config.json`` is missing or holds no readable settings.
    """
    out = Path(out)
    if not (out / CHECKPOINT_NAME).is_file():
        raise FileNotFoundError(f"no checkpoint {str(out / CHECKPOINT_NAME)!r} to resume from")
    record = read_record(out)
    settings = None if record is None else record.get("settings")
    if not isinstance(settings, dict):
        raise ValueError(f"{str(out / CONFIG_NAME)!r} holds no readable run settings")
    return settings


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
            f"cannot read the training data setting from {str(config_path)!r}; pass --data "
            f"explicitly ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(data, str):
        raise ValueError(
            f"{str(config_path)!r} has settings.data = {data!r:.40}, expected a string; "
            "pass --data explicitly"
        )
    return data


def load_trained(path):
    """The model of a checkpoint (eval mode) and the checkpoint itself.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        If ``path`` does not exist or is a directory.
    CheckpointError
        If the file is not a readable checkpoint, holds no model config, or
        its arrays do not fit the model its config builds.
    """
    from abcref.nn import build_model
    from abcref.train import CheckpointError, load_checkpoint, restore

    checkpoint = load_checkpoint(_existing_file(path, "checkpoint"))
    if checkpoint.model_config is None:
        raise CheckpointError(f"checkpoint {str(path)!r} holds no model config")
    model = build_model(checkpoint.model_config)
    restore(checkpoint, model)
    return model.eval(), checkpoint


def full_precision_source(path):
    """The checkpoint at ``path``, if it holds a full-precision model (a §3.3 fine-tuning source).

    The model's config is required (``abcref train --init-from`` builds the
    new model from it); the rest is :func:`abcref.train.check_full_precision_source`.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        If ``path`` does not exist or is a directory.
    CheckpointError
        If the file is not a readable checkpoint.
    ValueError
        If it holds no model config, or a model that is not full precision
        (e.g. an ABC model).
    """
    from abcref.train import check_full_precision_source, load_checkpoint

    checkpoint = load_checkpoint(_existing_file(path, "checkpoint"))
    if checkpoint.model_config is None:
        raise ValueError(f"{str(path)!r} holds no model config: not a full-precision model")
    return check_full_precision_source(checkpoint)


def check_input_shape(checkpoint, data) -> None:
    """Refuse ``data`` whose images differ in shape from those ``checkpoint`` was trained on.

    ``fit`` records the training images' shape in the checkpoint
    (``extra["input_shape"]``); older checkpoints only fix the channels
    (``model_config["in_channels"]``). A global-average-pooling network
    accepts any image size, so without this check an 8x8 digits model would
    be evaluated on 28x28 images without complaint.

    Raises
    ------
    ValueError
        Naming the checkpoint, both shapes and the data.
    """
    expected = checkpoint.metadata.get("extra", {}).get("input_shape")
    shape = tuple(data.image_shape)
    name = getattr(data, "name", "the data")
    if isinstance(expected, list) and tuple(expected) != shape:
        raise ValueError(
            f"{checkpoint.path!r} was trained on {_shape(expected)} images, {name} has "
            f"{_shape(shape)} images"
        )
    channels = (checkpoint.model_config or {}).get("in_channels")
    if channels is not None and channels != shape[0]:
        raise ValueError(
            f"{checkpoint.path!r} expects {channels}-channel images, {name} has {shape[0]}"
        )


def _shape(shape) -> str:
    return "x".join(map(str, shape))


def _existing_file(path, what: str) -> Path:
    """``path``, if it is a file: a missing path and a directory are told apart."""
    path = Path(path)
    if path.is_dir():
        hint = ""
        if (path / CHECKPOINT_NAME).is_file():
            hint = f" (did you mean {str(path / CHECKPOINT_NAME)!r}?)"
        raise IsADirectoryError(f"{what} {str(path)!r} is a directory, not a file{hint}")
    if not path.exists():
        raise FileNotFoundError(f"{what} file {str(path)!r} does not exist")
    return path
