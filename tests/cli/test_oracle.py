"""Tests of ``abcref oracle`` (abcref/cli/oracle.py): the real command and its exit status.

The library's tests (tests/oracle/) also check the command's exit status
where they exercise it in-process.
"""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from abcref.oracle import export_suite
from tests.cli._helpers import run
from tests.oracle._suite import rewrite_case


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    directory = tmp_path_factory.mktemp("suite")
    export_suite(directory)
    return directory


@pytest.fixture
def copy(suite, tmp_path):
    """A writable copy of the suite: 'another implementation' that agrees."""
    other = tmp_path / "other"
    shutil.copytree(suite, other)
    return other


def test_command_line_exit_codes(suite, copy):
    """The real command path: ``python -m abcref.cli oracle ...`` and its exit status."""

    def run(*args):
        cmd = [sys.executable, "-m", "abcref.cli", "oracle", *args]
        return subprocess.run(cmd, capture_output=True, text=True, check=False)

    ok = run("check", str(suite), "--against", str(copy), "--cases", "xnor_*")
    assert ok.returncode == 0 and "6 passed" in ok.stdout
    rewrite_case(copy, "xnor_c1_p0", out=np.zeros((2, 3, 3, 3), dtype=np.int64))
    bad = run("check", str(suite), "--against", str(copy), "--cases", "xnor_*")
    assert bad.returncode == 1 and "FAIL    xnor_c1_p0" in bad.stdout
    broken = run("check", str(copy / "missing"), "--against", str(copy))
    assert broken.returncode == 2 and "manifest.json" in broken.stderr


# -- every exit status, in-process -------------------------------------------------------------
def _check(capsys, suite, other, *extra):
    return run(capsys, "oracle", "check", suite, "--against", other, *extra)


def test_exit_0_when_every_case_passes(capsys, suite, copy):
    status, out, err = _check(capsys, suite, copy)
    assert status == 0 and out.strip().endswith("-> OK") and err == ""


@pytest.mark.parametrize("verdict", ["FAIL", "MISSING", "ERROR"])
def test_exit_1_for_each_negative_verdict(capsys, suite, copy, verdict):
    path = copy / "xnor_c1_p0.npz"
    if verdict == "FAIL":
        rewrite_case(copy, "xnor_c1_p0", out=np.zeros((2, 3, 3, 3), dtype=np.int64))
    elif verdict == "MISSING":
        path.unlink()
    else:
        path.write_bytes(b"truncated")
    status, out, err = _check(capsys, suite, copy, "--cases", "xnor_*")
    assert status == 1 and f"{verdict:<7} xnor_c1_p0" in out and err == ""
    assert out.strip().endswith("-> NOT OK")


def _break_manifest(directory):
    (directory / "manifest.json").write_text('{"format": "abcref-oracle"}')


def _break_reference_case(directory):
    (directory / "xnor_c1_p0.npz").write_bytes(b"")


def _contradicting_manifest(directory):
    """A valid manifest in OTHER that declares other outputs than the reference."""
    manifest = json.loads((directory / "manifest.json").read_text())
    case = next(c for c in manifest["cases"] if c["name"] == "abc_paper_s1_p1")
    del case["outputs"]["dbeta"]
    (directory / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("damage", "where", "text"),
    [
        (_break_manifest, "reference", "is missing required key(s)"),
        (lambda d: (d / "manifest.json").unlink(), "reference", "manifest.json' does not exist"),
        (_break_reference_case, "reference", "not an npz array (it looks like an empty file)"),
        (_contradicting_manifest, "other", "the reference suite declares"),
        (lambda d: (d / "manifest.json").write_text("[1,"), "other", "is not valid JSON"),
    ],
)
def test_exit_2_when_the_check_cannot_run(capsys, suite, copy, tmp_path, damage, where, text):
    reference, other = (copy, suite) if where == "reference" else (suite, copy)
    damage(copy)
    status, out, err = _check(capsys, reference, other)
    assert status == 2 and out == ""
    assert err.startswith("abcref oracle check: error: ") and text in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["--cases", "nothing_*"],  # a pattern that matches no case
        ["--against", "{missing}"],  # OTHER is not a directory
    ],
)
def test_exit_2_for_unusable_arguments(capsys, suite, copy, tmp_path, argv):
    argv = [a.format(missing=tmp_path / "nope") for a in argv]
    if argv[0] == "--against":
        status, _, err = run(capsys, "oracle", "check", suite, *argv)
    else:
        status, _, err = _check(capsys, suite, copy, *argv)
    assert status == 2 and err.startswith("abcref oracle check: error: ")
    assert err.count("\n") == 1


def test_exit_2_for_usage_errors(capsys, suite):
    status, _, err = run(capsys, "oracle", "check", suite)  # --against missing
    assert status == 2 and "the following arguments are required: --against" in err
    status, _, err = run(capsys, "oracle", "export", suite / "x", "--cases", "nope")
    assert status == 2 and "no case matches 'nope'" in err


def test_exit_130_when_interrupted(capsys, suite, copy, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("abcref.oracle.compare.check_against", interrupted)
    status, out, err = _check(capsys, suite, copy)
    assert status == 130 and err == "abcref oracle check: interrupted\n"


def test_check_model_exit_statuses(capsys, tmp_path, monkeypatch):
    """0 agrees, 1 differs, 2 unusable run, 130 interrupted (the library's tests cover why)."""
    from abcref.nn import build_model
    from abcref.oracle import export_model_run

    config = {"arch": "small_cnn", "widths": [2, 3], "dtype": "float64", "conv": "fp"}
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 1, 8, 8)), rng.integers(0, 10, 4)
    run_dir = export_model_run(tmp_path / "run", build_model(config), x, y)
    assert run(capsys, "oracle", "check-model", run_dir)[0] == 0
    rewrite = np.load(run_dir / "outputs.npz")
    outputs = {k: rewrite[k] for k in rewrite.files}
    outputs["logits"] = outputs["logits"] + 1.0
    np.savez(run_dir / "outputs.npz", **outputs)
    status, out, _ = run(capsys, "oracle", "check-model", run_dir)
    assert status == 1 and "logits: MISMATCH" in out
    status, _, err = run(capsys, "oracle", "check-model", tmp_path / "none")
    assert status == 2 and err.startswith("abcref oracle check-model: error: ")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("abcref.oracle.modelcheck.check_model", interrupted)
    status, _, err = run(capsys, "oracle", "check-model", run_dir)
    assert status == 130 and err == "abcref oracle check-model: interrupted\n"
