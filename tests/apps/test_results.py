"""Tests of abcref.apps.results: SweepResult summaries, the (M, N) grid, tables and files."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from abcref.apps.results import ROW_COLUMNS, SweepResult, format_mean_std, mean_std, n_label
from abcref.apps.sweep import FULL_PRECISION, grid_configs, run_sweep
from abcref.data import load_digits

TINY = {"arch": "small_cnn", "widths": [4, 8]}


@pytest.fixture(scope="module")
def result():
    """A real sweep: full precision and (M, N) in {1, 2}^2, seeds 0 and 1, on 96 digits."""
    configs = grid_configs([1, 2], [1, 2], base=TINY)
    return run_sweep(configs, data=load_digits(limit=96), seeds=(0, 1), epochs=1, batch_size=32)


def test_summary_mean_and_sample_std(result):
    summary = {s["label"]: s for s in result.summary()}
    runs = result.runs("M=1, N=1")
    values = np.array([r["test_top1"] for r in runs])
    assert summary["M=1, N=1"]["runs"] == 2
    assert summary["M=1, N=1"]["test_top1_mean"] == pytest.approx(values.mean())
    assert summary["M=1, N=1"]["test_top1_std"] == pytest.approx(values.std(ddof=1))
    pop = {s["label"]: s for s in result.summary(ddof=0)}
    assert pop["M=1, N=1"]["test_top1_std"] == pytest.approx(values.std(ddof=0))


def test_mean_std_edge_cases():
    assert mean_std([0.5]) == (0.5, pytest.approx(float("nan"), nan_ok=True))
    assert math.isnan(mean_std([])[0])
    assert mean_std([0.0, 1.0], ddof=0) == (0.5, 0.5)


def test_markdown_table(result):
    lines = result.to_markdown().splitlines()
    assert lines[0].startswith("| model | runs | test top-1 (%)")
    assert len(lines) == 2 + 5
    assert lines[2].startswith(f"| {FULL_PRECISION} | 2 | ")
    assert " ± " in lines[3]


def test_mn_grid(result):
    grid = result.mn_grid()
    assert grid.Ms == [1, 2] and grid.Ns == [1, 2]
    assert grid.labels == [["M=1, N=1", "M=1, N=2"], ["M=2, N=1", "M=2, N=2"]]
    expected = np.mean([r["test_top1"] for r in result.runs("M=2, N=1")])
    assert grid.mean[1, 0] == pytest.approx(expected)
    assert grid.full_precision[0] == pytest.approx(
        np.mean([r["test_top1"] for r in result.runs(FULL_PRECISION)])
    )
    text = grid.to_markdown().splitlines()
    assert text[0] == "| M \\ N | 1 | 2 |"
    assert text[2].startswith("| **1** | ") and text[3].startswith("| **2** | ")
    assert text[-1].startswith("full precision: ")


def test_mn_grid_errors():
    only_fp = SweepResult(settings={"seeds": [0]}, configs={"fp": {"conv": "fp"}})
    with pytest.raises(ValueError, match="no ABC config"):
        only_fp.mn_grid()
    twice = SweepResult(
        settings={"seeds": [0]},
        configs={
            "a": {"conv": {"kind": "abc", "M": 1, "N": 1}},
            "b": {"conv": {"kind": "abc", "M": 1, "N": 1, "per_channel": True}},
        },
    )
    with pytest.raises(ValueError, match="both have"):
        twice.mn_grid()
    with pytest.raises(ValueError, match="metric"):
        twice.mn_grid("nonsense")


def test_from_json_rejects_other_files(tmp_path):
    (tmp_path / "x.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="not an abcref sweep file"):
        SweepResult.from_json(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("{not json")
    with pytest.raises(ValueError, match="sweep file"):
        SweepResult.from_json(tmp_path / "y.json")


def test_csv_and_json_round_trip(result, tmp_path):
    result.to_csv(tmp_path / "t.csv")
    with open(tmp_path / "t.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(result.rows) and list(rows[0]) == list(ROW_COLUMNS)
    assert float(rows[0]["test_top1"]) == result.rows[0]["test_top1"]

    result.to_json(tmp_path / "t.json")
    back = SweepResult.from_json(tmp_path / "t.json")
    assert back.to_markdown() == result.to_markdown()
    assert back.histories.keys() == result.histories.keys()
    np.testing.assert_array_equal(back.mn_grid().mean, result.mn_grid().mean)


def test_format_mean_std_and_n_label():
    assert format_mean_std(0.99351, 0.0016) == "99.35 ± 0.16"
    assert format_mean_std(0.5, float("nan")) == "50.00"
    assert format_mean_std(float("nan"), 0.1) == "–"
    assert format_mean_std(0.1234, 0.01, scale=1, digits=3) == "0.123 ± 0.010"
    assert (n_label(None), n_label(3)) == ("FP", "3")
