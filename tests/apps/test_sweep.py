"""Tests of abcref.apps.sweep: grid_configs, run_sweep (rows, seeds, logs, bad input), rerun."""

from __future__ import annotations

import json

import pytest

from abcref.apps.results import ROW_COLUMNS, SweepResult
from abcref.apps.sweep import FULL_PRECISION, abc_conv, grid_configs, rerun, run_sweep, slug
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


def test_abc_conv_leaves_out_defaults():
    assert abc_conv(3, None) == {"kind": "abc", "M": 3, "N": None}
    assert abc_conv(1, 2, per_channel=True, weight_ste="sum") == {
        "kind": "abc",
        "M": 1,
        "N": 2,
        "per_channel": True,
        "weight_ste": "sum",
    }


def test_slug():
    assert slug("M=1, N=3") == "M1_N3" and slug(FULL_PRECISION) == "full_precision"
    assert slug("==") == "run"


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
        schedule=Cosine(1),
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


def test_logs_and_sweep_json_written(result):
    out = result.out
    assert (out / "sweep.json").is_file()
    assert sorted(p.name for p in (out / "logs").iterdir()) == sorted(
        f"{slug(label)}_seed{seed}.jsonl" for label in result.labels for seed in (0, 1)
    )
    record = json.loads((out / "logs" / "M1_N2_seed0.jsonl").read_text().splitlines()[0])
    assert record["epoch"] == 1


def _strip_seconds(rows):
    return [{k: v for k, v in r.items() if "seconds" not in k} for r in rows]


def test_resume_skips_finished_runs_and_equals_an_uninterrupted_sweep(data, result, tmp_path):
    """A sweep.json of the first k runs: resuming trains only the others, same result."""
    configs = grid_configs([1, 2], [1, 2], base=TINY)
    labels = [(r["label"], r["seed"]) for r in result.rows]
    partial = json.loads((result.out / "sweep.json").read_text())
    keep = labels[:3]
    partial["rows"] = [r for r in partial["rows"] if (r["label"], r["seed"]) in keep]
    partial["histories"] = [h for h in partial["histories"] if (h["label"], h["seed"]) in keep]
    (tmp_path / "sweep.json").write_text(json.dumps(partial))
    trained = []
    resumed = run_sweep(
        configs, data=data, seeds=(0, 1), epochs=1, batch_size=32, out_dir=tmp_path,
        resume=True, on_run=lambda label, seed, model, history: trained.append((label, seed)),
    )  # fmt: skip
    assert trained == labels[3:]
    assert _strip_seconds(resumed.rows) == _strip_seconds(result.rows)
    assert [(r["label"], r["seed"]) for r in resumed.rows] == labels
    assert resumed.mn_grid().to_markdown() == result.mn_grid().to_markdown()
    assert resumed.histories.keys() == result.histories.keys()
    # Nothing to resume from yet (no run had finished): every run is trained.
    empty = tmp_path / "empty"
    again = run_sweep(configs, data=data, seeds=(0, 1), epochs=1, batch_size=32, out_dir=empty,
                      resume=True)  # fmt: skip
    assert _strip_seconds(again.rows) == _strip_seconds(result.rows)


def test_resume_refuses_a_sweep_with_other_settings(data, result, tmp_path):
    configs = grid_configs([1, 2], [1, 2], base=TINY)
    (tmp_path / "sweep.json").write_text((result.out / "sweep.json").read_text())
    with pytest.raises(ValueError, match="written by a sweep with other settings"):
        run_sweep(configs, data=data, seeds=(0, 1), epochs=2, batch_size=32, out_dir=tmp_path,
                  resume=True)  # fmt: skip
    with pytest.raises(ValueError, match="with other configs"):
        run_sweep(grid_configs([1, 3], [1, 2], base=TINY), data=data, seeds=(0, 1), epochs=1,
                  batch_size=32, out_dir=tmp_path, resume=True)  # fmt: skip
    with pytest.raises(ValueError, match="resume=True needs the out_dir"):
        run_sweep(configs, data=data, seeds=(0,), epochs=1, resume=True)


def test_on_run_extras_are_kept_in_sweep_json(data, tmp_path):
    configs = grid_configs([1], [1], base=TINY, full_precision=False)

    def on_run(label, seed, model, history):
        return {"checked": seed * 10}

    result = run_sweep(configs, data=data, seeds=(0, 2), epochs=1, batch_size=32,
                       out_dir=tmp_path, on_run=on_run)  # fmt: skip
    assert result.extras == {("M=1, N=1", 0): {"checked": 0}, ("M=1, N=1", 2): {"checked": 20}}
    resumed = run_sweep(configs, data=data, seeds=(0, 2), epochs=1, batch_size=32,
                        out_dir=tmp_path, resume=True, on_run=on_run)  # fmt: skip
    assert resumed.extras == result.extras
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        run_sweep(configs, data=data, seeds=(0,), epochs=1, batch_size=32,
                  on_run=lambda *args: {"model": object()})  # fmt: skip


def test_on_start_runs_after_the_checks_before_training(data):
    calls = []
    with pytest.raises(ValueError, match="distinct"):
        run_sweep({"fp": {**TINY, "conv": "fp"}}, data=data, seeds=(0, 0),
                  on_start=lambda: calls.append("start"))  # fmt: skip
    assert calls == []

    def on_run(label, seed, model, history):
        calls.append("run")

    run_sweep({"fp": {**TINY, "conv": "fp"}}, data=data, seeds=(0,), epochs=1, batch_size=32,
              on_start=lambda: calls.append("start"), on_run=on_run)  # fmt: skip
    assert calls == ["start", "run"]


def test_progress_bars_and_lines_go_to_stderr(data, capsys):
    configs = {"fp": {**TINY, "conv": "fp"}}
    run_sweep(configs, data=data, seeds=(0, 1), epochs=1, batch_size=32, progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    assert "runs: " in err and "[2/2] fp, seed 1: test top-1" in err
    lines = []
    run_sweep(configs, data=data, seeds=(0,), epochs=1, batch_size=32, progress=lines.append)
    assert capsys.readouterr() == ("", "") and lines[0].startswith("[1/1] fp, seed 0")


def test_rerun_gives_the_saved_rows(result):
    """Runs are independent and deterministic: any of them, trained again, equals its row."""
    saved = SweepResult.from_json(result.out / "sweep.json")
    runs = [("M=2, N=1", 1), (FULL_PRECISION, 0)]
    again = rerun(saved, runs)
    assert [(r["label"], r["seed"]) for r in again.rows] == runs
    by_run = {(r["label"], r["seed"]): r for r in saved.rows}
    for row in again.rows:
        for key in ("test_top1", "test_top5", "test_loss", "train_top1", "train_loss"):
            assert row[key] == by_run[row["label"], row["seed"]][key], key
    with pytest.raises(ValueError, match=r"\('M=2, N=1', 7\) is not a \(label, seed\)"):
        rerun(saved, [("M=2, N=1", 7)])
