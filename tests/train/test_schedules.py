"""Tests of abcref.train.schedules: constant, step and cosine factors of the optimizer's rate."""

import math

import pytest

from abcref.train import Constant, Cosine, StepDecay, make_schedule, upgrade_schedule_config


def test_constant():
    s = Constant()
    assert s(0.0) == s(3.7) == 1.0


def test_step_decay_changes_at_epoch_boundaries():
    s = StepDecay([2, 4], gamma=0.5)
    assert [s(t) for t in (0.0, 1.99, 2.0, 3.5, 4.0, 10.0)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]


def test_cosine_per_step_and_per_epoch():
    s = Cosine(10, min_factor=0.1)
    assert s(0.0) == 1.0
    assert s(5.0) == pytest.approx(0.55)
    assert s(10.0) == pytest.approx(0.1)
    assert s(12.0) == pytest.approx(0.1)
    assert s(2.5) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.25)))
    e = Cosine(10, min_factor=0.1, per_step=False)
    assert e(2.5) == e(2.0) == s(2.0)


@pytest.mark.parametrize(
    "schedule", [Constant(), StepDecay([1, 3], 0.1), Cosine(7, min_factor=0.2, per_step=False)]
)
def test_config_round_trip(schedule):
    again = make_schedule(schedule.to_config())
    assert again.to_config() == schedule.to_config()
    assert [again(t) for t in (0, 1.5, 4)] == [schedule(t) for t in (0, 1.5, 4)]
    assert repr(again) == repr(schedule)


def test_bad_inputs():
    with pytest.raises(ValueError, match="milestones must be strictly increasing"):
        StepDecay([3, 2])
    with pytest.raises(ValueError, match=r"gamma must be in \(0, 1\]"):
        StepDecay([1], gamma=2.0)
    with pytest.raises(TypeError, match="milestones must be a list of ints"):
        StepDecay(3)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        Cosine(0)
    with pytest.raises(ValueError, match=r"min_factor must be in \[0, 1\], got 1.5"):
        Cosine(5, min_factor=1.5)
    with pytest.raises(TypeError, match="per_step must be a bool"):
        Cosine(5, per_step=1)
    with pytest.raises(ValueError, match="must be >= 0"):
        Constant()(-1.0)
    with pytest.raises(ValueError, match="schedule name must be one of"):
        make_schedule({"name": "exp"})
    with pytest.raises(ValueError, match=r"schedule config .* unexpected keyword argument 'T'"):
        make_schedule({"name": "cosine", "T": 3})


def test_a_schedule_is_a_factor_not_a_rate():
    # The old API took the rate; passing one now is an error, not a silent override.
    with pytest.raises(TypeError):
        Cosine(0.5, 2)
    with pytest.raises(TypeError, match="epochs must be an int"):
        Cosine(0.5)


@pytest.mark.parametrize(
    ("old", "new", "lr"),
    [
        (
            {"name": "cosine", "lr": 0.003, "epochs": 3, "min_lr": 0.0, "per_step": True},
            {"name": "cosine", "epochs": 3, "min_factor": 0.0, "per_step": True},
            0.003,
        ),
        ({"name": "constant", "lr": 0.1}, {"name": "constant"}, 0.1),
        (
            {"name": "step", "lr": 0.2, "milestones": [2], "gamma": 0.5},
            {"name": "step", "milestones": [2], "gamma": 0.5},
            0.2,
        ),
    ],
)
def test_abcref_0_1_configs_upgrade_to_the_same_rates(old, new, lr):
    with pytest.raises(ValueError, match="holds 'lr'.*upgrade_schedule_config"):
        make_schedule(old)
    config, base = upgrade_schedule_config(old)
    assert config == new and base == lr
    schedule = make_schedule(config)
    # The rate the abcref 0.1 schedule gave, computed from its formula.
    for t in (0.0, 0.7, 1.0, 2.5, 3.0, 4.0):
        if old["name"] == "cosine":
            rate = old["min_lr"] + (old["lr"] - old["min_lr"]) * 0.5 * (
                1 + math.cos(math.pi * min(t, old["epochs"]) / old["epochs"])
            )
        elif old["name"] == "step":
            rate = old["lr"] * old["gamma"] ** sum(m <= math.floor(t) for m in old["milestones"])
        else:
            rate = old["lr"]
        assert base * schedule(t) == rate  # bitwise: old checkpoints resume exactly


def test_upgrade_converts_min_lr_and_leaves_new_configs_alone():
    config, base = upgrade_schedule_config(
        {"name": "cosine", "lr": 0.5, "epochs": 4, "min_lr": 0.05}
    )
    assert base == 0.5 and config["min_factor"] == pytest.approx(0.1) and "min_lr" not in config
    new = {"name": "cosine", "epochs": 4}
    assert upgrade_schedule_config(new) == (new, None)
    assert upgrade_schedule_config(None) == (None, None)
    with pytest.raises(ValueError, match="'lr' must be > 0"):
        upgrade_schedule_config({"name": "constant", "lr": 0.0})
