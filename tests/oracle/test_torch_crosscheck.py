"""An independent PyTorch ABC-Net (examples/torch_abc.py) passes the oracle checks.

Op by op (the golden-vector suite) and as whole models (one training step
of a small ABC CNN and a small pre-activation ABC ResNet); planted
mistakes are reported at the right layer with their hints.

Skipped when torch is not installed. Run with ``pip install torch`` (CPU
build) and ``python -m pytest tests/oracle/test_torch_crosscheck.py``.
"""

import importlib.util
from pathlib import Path

import pytest

from abcref.cli import main
from abcref.oracle import check_against, check_model, export_suite, load_manifest

torch = pytest.importorskip("torch")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "torch_abc.py"


@pytest.fixture(scope="module")
def torch_abc():
    spec = importlib.util.spec_from_file_location("torch_abc", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_torch_implementation_passes_the_whole_suite(torch_abc, tmp_path, capsys):
    suite, out = tmp_path / "suite", tmp_path / "torch"
    export_suite(suite)
    assert torch_abc.main([str(suite), str(out)]) == 0
    names = [c["name"] for c in load_manifest(suite)["cases"]]
    assert sorted(p.stem for p in out.glob("*.npz")) == sorted(names)
    report = check_against(suite, out)
    assert report.ok, report.format()
    assert main(["oracle", "check", str(suite), "--against", str(out)]) == 0
    assert f"{len(names)} passed" in capsys.readouterr().out


def test_torch_with_printed_mask_is_caught(torch_abc, tmp_path, monkeypatch):
    """The same torch code with eq. (10) as printed fails, and the hint says why."""
    suite, out = tmp_path / "suite", tmp_path / "torch"
    export_suite(suite, cases=["abc_paper_s1_p1"])

    def printed_backward(ctx, grad):
        R, v = ctx.saved_tensors
        mask = ((R - v >= 0) & (R - v <= 1)).to(grad.dtype)
        return grad * mask, (grad * mask).sum().reshape(v.shape)

    monkeypatch.setattr(torch_abc.BinaryActivation, "backward", staticmethod(printed_backward))
    torch_abc.run_suite(suite, out)
    report = check_against(suite, out)
    assert not report.ok
    assert any("1[0 <= R - v <= 1]" in h for h in report.cases[0].hints)


# -- whole models ------------------------------------------------------------------------------
def _preactivation_resnet() -> bool:
    """abcref's cifar_resnet follows the pre-activation spec (its head has bn_final)."""
    from abcref.nn import build_model

    model = build_model({**torch_abc_configs()["cifar_resnet"]})
    names = dict(model.named_modules())
    return "bn_final" in names and "layer1.0.bn1" in names


def torch_abc_configs():
    spec = importlib.util.spec_from_file_location("torch_abc_configs", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CONFIGS


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_torch_small_cnn_passes_the_model_check(torch_abc, tmp_path, mode, capsys):
    run = torch_abc.run_model("small_cnn", tmp_path / "run", mode=mode)
    report = check_model(run)
    assert report.ok, report.format()
    assert len(report.layers) == 11 and all(x.result.ok for x in report.layers)
    assert len(report.gradients) == 20 and report.loss.ok
    assert main(["oracle", "check-model", str(run)]) == 0
    assert capsys.readouterr().out.strip().endswith("-> OK")


def test_torch_bn_after_pool_is_reported_at_the_pool(torch_abc, tmp_path):
    run = torch_abc.run_model("small_cnn", tmp_path / "run", plant="bn-after-pool")
    report = check_model(run)
    assert not report.ok
    first = report.first_divergence
    assert (first.name, first.own_input) == ("pool3", "your conv3 output")
    assert first.own_input_ok is False
    assert len(first.hints) == 1
    assert first.hints[0].startswith(
        "layer order: your pool3 output matches bn3 applied before pool3; your model runs "
        "bn3 -> pool3, abcref runs pool3 -> bn3 (section 3.3"
    )
    assert [x.name for x in report.layers if x.result.ok] == [
        "conv1",
        "bn1",
        "conv2",
        "bn2",
        "conv3",
    ]
    assert main(["oracle", "check-model", str(run)]) == 1


def test_torch_channel_wise_alphas_are_named(torch_abc, tmp_path):
    report = check_model(torch_abc.run_model("small_cnn", tmp_path / "run", plant="channel-wise"))
    first = report.first_divergence
    assert first.name == "conv2"
    assert first.hints[0].startswith("matches channel-wise alphas (per_channel=True")


def test_torch_printed_mask_is_named_at_the_gradient(torch_abc, tmp_path):
    report = check_model(torch_abc.run_model("small_cnn", tmp_path / "run", plant="printed-mask"))
    assert report.first_divergence is None and report.logits.ok
    grad = report.first_gradient_divergence
    assert grad.name == "conv4.v"
    assert grad.hints[0].startswith("matches the STE mask 1[0 <= R - v <= 1] (eq. 10 as printed)")


def test_torch_resnet_passes_the_model_check(torch_abc, tmp_path):
    if not _preactivation_resnet():
        pytest.skip("abcref's cifar_resnet predates the pre-activation block of the example")
    run = torch_abc.run_model("cifar_resnet", tmp_path / "run")
    report = check_model(run)
    assert report.ok, report.format()
    names = {x.name for x in report.layers}
    assert {"layer1.0.bn1", "layer2.0.shortcut.conv", "bn_final", "fc"} <= names
