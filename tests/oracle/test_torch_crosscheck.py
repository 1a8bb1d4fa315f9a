"""An independent PyTorch ABC-Net (examples/torch_abc.py) passes the oracle check.

Skipped when torch is not installed. Run with ``pip install torch`` (CPU
build) and ``python -m pytest tests/oracle/test_torch_crosscheck.py``.
"""

import importlib.util
from pathlib import Path

import pytest

from abcref.cli import main
from abcref.oracle import check_against, export_suite, load_manifest

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
