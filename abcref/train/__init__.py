"""Training: optimizers, learning-rate schedules, the loop, checkpoints.

See ``docs/training.md``. Entry points: :func:`fit`, :func:`evaluate`,
:func:`save_checkpoint`, :func:`load_checkpoint`, :func:`load_model`,
:func:`restore`, :func:`init_from_full_precision` (and its check
:func:`check_full_precision_source`).
"""

from abcref.train.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    load_model,
    restore,
    save_checkpoint,
)
from abcref.train.finetune import check_full_precision_source, init_from_full_precision
from abcref.train.loop import History, evaluate, fit, topk_correct, train_step
from abcref.train.optim import (
    DEFAULT_LRS,
    SGD,
    Adam,
    Optimizer,
    check_decay_with_weight_ste,
    decay_all,
    decay_weights_only,
    make_optimizer,
)
from abcref.train.schedules import (
    Constant,
    Cosine,
    Schedule,
    StepDecay,
    make_schedule,
    upgrade_schedule_config,
)

__all__ = [
    "DEFAULT_LRS",
    "SGD",
    "Adam",
    "Checkpoint",
    "CheckpointError",
    "Constant",
    "Cosine",
    "History",
    "Optimizer",
    "Schedule",
    "StepDecay",
    "check_decay_with_weight_ste",
    "check_full_precision_source",
    "decay_all",
    "decay_weights_only",
    "evaluate",
    "fit",
    "init_from_full_precision",
    "load_checkpoint",
    "load_model",
    "make_optimizer",
    "make_schedule",
    "restore",
    "save_checkpoint",
    "topk_correct",
    "train_step",
    "upgrade_schedule_config",
]
