"""The training loop: :func:`fit`, :func:`evaluate` and one :func:`train_step`.

Determinism
-----------
Everything random in training is the minibatch order: at the start of each
epoch, ``perm = rng.permutation(n_train)`` with a single
``rng = np.random.default_rng(seed)`` drawn once per epoch. Models are
initialised from their config (``build_model``), layers have no dropout,
and schedules are pure functions of progress, so after epoch ``e`` the
whole future of a run is fixed by (model state, optimizer state, RNG
state). A checkpoint written after epoch ``e`` stores exactly those three
(the RNG's ``bit_generator.state`` as JSON), and ``fit(...,
resume_from=path)`` restores them, so the resumed run repeats the
uninterrupted run's arithmetic operation for operation: parameters are
bitwise equal (same machine, same NumPy/BLAS build and thread count).
Epoch ``e``'s permutation can be re-derived from the checkpoint of epoch
``e - 1`` by ``load_checkpoint(path).rng().permutation(n_train)``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from abcref import ops
from abcref._checks import NonFiniteError, check_array, check_int
from abcref._io import write_text_atomic
from abcref.nn.module import Module
from abcref.nn.quantconv import apply_after_update
from abcref.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    restore,
    save_checkpoint,
)
from abcref.train.optim import Adam, Optimizer
from abcref.train.schedules import Constant, Cosine, Schedule, upgrade_schedule_config


@dataclass
class History:
    """Per-epoch metric records of a :func:`fit` run.

    Each record is a dict with ``epoch`` (completed epochs, 1-based),
    ``lr`` (the rate of the epoch's last step, ``optimizer.current_lr``),
    ``train_loss``, ``train_top1``
    (running averages over the epoch's minibatches in training mode),
    ``test_loss``, ``test_top1`` (and ``*_top5`` when there are more than
    5 classes) from :func:`evaluate` in eval mode, and ``seconds``.
    Accuracies are fractions in [0, 1].
    """

    records: list[dict] = field(default_factory=list)

    @property
    def last(self) -> dict:
        """The final epoch's record."""
        if not self.records:
            raise ValueError("history is empty: no epoch has completed")
        return self.records[-1]

    def column(self, key: str) -> list:
        """One metric over epochs, e.g. ``history.column("test_top1")``."""
        return [r[key] for r in self.records]


def topk_correct(logits: np.ndarray, labels: np.ndarray, k: int) -> int:
    """Number of rows whose label is among the ``k`` largest logits.

    Ties at the k-th place are broken by ``np.argpartition`` (order of
    appearance is not guaranteed); with float logits ties are rare.
    """
    if k == 1:
        return int(np.count_nonzero(np.argmax(logits, axis=1) == labels))
    top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    return int(np.count_nonzero((top == labels[:, None]).any(axis=1)))


def train_step(
    model: Module, optimizer: Optimizer, x: np.ndarray, y: np.ndarray
) -> tuple[float, np.ndarray]:
    """One optimisation step on a minibatch.

    zero_grad -> forward -> softmax cross-entropy (mean over the batch)
    -> backward -> ``optimizer.step()`` -> ``module.after_update()`` for
    every module that defines it (e.g. BNN clips its latent weights to
    [-1, 1]; a hook lets a layer constrain its parameters without the
    trainer knowing about it).

    Returns
    -------
    loss : float
    logits : ndarray, shape (N, num_classes)
    """
    model.zero_grad()
    logits = model.forward(x)
    loss, cache = ops.softmax_cross_entropy_forward(logits, y)
    dlogits = ops.softmax_cross_entropy_backward(1.0, cache)
    model.backward(dlogits)
    optimizer.step()
    apply_after_update(model)
    return float(loss), logits


def evaluate(
    model: Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int = 500,
) -> dict:
    """Loss and accuracy of ``model`` in eval mode.

    The model's train/eval mode is restored afterwards.

    Parameters
    ----------
    model : Module
        Maps (N, C, H, W) to logits (N, num_classes).
    x : ndarray, shape (N, C, H, W)
    y : ndarray of int, shape (N,)
    batch_size : int
        Evaluation batch size (results do not depend on it up to float
        rounding of the summed loss).

    Returns
    -------
    dict
        ``{"loss", "top1"}`` plus ``"top5"`` when the model has more than
        5 classes; accuracies are fractions in [0, 1].
    """
    x, y = _check_xy(x, y, "x", "y")
    if len(y) == 0:  # would report loss 0 and accuracy 0 for no data at all
        raise ValueError(f"x must hold at least one example to evaluate, got shape {x.shape}")
    batch_size = check_int(batch_size, "batch_size", min_value=1)
    was_training = model.training
    model.eval()
    try:
        total_loss, correct1, correct5, classes = 0.0, 0, 0, 0
        for start in range(0, len(y), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            logits = model.forward(xb)
            loss, _ = ops.softmax_cross_entropy_forward(logits, yb)
            classes = logits.shape[1]
            total_loss += float(loss) * len(yb)
            correct1 += topk_correct(logits, yb, 1)
            if classes > 5:
                correct5 += topk_correct(logits, yb, 5)
    finally:
        model.train(was_training)
    n = len(y)
    result = {"loss": total_loss / n, "top1": correct1 / n}
    if classes > 5:
        result["top5"] = correct5 / n
    return result


def fit(
    model: Module,
    data,
    *,
    epochs: int,
    optimizer: Optimizer | None = None,
    schedule: Schedule | str | None = "cosine",
    batch_size: int = 64,
    seed: int = 0,
    drop_last: bool = False,
    log_path=None,
    checkpoint_path=None,
    resume_from=None,
    progress: bool = True,
    eval_batch_size: int = 500,
    commit: Callable[[dict], None] | None = None,
) -> History:
    """Train ``model`` on ``data`` for ``epochs`` epochs.

    Parameters
    ----------
    model : Module
        Maps (N, C, H, W) to logits; usually from
        :func:`abcref.nn.build_model`.
    data : Dataset or object or dict
        Anything with ``x_train, y_train, x_test, y_test`` (attributes or
        keys), e.g. :func:`abcref.data.load_digits`. The test split may be
        empty (then no test metrics are recorded).
    epochs : int
        Total number of epochs (a resumed run continues up to it).
    optimizer : Optimizer, optional
        Built on ``model``; it owns the learning rate. Default
        ``Adam(model)``, at ``DEFAULT_LRS["adam"]`` (3e-3), as ``abcref train``.
    schedule : Schedule, "cosine", "constant" or None
        Scales the optimizer's rate: before step ``i`` of epoch ``epoch``,
        ``optimizer.lr_scale = schedule(epoch + i / steps_per_epoch)``, so
        the step uses ``optimizer.lr * lr_scale``. ``"cosine"`` (default,
        as ``abcref train``) is ``Cosine(epochs)``: from the full rate
        down to 0 at the last step. ``"constant"`` or None keep the rate.
    batch_size : int
        Minibatch size. The last, smaller batch of an epoch is used unless
        ``drop_last``.
    seed : int
        Seeds ``np.random.default_rng(seed)``, the minibatch shuffler.
    drop_last : bool
        Skip an epoch's last partial batch (useful when it could be of
        size 1, which batch norm in training mode cannot normalise).
    log_path : str or Path, optional
        JSON-lines log, one record per epoch (see :class:`History`).
        Written (empty) at the start of a fresh run and rewritten after
        every epoch; on resume, rewritten with the checkpoint's records.
    checkpoint_path : str or Path, optional
        Written atomically at the start of a fresh run (epoch 0: the
        untrained model, so that even the first epoch can be resumed) and
        after every epoch (model, optimizer, RNG state, history, settings,
        and the training images' shape as ``extra["input_shape"]``).
    resume_from : str or Path, optional
        A checkpoint written by ``fit`` with the same settings; training
        continues after its epoch and gives exactly (bitwise) the result
        of the uninterrupted run.
    progress : bool
        Show tqdm progress bars on stderr: one over the epochs (with an
        ETA and the last epoch's metrics) and one over the current epoch's
        steps.
    eval_batch_size : int
        Batch size of the per-epoch evaluation.
    commit : callable, optional
        How the checkpoint and the log are written: ``commit(files)`` with
        ``files`` a dict ``{path: write}`` (``checkpoint_path`` first, then
        ``log_path``, those given), where ``write(p)`` writes that file's
        complete new contents at the path ``p`` it is given. Called at the
        start (epoch 0 of a fresh run; the log alone on resume) and after
        every epoch. Default: ``write(path)`` for each in turn, each file
        atomically on its own. A caller that needs the two to change
        together passes a commit that writes them into a new version of
        their directory and swaps it in (``abcref train``'s run folder
        does).

    Returns
    -------
    History

    Raises
    ------
    FloatingPointError
        If training diverges (a NaN or infinite loss or activation).
    CheckpointError
        If ``resume_from`` was written with a different model, optimizer
        (type or hyper-parameters, the rate included), schedule, seed,
        batch size, ``drop_last`` or training-set size.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be an abcref.nn.Module, got {type(model).__name__}")
    x_train, y_train, x_test, y_test = _unpack(data)
    epochs = check_int(epochs, "epochs", min_value=1)
    batch_size = check_int(batch_size, "batch_size", min_value=1)
    seed = check_int(seed, "seed", min_value=0)
    if not isinstance(drop_last, bool):
        raise TypeError(f"drop_last must be a bool, got {drop_last!r}")
    n_train = len(y_train)
    if n_train == 0 or (drop_last and n_train < batch_size):
        raise ValueError(
            f"the training set ({n_train} images) yields no batch of batch_size={batch_size}"
        )
    if optimizer is None:
        optimizer = Adam(model)
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be an abcref Optimizer, got {type(optimizer).__name__}")
    if optimizer.model is not model:
        raise ValueError("optimizer was built for a different model")
    schedule = _schedule(schedule, epochs)

    settings = {
        "seed": seed,
        "batch_size": batch_size,
        "drop_last": drop_last,
        "n_train": n_train,
        "optimizer": {"type": type(optimizer).__name__, **optimizer.hyper()},
        "schedule": schedule.to_config(),
    }
    if commit is not None and not callable(commit):
        raise TypeError(f"commit must be callable, got {type(commit).__name__}")
    history = History()
    rng = np.random.default_rng(seed)
    start_epoch = 0
    if resume_from is not None:
        start_epoch, rng, history = _resume(resume_from, model, optimizer, settings)
    state = _RunFiles(
        checkpoint_path, log_path, model, optimizer, rng, history, settings, x_train.shape[1:]
    )
    write = _write_each if commit is None else commit
    if resume_from is None:
        state.write(write, epoch=0)  # the untrained model: even epoch 1 can be resumed
    else:
        state.write(write, epoch=start_epoch, log_only=True)

    steps_per_epoch = n_train // batch_size if drop_last else -(-n_train // batch_size)
    epoch_bar = tqdm(
        total=epochs,
        initial=start_epoch,
        desc="epochs",
        unit="epoch",
        disable=not progress,
        leave=False,
        file=sys.stderr,
    )
    for epoch in range(start_epoch, epochs):
        tic = time.perf_counter()
        model.train()
        perm = rng.permutation(n_train)
        loss_sum, correct1, correct5, seen, classes = 0.0, 0, 0, 0, 0
        bar = tqdm(
            range(steps_per_epoch),
            desc=f"epoch {epoch + 1}/{epochs}",
            disable=not progress,
            leave=False,
            file=sys.stderr,
        )
        for i in bar:
            idx = perm[i * batch_size : (i + 1) * batch_size]
            optimizer.lr_scale = schedule(epoch + i / steps_per_epoch)
            xb, yb = x_train[idx], y_train[idx]
            try:
                loss, logits = train_step(model, optimizer, xb, yb)
            except NonFiniteError as exc:
                # The data were checked finite, so an op rejecting a
                # non-finite input means the numbers blew up in the model.
                _raise_diverged(f"non-finite values ({exc})", epoch, i, optimizer, exc)
            if not np.isfinite(loss):
                _raise_diverged(f"loss is {loss}", epoch, i, optimizer, None)
            classes = logits.shape[1]
            loss_sum += loss * len(idx)
            correct1 += topk_correct(logits, yb, 1)
            if classes > 5:
                correct5 += topk_correct(logits, yb, 5)
            seen += len(idx)
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}")
        bar.close()
        record = {
            "epoch": epoch + 1,
            "lr": optimizer.current_lr,
            "train_loss": loss_sum / seen,
            "train_top1": correct1 / seen,
        }
        if classes > 5:
            record["train_top5"] = correct5 / seen
        if len(y_test):
            test = evaluate(model, x_test, y_test, batch_size=eval_batch_size)
            record.update({f"test_{k}": v for k, v in test.items()})
        record["seconds"] = time.perf_counter() - tic
        history.records.append(record)
        state.write(write, epoch=epoch + 1)
        epoch_bar.set_postfix_str(_format_record(record))
        epoch_bar.update()
    epoch_bar.close()
    return history


def _raise_diverged(what, epoch, step, optimizer, cause) -> None:
    raise FloatingPointError(
        f"training diverged: {what} at epoch {epoch + 1}, step {step + 1} "
        f"(lr {optimizer.current_lr:.3g}); lower the learning rate"
    ) from cause


def _resume(path, model, optimizer, settings):
    checkpoint = load_checkpoint(path)
    saved = checkpoint.metadata.get("extra", {}).get("fit")
    if saved is None:
        raise CheckpointError(f"checkpoint {str(path)!r} was not written by fit(); cannot resume")
    records = checkpoint.metadata["extra"].get("history", [])
    if not isinstance(saved, dict) or not (
        isinstance(records, list) and all(isinstance(r, dict) for r in records)
    ):
        raise CheckpointError(
            f"checkpoint {str(path)!r} has a malformed extra['fit'] or extra['history'] "
            "(expected a dict and a list of dicts); cannot resume"
        )
    saved = _upgrade_settings(saved, checkpoint)
    different = {k: (saved.get(k), v) for k, v in settings.items() if saved.get(k) != v}
    if different:
        listing = ", ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in different.items())
        raise CheckpointError(
            f"cannot resume exactly from {str(path)!r}: settings differ ({listing})"
        )
    rng = restore(checkpoint, model, optimizer)
    if rng is None:
        raise CheckpointError(f"checkpoint {str(path)!r} holds no RNG state; cannot resume")
    history = History([dict(r) for r in records])
    return checkpoint.epoch, rng, history


def _schedule(schedule, epochs: int) -> Schedule:
    if isinstance(schedule, Schedule):
        return schedule
    if schedule == "cosine":
        return Cosine(epochs)
    if schedule is None or schedule == "constant":
        return Constant()
    raise TypeError(
        f"schedule must be an abcref Schedule, 'cosine', 'constant' or None, got {schedule!r:.60}"
    )


def _upgrade_settings(saved: dict, checkpoint) -> dict:
    """Settings saved before the optimizer owned the rate, in today's terms.

    Such a checkpoint saved the optimizer's settings without ``lr``, its
    schedule as rates (``{"name": "cosine", "lr": 0.003, ...}``) or None,
    and the optimizer's *scheduled* rate as its ``lr``. The base rate is
    the old schedule's ``lr`` (or, with no schedule, the optimizer's
    unchanging rate); the restored optimizer gets it. Newer settings are
    returned as they are.
    """
    optimizer = saved.get("optimizer")
    if not isinstance(optimizer, dict) or "lr" in optimizer or checkpoint.optimizer_state is None:
        return saved
    hyper = checkpoint.optimizer_state["hyper"]
    try:
        schedule, lr = upgrade_schedule_config(saved.get("schedule"))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint {checkpoint.path!r} has an unreadable fit schedule: {exc}"
        ) from exc
    if schedule is None:
        schedule, lr = Constant().to_config(), hyper["lr"]
    hyper["lr"] = lr
    optimizer = {"decoupled_weight_decay": False, **optimizer, "lr": lr}
    return {**saved, "optimizer": optimizer, "schedule": schedule}


@dataclass
class _RunFiles:
    """What ``fit`` writes: the checkpoint and the log of the run so far."""

    checkpoint_path: object
    log_path: object
    model: Module
    optimizer: Optimizer
    rng: np.random.Generator
    history: History
    settings: dict
    input_shape: tuple

    def write(self, commit, *, epoch: int, log_only: bool = False) -> None:
        """Hand the files' writers to ``commit`` (nothing if no path was given)."""
        files = {}
        if self.checkpoint_path is not None and not log_only:
            files[Path(self.checkpoint_path)] = lambda path: self._save_checkpoint(path, epoch)
        if self.log_path is not None:
            files[Path(self.log_path)] = self._save_log
        if files:
            commit(files)

    def _save_checkpoint(self, path, epoch: int) -> None:
        records = self.history.records
        save_checkpoint(
            path,
            self.model,
            optimizer=self.optimizer,
            epoch=epoch,
            rng=self.rng,
            metrics=records[-1] if records else {},
            extra={
                "fit": self.settings,
                "history": records,
                "input_shape": [int(n) for n in self.input_shape],
            },
        )

    def _save_log(self, path) -> None:
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.history.records)
        write_text_atomic(path, text)


def _write_each(files: dict) -> None:
    """``fit``'s default commit: each file atomically on its own, in order."""
    for path, write in files.items():
        write(path)


def _format_record(record: dict) -> str:
    """The progress bar's summary of an epoch: ``loss 0.1234, test top-1 98.06%``."""
    parts = [f"loss {record['train_loss']:.4f}"]
    if "test_top1" in record:
        parts.append(f"test top-1 {100 * record['test_top1']:.2f}%")
    return ", ".join(parts)


def _unpack(data):
    names = ("x_train", "y_train", "x_test", "y_test")
    if isinstance(data, dict):
        missing = [n for n in names if n not in data]
        if missing:
            raise ValueError(f"data is missing keys {missing}; expected {list(names)}")
        values = [data[n] for n in names]
    else:
        missing = [n for n in names if not hasattr(data, n)]
        if missing:
            raise TypeError(
                f"data must have attributes {list(names)} (e.g. an abcref.data.Dataset), "
                f"got {type(data).__name__} lacking {missing}"
            )
        values = [getattr(data, n) for n in names]
    x_train, y_train = _check_xy(values[0], values[1], "x_train", "y_train", finite=True)
    x_test, y_test = _check_xy(values[2], values[3], "x_test", "y_test", finite=True)
    return x_train, y_train, x_test, y_test


def _check_xy(x, y, x_name, y_name, *, finite=False):
    check_array(x, x_name, ndim=4, finite=finite)
    if not isinstance(y, np.ndarray) or y.dtype.kind not in "iu" or y.ndim != 1:
        raise TypeError(f"{y_name} must be a 1-D integer array, got {y!r:.60}")
    if len(y) != len(x):
        raise ValueError(f"{y_name} has {len(y)} labels but {x_name} has {len(x)} images")
    return x, y
