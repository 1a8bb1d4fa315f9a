"""Tests of abcref.apps.compare.table3: the Table 3 systems, their ordering, and a short run."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from abcref.apps.compare.table3 import (  # noqa: E402
    TABLE3_SYSTEMS,
    ordering_disagreements,
    table3_configs,
    table3_figure,
    table3_markdown,
    table3_rows,
)
from abcref.apps.results import SweepResult  # noqa: E402
from abcref.apps.sweep import run_sweep  # noqa: E402
from abcref.data import load_digits  # noqa: E402
from tests._figure_checks import assert_explains_itself  # noqa: E402

TINY = {"arch": "small_cnn", "widths": [4, 4, 4, 4]}


def test_table3_configs_cover_the_paper_rows():
    configs = table3_configs(TINY, extra=True)
    assert list(configs)[:7] == list(TABLE3_SYSTEMS)
    assert configs["DoReFa W1/A4"]["conv"] == {"kind": "dorefa", "bits": 4, "weight_bits": 1}
    assert configs["ABC M=5, FP act"]["conv"] == {"kind": "abc", "M": 5, "N": None}
    assert "ABC M=1, N=1" in configs and all(c["widths"] == [4, 4, 4, 4] for c in configs.values())


def _fake_result(means):
    """A SweepResult with given test top-1 per label (two seeds, +-0.01)."""
    result = SweepResult(settings={"seeds": [0, 1]}, configs={k: {} for k in means})
    for label, m in means.items():
        for seed, delta in ((0, -0.01), (1, 0.01)):
            result.rows.append({"label": label, "seed": seed, "test_top1": m + delta})
    return result


def test_ordering_disagreements_and_noise():
    result = _fake_result({"FP": 0.90, "BWN": 0.95, "BNN": 0.80, "XNOR-Net": 0.805})
    rows = table3_rows(result)
    assert [r["measured_rank"] for r in rows] == [2, 1, 4, 3]
    assert [r["paper_rank"] for r in rows] == [1, 2, 4, 3]
    found = ordering_disagreements(rows)
    assert ("FP", "BWN", True) in found  # gap 5 points, spread 2.8
    assert ("XNOR-Net", "BNN", False) not in found  # same order as the paper
    result = _fake_result({"XNOR-Net": 0.80, "BNN": 0.805})
    assert ordering_disagreements(table3_rows(result)) == [("XNOR-Net", "BNN", False)]


def test_every_system_learns_in_one_short_epoch():
    d = load_digits()
    data = {
        "x_train": d.x_train[:500],
        "y_train": d.y_train[:500],
        "x_test": d.x_test,
        "y_test": d.y_test,
    }
    configs = table3_configs({"arch": "small_cnn", "widths": [8, 16, 16, 16]})
    result = run_sweep(configs, data=data, seeds=(0,), epochs=1, batch_size=10, lr=1e-2)
    accuracy = {r["label"]: r["test_top1"] for r in result.rows}
    assert set(accuracy) == set(TABLE3_SYSTEMS)
    for label, top1 in accuracy.items():
        assert top1 > 0.30, f"{label} reached only {top1:.1%} (chance is 10%)"
    text = table3_markdown(result)
    assert "| FP | 32 | 32 | 69.3 |" in text and "Budget: 1 epochs" in text


def test_the_table3_figure_explains_itself():
    """Drawn from the committed sweep: both panels labelled, the seed count stated."""
    saved = SweepResult.from_json(Path(__file__).parents[3] / "results" / "table3" / "sweep.json")
    fig = table3_figure(saved)
    assert_explains_itself(fig)
    ours, paper = fig.axes
    assert ours.get_title() == f"measured here, {len(saved.settings['seeds'])} seeds"
    assert "mean ± std" in ours.get_xlabel() and "ImageNet" in paper.get_xlabel()
