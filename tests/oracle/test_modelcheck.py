"""Tests of the whole-model check (abcref.oracle.modelrun, modelcheck, modelhints).

The "other implementation" here is abcref itself with a planted mistake
(a layer order, a scope, an STE reading, a BN mode) whose run is written
with the config of the correct model; tests/oracle/test_torch_crosscheck.py
does the same from PyTorch.
"""

import json
import random
import shutil

import numpy as np
import pytest

from abcref.cli import main
from abcref.nn import Sequential, build_model
from abcref.oracle import OracleFormatError, check_model, export_model_run, load_arrays
from abcref.oracle.format import write_arrays

CONFIG = {
    "arch": "small_cnn",
    "widths": [4, 6, 6, 6],
    "conv": {"kind": "abc", "M": 2, "N": 2},
    "dtype": "float64",
    "seed": 3,
}


def _batch(n=6):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 1, 8, 8)), rng.integers(0, 10, n)


def _export(directory, model, *, config=None, **kwargs):
    x, y = _batch()
    if config is not None:
        model.config = config
    export_model_run(directory, model, x, y, **kwargs)
    return directory


@pytest.fixture
def good_run(tmp_path):
    return _export(tmp_path / "run", build_model(CONFIG))


def _with_conv(**options):
    return {**CONFIG, "conv": {**CONFIG["conv"], **options}}


# -- agreeing runs ----------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_abcref_agrees_with_its_own_run(tmp_path, mode, capsys):
    run = _export(tmp_path / "run", build_model(CONFIG), mode=mode)
    report = check_model(run)
    assert report.ok and report.first_divergence is None, report.format()
    assert len(report.layers) == 11 and len(report.gradients) == 20
    assert main(["oracle", "check-model", str(run)]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("-> OK") and "11 exported, 11 agree" in out


def test_residual_model_agrees_with_its_own_run(tmp_path):
    """Nested modules: blocks, their children and projection shortcuts, each compared."""
    config = {
        "arch": "cifar_resnet",
        "depth": 8,
        "width": 4,
        "in_channels": 1,
        "conv": {"kind": "abc", "M": 2, "N": 2},
        "dtype": "float64",
    }
    run = _export(tmp_path / "run", build_model(config))
    report = check_model(run)
    assert report.ok, report.format()
    names = [x.name for x in report.layers]
    assert {"layer1.0", "layer2.0.shortcut.conv", "layer3", "fc"} <= set(names)
    assert names.index("layer1.0.conv2") < names.index("layer1.0") < names.index("layer2.0")


def test_logits_only_run(tmp_path):
    run = _export(tmp_path / "run", build_model(CONFIG), layers=False, gradients=False)
    report = check_model(run)
    assert report.ok and report.layers == [] and report.gradients == []


# -- planted mistakes ----------------------------------------------------------------------
def test_bn_after_pool_is_reported_at_the_pool(tmp_path, capsys):
    model = build_model(CONFIG)
    children = model.children()
    order = ["conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "pool3", "conv4", "bn4", "gap", "fc"]
    swapped = Sequential(**{name: children[name] for name in order})
    run = _export(tmp_path / "run", swapped, config=model.config)
    report = check_model(run)
    first = report.first_divergence
    assert first.name == "pool3" and first.own_input_ok is False
    assert first.own_input == "your conv3 output"
    assert first.hints == [
        "layer order: your pool3 output matches bn3 applied before pool3; your model runs "
        "bn3 -> pool3, abcref runs pool3 -> bn3 (section 3.3: max-pool before batch norm and "
        "binarization, because max-pooling binary values gives mostly +1; conventions.md #11)"
    ]
    assert [x.name for x in report.layers if x.result.ok] == [
        "conv1",
        "bn1",
        "conv2",
        "bn2",
        "conv3",
    ]
    assert main(["oracle", "check-model", str(run)]) == 1
    out = capsys.readouterr().out
    assert "first divergence: pool3 (MaxPool2d)" in out and out.strip().endswith("-> NOT OK")


def test_channel_wise_alphas_are_named_at_the_first_abc_conv(tmp_path):
    run = _export(tmp_path / "run", build_model(_with_conv(per_channel=True)), config=None)
    header = json.loads((run / "model.json").read_text())
    header["config"]["conv"]["per_channel"] = False
    (run / "model.json").write_text(json.dumps(header))
    report = check_model(run)
    first = report.first_divergence
    assert first.name == "conv2" and first.kind == "ABCConv2d"
    assert len(first.hints) == 1 and first.hints[0].startswith(
        "matches channel-wise alphas (per_channel=True"
    )
    # every ABC conv diverges on its own input, and each is named
    diverging = [x.name for x in report.layers if x.diverges]
    assert diverging == ["conv2", "conv3", "conv4"]


def test_weight_ste_reading_is_named_at_the_last_abc_conv_gradient(tmp_path):
    run = _export(tmp_path / "run", build_model(_with_conv(weight_ste="sum")))
    header = json.loads((run / "model.json").read_text())
    header["config"]["conv"]["weight_ste"] = "paper"
    (run / "model.json").write_text(json.dumps(header))
    report = check_model(run)
    assert report.first_divergence is None and report.logits.ok
    grad = report.first_gradient_divergence
    assert grad.name == "conv4.weight"
    assert len(grad.hints) == 1 and grad.hints[0].startswith("matches weight_ste='sum'")
    assert grad.hints[0].endswith("[outputs: dW]")


def test_batch_norm_in_the_other_mode_is_named(tmp_path):
    run = _export(tmp_path / "run", build_model(CONFIG), mode="eval", gradients=False)
    header = json.loads((run / "model.json").read_text())
    header["mode"] = "train"
    (run / "model.json").write_text(json.dumps(header))
    report = check_model(run)
    first = report.first_divergence
    assert first.name == "bn1"
    assert first.hints == [
        "bn1 matches batch norm with its running statistics (eval mode); this run is in train mode"
    ]


def test_without_layer_outputs_the_divergence_is_not_located(tmp_path):
    run = _export(tmp_path / "run", build_model(_with_conv(per_channel=True)), layers=False)
    header = json.loads((run / "model.json").read_text())
    header["config"]["conv"]["per_channel"] = False
    (run / "model.json").write_text(json.dumps(header))
    report = check_model(run)
    assert not report.ok and report.first_divergence is None
    assert "first divergence: not located" in report.format()


# -- unusable runs ----------------------------------------------------------------------
def _edit_json(run, **changes):
    header = json.loads((run / "model.json").read_text())
    header.update(changes)
    (run / "model.json").write_text(json.dumps(header))


def _edit_npz(run, name, change):
    data = load_arrays(run / name)
    change(data)
    write_arrays(run / name, data)


def _drop(key):
    return lambda data: data.pop(key)


UNUSABLE = {
    "no model.json": (lambda run: (run / "model.json").unlink(), "does not exist"),
    "model.json not JSON": (
        lambda run: (run / "model.json").write_text("{"),
        "is not valid JSON",
    ),
    "model.json a list": (lambda run: (run / "model.json").write_text("[]"), "JSON object"),
    "wrong format": (lambda run: _edit_json(run, format="x"), "'format' must be"),
    "wrong version": (lambda run: _edit_json(run, format_version=2), "format_version 2"),
    "bad mode": (lambda run: _edit_json(run, mode="test"), "'mode' must be 'train' or 'eval'"),
    "bad config": (
        lambda run: _edit_json(run, config={"arch": "vgg"}),
        "the config does not build a model",
    ),
    "no parameters": (lambda run: (run / "parameters.npz").unlink(), "does not exist"),
    "missing parameter": (
        lambda run: _edit_npz(run, "parameters.npz", _drop("conv2.v")),
        "missing ['conv2.v'], unexpected []",
    ),
    "extra parameter": (
        lambda run: _edit_npz(
            run, "parameters.npz", lambda d: d.__setitem__("conv1.bias", np.zeros(4))
        ),
        "missing [], unexpected ['conv1.bias']",
    ),
    "float32 parameters": (
        lambda run: _edit_npz(
            run,
            "parameters.npz",
            lambda d: d.update({k: v.astype(np.float32) for k, v in d.items()}),
        ),
        "has dtype float32, the model expects float64",
    ),
    "NaN parameter": (
        lambda run: _edit_npz(
            run, "parameters.npz", lambda d: d.__setitem__("fc.bias", np.full(10, np.nan))
        ),
        "NaN or Inf",
    ),
    "no x": (lambda run: _edit_npz(run, "batch.npz", _drop("x")), "holds no array 'x'"),
    "float32 x": (
        lambda run: _edit_npz(run, "batch.npz", lambda d: d.__setitem__("x", d["x"].astype("f4"))),
        "x must be a 4-d float64 array",
    ),
    "labels out of range": (
        lambda run: _edit_npz(run, "batch.npz", lambda d: d.__setitem__("y", d["y"] + 10)),
        "labels y must lie in [0, 10)",
    ),
    "float labels": (
        lambda run: _edit_npz(run, "batch.npz", lambda d: d.__setitem__("y", d["y"] * 1.0)),
        "integer labels",
    ),
    "gradients without labels": (
        lambda run: _edit_npz(run, "batch.npz", _drop("y")),
        "needs the labels y",
    ),
    "no logits": (
        lambda run: _edit_npz(run, "outputs.npz", _drop("logits")),
        "holds no array 'logits'",
    ),
    "wrong image size": (
        lambda run: _edit_npz(run, "batch.npz", lambda d: d.__setitem__("x", d["x"][:, :, :1])),
        "cannot run on batch.npz",
    ),
    "truncated outputs": (
        lambda run: (run / "outputs.npz").write_bytes((run / "outputs.npz").read_bytes()[:99]),
        "corrupt or truncated array",
    ),
    "outputs.npz a directory": (
        lambda run: ((run / "outputs.npz").unlink(), (run / "outputs.npz").mkdir()),
        "is a directory, expected an array file",
    ),
}


@pytest.mark.parametrize("damage", sorted(UNUSABLE))
def test_unusable_run_is_a_clear_error(good_run, damage, capsys):
    change, text = UNUSABLE[damage]
    change(good_run)
    with pytest.raises(OracleFormatError) as err:
        check_model(good_run)
    assert text in str(err.value)
    assert main(["oracle", "check-model", str(good_run)]) == 2
    _, stderr = capsys.readouterr()
    assert stderr.startswith("abcref oracle check-model: error: ") and stderr.count("\n") == 1


def test_not_a_directory(tmp_path):
    with pytest.raises(OracleFormatError, match="is not a directory"):
        check_model(tmp_path / "nothing")


def test_extra_content_is_listed_as_warnings(good_run):
    (good_run / "notes.txt").write_text("run of 1 May")
    _edit_npz(good_run, "outputs.npz", lambda d: d.__setitem__("conv9", np.zeros(1)))
    _edit_npz(good_run, "gradients.npz", lambda d: d.__setitem__("conv9.weight", np.zeros(1)))
    _edit_npz(good_run, "batch.npz", lambda d: d.__setitem__("z", np.zeros(1)))
    _edit_npz(
        good_run,
        "parameters.npz",
        lambda d: d.__setitem__("bn1.num_batches_tracked", np.array(1)),  # PyTorch's: ignored
    )
    report = check_model(good_run)
    assert report.ok
    text = "\n".join(report.warnings)
    assert "notes.txt' is not part of a model run" in text
    assert "outputs.npz: 'conv9' names no layer" in text
    assert "gradients.npz: 'conv9.weight' names no parameter" in text
    assert "array(s) ['z']" in text
    assert len(report.warnings) == 4


def test_non_finite_layer_output_is_a_mismatch(good_run):
    _edit_npz(good_run, "outputs.npz", lambda d: d["conv2"].__setitem__((0, 0, 0, 0), np.nan))
    report = check_model(good_run)
    first = report.first_divergence
    assert first.name == "conv2" and first.own_input == "your bn1 output"
    assert [x.name for x in report.layers if not x.result.ok] == ["conv2"]  # NaN fed nothing


def test_missing_gradients_are_listed(good_run):
    _edit_npz(good_run, "gradients.npz", _drop("conv2.v"))
    report = check_model(good_run)
    assert report.ok and report.not_exported == ["conv2.v"]
    assert "gradients not exported: conv2.v" in report.format()


def test_fuzzed_run_files_never_crash(good_run, tmp_path):
    rng = random.Random(5)
    names = ["parameters.npz", "batch.npz", "outputs.npz", "gradients.npz", "model.json"]
    pristine = tmp_path / "pristine"
    shutil.copytree(good_run, pristine)
    outcomes = set()
    for _ in range(60):
        name = rng.choice(names)
        data = bytearray((pristine / name).read_bytes())
        if rng.random() < 0.4:
            data = data[: rng.randrange(len(data))]
        else:
            for _ in range(rng.randint(1, 6)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        (good_run / name).write_bytes(bytes(data))
        try:
            outcomes.add("ok" if check_model(good_run).ok else "differs")
        except OracleFormatError as err:
            assert "\n" not in str(err)
            outcomes.add("error")
        (good_run / name).write_bytes((pristine / name).read_bytes())
    assert "error" in outcomes
