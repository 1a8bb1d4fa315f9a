"""Tests of abcref.apps.sweep: run_sweep, SweepResult tables and files, heatmap."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from abcref.apps.sweep import (
    FULL_PRECISION,
    ROW_COLUMNS,
    SweepResult,
    auto_drop_last,
    grid_configs,
    mean_std,
    plot_curves,
    plot_heatmap,
    run_sweep,
    slug,
)
from abcref.data import load_digits

TINY = {"arch": "small_cnn", "widths": [4, 8]}


@pytest.fixture(scope="module")
def data():
    return load_digits(limit=96)


@pytest.fixture(scope="module")
def result(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    configs = grid_configs([1, 2], [1, 2], base=TINY)
    res = run_sweep(configs, data=data, seeds=(0, 1), epochs=1, batch_size=32, out_dir=out)
    res.out = out
    return res


def test_grid_configs_labels_and_kinds():
    configs = grid_configs([1, 3], [1, None], base={"arch": "small_cnn", "conv": "ignored"})
    assert list(configs) == [FULL_PRECISION, "M=1, N=1", "M=1, N=FP", "M=3, N=1", "M=3, N=FP"]
    assert configs[FULL_PRECISION]["conv"] == "fp"
    assert configs["M=3, N=1"]["conv"] == {"kind": "abc", "M": 3, "N": 1}
    assert configs["M=1, N=FP"]["conv"]["N"] is None
    pc = grid_configs([1], [1], full_precision=False, per_channel=True, weight_ste="identity")
    assert list(pc) == ["M=1, N=1"]
    assert pc["M=1, N=1"]["conv"]["per_channel"] is True
    assert pc["M=1, N=1"]["conv"]["weight_ste"] == "identity"


def test_rows_one_per_label_and_seed(result):
    assert [(r["label"], r["seed"]) for r in result.rows] == [
        (label, seed) for label in result.labels for seed in (0, 1)
    ]
    for row in result.rows:
        assert set(row) == set(ROW_COLUMNS)
        assert 0.0 <= row["test_top1"] <= 1.0 and 0.0 <= row["train_top1"] <= 1.0
        assert row["test_loss"] > 0 and row["seconds_per_epoch"] > 0
        assert row["epochs"] == 1
    assert result.settings["seeds"] == [0, 1]
    assert result.configs["M=2, N=1"]["widths"] == [4, 8]
    assert len(result.histories[FULL_PRECISION, 1]) == 1


def test_run_uses_seed_for_init_and_order(data, result):
    """A run equals fit() on build_model({**config, "seed": seed}) by hand."""
    from abcref.nn import build_model
    from abcref.train import Adam, Cosine, fit

    model = build_model({**TINY, "conv": {"kind": "abc", "M": 1, "N": 2}, "seed": 1})
    history = fit(
        model,
        data,
        epochs=1,
        optimizer=Adam(model, lr=3e-3),
        schedule=Cosine(3e-3, 1),
        batch_size=32,
        seed=1,
        progress=False,
    )
    (row,) = [r for r in result.runs("M=1, N=2") if r["seed"] == 1]
    assert row["test_top1"] == history.last["test_top1"]
    assert row["test_loss"] == history.last["test_loss"]


def test_deterministic(data):
    configs = grid_configs([1], [2], base=TINY)
    a = run_sweep(configs, data=data, seeds=(3,), epochs=1, batch_size=32)
    b = run_sweep(configs, data=data, seeds=(3,), epochs=1, batch_size=32)
    strip = [{k: v for k, v in r.items() if "seconds" not in k} for r in a.rows]
    assert strip == [{k: v for k, v in r.items() if "seconds" not in k} for r in b.rows]


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


def test_mn_grid_errors(data):
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


def test_files_written(result, tmp_path):
    out = result.out
    assert (out / "sweep.json").is_file()
    assert sorted(p.name for p in (out / "logs").iterdir()) == sorted(
        f"{slug(label)}_seed{seed}.jsonl" for label in result.labels for seed in (0, 1)
    )
    record = json.loads((out / "logs" / "M1_N2_seed0.jsonl").read_text().splitlines()[0])
    assert record["epoch"] == 1

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


def test_from_json_rejects_other_files(tmp_path):
    (tmp_path / "x.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="not an abcref sweep file"):
        SweepResult.from_json(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("{not json")
    with pytest.raises(ValueError, match="sweep file"):
        SweepResult.from_json(tmp_path / "y.json")


def test_heatmap_and_curves_png(result, tmp_path):
    path = plot_heatmap(result, tmp_path / "heatmap.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    curves = plot_curves(result, tmp_path / "curves.png", labels=[FULL_PRECISION, "M=2, N=2"])
    assert curves.stat().st_size > 1000
    with pytest.raises(KeyError, match="no run"):
        plot_curves(result, tmp_path / "c.png", seed=7)


def test_auto_drop_last():
    assert auto_drop_last(65, 64) is True
    assert auto_drop_last(1437, 64) is False


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"configs": {}}, ValueError, "non-empty mapping"),
        ({"seeds": ()}, ValueError, "at least one seed"),
        ({"seeds": (0, 0)}, ValueError, "distinct"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"optimizer": "rmsprop"}, ValueError, "optimizer"),
        ({"schedule": "step"}, ValueError, "schedule"),
        ({"configs": {"x": {"arch": "small_cnn", "widthz": [4]}}}, ValueError, "widthz"),
        ({"configs": {3: TINY}}, TypeError, "labels"),
    ],
)
def test_bad_arguments(data, kwargs, error, match):
    args = {"configs": {"fp": {**TINY, "conv": "fp"}}, "data": data, "seeds": (0,), **kwargs}
    with pytest.raises(error, match=match):
        run_sweep(**args)


def test_on_run_sees_each_trained_model_in_eval_mode(data):
    seen = []

    def on_run(label, seed, model, history):
        seen.append((label, seed, model.training, model.config["seed"], len(history.records)))

    configs = grid_configs([1], [1], base=TINY)
    result = run_sweep(configs, data=data, seeds=(0, 4), epochs=1, batch_size=32, on_run=on_run)
    assert seen == [(label, seed, False, seed, 1) for label in configs for seed in (0, 4)]
    assert result.models == {}  # keep_models is off
