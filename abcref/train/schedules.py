"""Learning-rate schedules as pure functions of training progress.

A schedule is called once per optimizer step with the progress ``t``
measured in epochs: ``t = epoch + i / steps_per_epoch`` for the ``i``-th
step (0-based) of epoch ``epoch`` (0-based). Being stateless, a schedule
needs nothing saved in a checkpoint: resuming at epoch ``e`` recomputes the
same learning rates.

- :class:`Constant` -- ``lr``.
- :class:`StepDecay` -- ``lr * gamma ** k`` with ``k`` the number of
  milestones ``<= floor(t)``: changes at epoch boundaries only, like
  PyTorch's ``MultiStepLR`` stepped once per epoch.
- :class:`Cosine` -- ``min_lr + (lr - min_lr) * (1 + cos(pi * s / T)) / 2``
  with ``T`` the total number of epochs and ``s = t`` (``per_step=True``,
  default: a smooth decay, which matters for short runs of a few epochs)
  or ``s = floor(t)`` (``per_step=False``: PyTorch's ``CosineAnnealingLR``
  stepped once per epoch).

Every schedule has ``to_config()`` returning a JSON-serialisable dict and
:func:`make_schedule` rebuilds one from such a dict.
"""

from __future__ import annotations

import math

from abcref._checks import check_int, check_real


class Schedule:
    """Base class: ``schedule(t) -> lr`` for progress ``t`` in epochs."""

    name = ""

    def __call__(self, t: float) -> float:
        t = check_real(t, "t")
        if t < 0:
            raise ValueError(f"t (progress in epochs) must be >= 0, got {t}")
        return self._lr(t)

    def _lr(self, t: float) -> float:
        raise NotImplementedError

    def to_config(self) -> dict:
        raise NotImplementedError


class Constant(Schedule):
    """The same learning rate throughout."""

    name = "constant"

    def __init__(self, lr: float) -> None:
        self.lr = _positive(lr, "lr")

    def _lr(self, t):
        return self.lr

    def to_config(self):
        return {"name": self.name, "lr": self.lr}


class StepDecay(Schedule):
    """Multiply the learning rate by ``gamma`` at each milestone epoch.

    Parameters
    ----------
    lr : float
        Initial learning rate.
    milestones : sequence of int
        Strictly increasing epochs (>= 1) at whose start the rate drops.
    gamma : float
        Factor in (0, 1].
    """

    name = "step"

    def __init__(self, lr: float, milestones, gamma: float = 0.1) -> None:
        self.lr = _positive(lr, "lr")
        if not isinstance(milestones, (list, tuple)):
            raise TypeError(f"milestones must be a list of ints, got {milestones!r}")
        ms = [check_int(m, f"milestones[{i}]", min_value=1) for i, m in enumerate(milestones)]
        if any(b <= a for a, b in zip(ms, ms[1:], strict=False)):
            raise ValueError(f"milestones must be strictly increasing, got {ms}")
        self.milestones = ms
        self.gamma = check_real(gamma, "gamma")
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")

    def _lr(self, t):
        k = sum(1 for m in self.milestones if m <= math.floor(t))
        return self.lr * self.gamma**k

    def to_config(self):
        return {
            "name": self.name,
            "lr": self.lr,
            "milestones": list(self.milestones),
            "gamma": self.gamma,
        }


class Cosine(Schedule):
    """Cosine decay from ``lr`` to ``min_lr`` over ``epochs`` epochs.

    Parameters
    ----------
    lr : float
        Initial learning rate.
    epochs : int
        Length ``T`` of the decay (>= 1); after it the rate stays at
        ``min_lr``.
    min_lr : float
        Final learning rate (0 <= min_lr <= lr).
    per_step : bool
        True: decay continuously within each epoch; False: once per epoch.
    """

    name = "cosine"

    def __init__(
        self, lr: float, epochs: int, *, min_lr: float = 0.0, per_step: bool = True
    ) -> None:
        self.lr = _positive(lr, "lr")
        self.epochs = check_int(epochs, "epochs", min_value=1)
        self.min_lr = check_real(min_lr, "min_lr")
        if not 0.0 <= self.min_lr <= self.lr:
            raise ValueError(f"min_lr must be in [0, lr={self.lr}], got {self.min_lr}")
        if not isinstance(per_step, bool):
            raise TypeError(f"per_step must be a bool, got {per_step!r}")
        self.per_step = per_step

    def _lr(self, t):
        s = t if self.per_step else math.floor(t)
        s = min(s, self.epochs)
        cosine = 0.5 * (1.0 + math.cos(math.pi * s / self.epochs))
        return self.min_lr + (self.lr - self.min_lr) * cosine

    def to_config(self):
        return {
            "name": self.name,
            "lr": self.lr,
            "epochs": self.epochs,
            "min_lr": self.min_lr,
            "per_step": self.per_step,
        }


SCHEDULES = {cls.name: cls for cls in (Constant, StepDecay, Cosine)}


def make_schedule(config: dict) -> Schedule:
    """Rebuild a schedule from ``to_config()`` output.

    Examples
    --------
    >>> make_schedule({"name": "cosine", "lr": 0.1, "epochs": 10})(5.0)
    0.05
    """
    if not isinstance(config, dict) or "name" not in config:
        raise ValueError(f"schedule config must be a dict with a 'name', got {config!r}")
    name = config["name"]
    if name not in SCHEDULES:
        raise ValueError(f"schedule name must be one of {sorted(SCHEDULES)}, got {name!r}")
    options = {k: v for k, v in config.items() if k != "name"}
    return SCHEDULES[name](**options)


def _positive(value, name: str) -> float:
    value = check_real(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value
