"""Learning-rate schedules: factors of the optimizer's own rate.

The optimizer owns the learning rate (``Adam(model, lr=3e-3)``); a
schedule only scales it, as PyTorch's schedulers scale each parameter
group's initial rate. A schedule is called once per optimizer step with
the progress ``t`` measured in epochs, ``t = epoch + i / steps_per_epoch``
for the ``i``-th step (0-based) of epoch ``epoch`` (0-based), and returns
a factor; :func:`~abcref.train.fit` sets ``optimizer.lr_scale =
schedule(t)``, so the step uses ``optimizer.lr * schedule(t)``. Being
stateless, a schedule needs nothing saved in a checkpoint: resuming at
epoch ``e`` recomputes the same factors.

- :class:`Constant` -- 1.
- :class:`StepDecay` -- ``gamma ** k`` with ``k`` the number of
  milestones ``<= floor(t)``: changes at epoch boundaries only, like
  PyTorch's ``MultiStepLR`` stepped once per epoch.
- :class:`Cosine` -- ``min_factor + (1 - min_factor) * (1 + cos(pi * s /
  T)) / 2`` with ``T`` the total number of epochs and ``s = t``
  (``per_step=True``, default: a smooth decay, which matters for short
  runs of a few epochs) or ``s = floor(t)`` (``per_step=False``: PyTorch's
  ``CosineAnnealingLR`` stepped once per epoch, with ``eta_min = min_factor
  * lr``).

Every schedule has ``to_config()`` returning a JSON-serialisable dict and
:func:`make_schedule` rebuilds one from such a dict. abcref 0.1 schedules
returned rates, not factors, and their configs hold ``"lr"``;
:func:`upgrade_schedule_config` turns one into a factor config and the
base rate it implies, so old checkpoints resume.
"""

from __future__ import annotations

import math

from abcref._checks import check_bool, check_int, check_real


class Schedule:
    """Base class: ``schedule(t) -> factor`` of the base rate, for progress ``t`` in epochs."""

    name = ""

    def __call__(self, t: float) -> float:
        t = check_real(t, "t")
        if t < 0:
            raise ValueError(f"t (progress in epochs) must be >= 0, got {t}")
        return self._factor(t)

    def _factor(self, t: float) -> float:
        raise NotImplementedError

    def to_config(self) -> dict:
        raise NotImplementedError

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.to_config().items() if k != "name")
        return f"{type(self).__name__}({options})"


class Constant(Schedule):
    """The optimizer's rate throughout (factor 1)."""

    name = "constant"

    def _factor(self, t):
        return 1.0

    def to_config(self):
        return {"name": self.name}


class StepDecay(Schedule):
    """Multiply the rate by ``gamma`` at each milestone epoch.

    Parameters
    ----------
    milestones : sequence of int
        Strictly increasing epochs (>= 1) at whose start the rate drops.
    gamma : float
        Factor in (0, 1].
    """

    name = "step"

    def __init__(self, milestones, gamma: float = 0.1) -> None:
        if not isinstance(milestones, (list, tuple)):
            raise TypeError(f"milestones must be a list of ints, got {milestones!r}")
        ms = [check_int(m, f"milestones[{i}]", min_value=1) for i, m in enumerate(milestones)]
        if any(b <= a for a, b in zip(ms, ms[1:], strict=False)):
            raise ValueError(f"milestones must be strictly increasing, got {ms}")
        self.milestones = ms
        self.gamma = check_real(gamma, "gamma")
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")

    def _factor(self, t):
        k = sum(1 for m in self.milestones if m <= math.floor(t))
        return self.gamma**k

    def to_config(self):
        return {"name": self.name, "milestones": list(self.milestones), "gamma": self.gamma}


class Cosine(Schedule):
    """Cosine decay of the rate from 1x to ``min_factor``x over ``epochs`` epochs.

    Parameters
    ----------
    epochs : int
        Length ``T`` of the decay (>= 1); after it the factor stays at
        ``min_factor``.
    min_factor : float
        Final factor, in [0, 1].
    per_step : bool
        True: decay continuously within each epoch; False: once per epoch.
    """

    name = "cosine"

    def __init__(self, epochs: int, *, min_factor: float = 0.0, per_step: bool = True) -> None:
        self.epochs = check_int(epochs, "epochs", min_value=1)
        self.min_factor = check_real(min_factor, "min_factor")
        if not 0.0 <= self.min_factor <= 1.0:
            raise ValueError(f"min_factor must be in [0, 1], got {self.min_factor}")
        self.per_step = check_bool(per_step, "per_step")

    def _factor(self, t):
        s = t if self.per_step else math.floor(t)
        s = min(s, self.epochs)
        cosine = 0.5 * (1.0 + math.cos(math.pi * s / self.epochs))
        return self.min_factor + (1.0 - self.min_factor) * cosine

    def to_config(self):
        return {
            "name": self.name,
            "epochs": self.epochs,
            "min_factor": self.min_factor,
            "per_step": self.per_step,
        }


SCHEDULES = {cls.name: cls for cls in (Constant, StepDecay, Cosine)}


def make_schedule(config: dict) -> Schedule:
    """Rebuild a schedule from ``to_config()`` output.

    Raises
    ------
    ValueError
        For an unknown name or options, or a config of abcref 0.1 (one
        holding ``"lr"``: a rate, not a factor); convert that one with
        :func:`upgrade_schedule_config`.

    Examples
    --------
    >>> make_schedule({"name": "cosine", "epochs": 10})(5.0)
    0.5
    """
    if not isinstance(config, dict) or "name" not in config:
        raise ValueError(f"schedule config must be a dict with a 'name', got {config!r}")
    name = config["name"]
    if name not in SCHEDULES:
        raise ValueError(f"schedule name must be one of {sorted(SCHEDULES)}, got {name!r}")
    if "lr" in config:
        raise ValueError(
            f"schedule config {config!r} holds 'lr': a schedule is now a factor of the "
            "optimizer's rate; convert an abcref 0.1 config with upgrade_schedule_config"
        )
    options = {k: v for k, v in config.items() if k != "name"}
    try:
        return SCHEDULES[name](**options)
    except TypeError as exc:  # an unknown option: name it, as a bad value would be
        raise ValueError(f"schedule config {config!r}: {exc}") from None


def upgrade_schedule_config(config: dict) -> tuple[dict, float | None]:
    """An abcref 0.1 schedule config (a rate) as a factor config and its base rate.

    abcref 0.1's ``Cosine(lr, epochs, min_lr=...)`` returned rates from
    ``lr`` down to ``min_lr``; that is ``Cosine(epochs, min_factor=min_lr /
    lr)`` scaling an optimizer whose rate is ``lr`` (and likewise
    ``Constant(lr)``, ``StepDecay(lr, milestones, gamma)``). A config
    without ``"lr"`` is returned unchanged, with base rate None.

    Returns
    -------
    (dict, float or None)
        The factor config (accepted by :func:`make_schedule`) and the base
        rate the old config implies.
    """
    if not isinstance(config, dict) or "lr" not in config:
        return config, None
    options = dict(config)
    lr = check_real(options.pop("lr"), "schedule config 'lr'")
    if lr <= 0:
        raise ValueError(f"schedule config 'lr' must be > 0, got {lr}")
    if "min_lr" in options:
        options["min_factor"] = check_real(options.pop("min_lr"), "schedule config 'min_lr'") / lr
    return options, lr
