"""Tests of abcref.train.schedules: constant, step-decay and cosine learning rates."""

import math

import pytest

from abcref.train import Constant, Cosine, StepDecay, make_schedule


def test_constant():
    s = Constant(0.1)
    assert s(0.0) == s(3.7) == 0.1


def test_step_decay_changes_at_epoch_boundaries():
    s = StepDecay(1.0, [2, 4], gamma=0.5)
    assert [s(t) for t in (0.0, 1.99, 2.0, 3.5, 4.0, 10.0)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]


def test_cosine_per_step_and_per_epoch():
    s = Cosine(0.2, 10, min_lr=0.02)
    assert s(0.0) == 0.2
    assert s(5.0) == pytest.approx(0.11)
    assert s(10.0) == pytest.approx(0.02)
    assert s(12.0) == pytest.approx(0.02)
    assert s(2.5) == pytest.approx(0.02 + 0.18 * 0.5 * (1 + math.cos(math.pi * 0.25)))
    e = Cosine(0.2, 10, min_lr=0.02, per_step=False)
    assert e(2.5) == e(2.0) == s(2.0)


@pytest.mark.parametrize(
    "schedule", [Constant(0.3), StepDecay(0.3, [1, 3], 0.1), Cosine(0.3, 7, per_step=False)]
)
def test_config_round_trip(schedule):
    again = make_schedule(schedule.to_config())
    assert again.to_config() == schedule.to_config()
    assert [again(t) for t in (0, 1.5, 4)] == [schedule(t) for t in (0, 1.5, 4)]


def test_bad_inputs():
    with pytest.raises(ValueError, match="lr must be > 0"):
        Constant(-1.0)
    with pytest.raises(ValueError, match="milestones must be strictly increasing"):
        StepDecay(0.1, [3, 2])
    with pytest.raises(ValueError, match=r"gamma must be in \(0, 1\]"):
        StepDecay(0.1, [1], gamma=2.0)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        Cosine(0.1, 0)
    with pytest.raises(ValueError, match="min_lr must be in"):
        Cosine(0.1, 5, min_lr=0.5)
    with pytest.raises(ValueError, match="must be >= 0"):
        Constant(0.1)(-1.0)
    with pytest.raises(ValueError, match="schedule name must be one of"):
        make_schedule({"name": "exp", "lr": 0.1})
