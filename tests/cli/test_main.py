"""Tests of the ``abcref`` command's entry points: abcref/cli/__init__.py and __main__.py.

The help of every subcommand, the console script, ``python -m abcref`` and
``python -m abcref.cli``, and the OpenBLAS default set before NumPy loads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli._helpers import run


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], ["reproduce", "train", "eval", "sweep", "summary", "figures", "oracle", "compare",
              "exit status", "130 interrupted"]),
        (["train"], ["--M", "--N", "--fp", "--per-channel", "--weight-ste", "--init-from",
                     "--resume", "--overwrite", "--activation", "--optimizer", "default 64",
                     "examples:", "small_cnn", "--fp --activation hardtanh",
                     "--init-from runs/fp-hardtanh/model.npz"]),
        (["eval"], ["CHECKPOINT", "--bits", "identical", "examples:"]),
        (["sweep"], ["--seeds", "table.md", "heatmap.png", "(default 1 3 5)", "examples:",
                     "--resume", "--overwrite", "--no-progress"]),
        (["reproduce"], ["--quick", "table.md", "results.md", "run.json", "16 32 32 32",
                         "(default: runs/reproduce)", "Exit status 1", "--resume", "--overwrite",
                         "(default 0 1 2)", "--widths", "--widths 8 16 16 16 --epochs 5"]),
        (["figures"], ["--quick", "(default: figures)", "from abcref reproduce", "--no-progress",
                       "--overwrite"]),
        (["summary"], ["--checkpoint", "--input-shape"]),
        (["oracle"], ["export", "check", "list"]),
        (["oracle", "check"], ["--against", "Exit status 0"]),
        (["compare"], ["table3", "section52", "table2"]),
        (["compare", "table3"], ["--extra", "--no-progress, --quiet", "(default 3)",
                                 "(default 0 1 2)", "--weight-decay", "--resume"]),
        (["compare", "section52"], ["--Ks", "(default 1 2 3 4)", "default bwn", "--out"]),
        (["compare", "table2"], ["--image-size", "(default: 224)", "--json", "--overwrite"]),
    ],
)  # fmt: skip
def test_help(capsys, argv, expected):
    status, out, _ = run(capsys, *argv, "--help")
    assert status == 0
    for text in expected:
        assert text in out, f"{text!r} missing from `abcref {' '.join(argv)} --help`"


def test_console_script_help():
    exe = shutil.which("abcref", path=str(Path(sys.executable).parent)) or shutil.which("abcref")
    assert exe is not None, "the abcref console script is not installed"
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "abcref reproduce" in proc.stdout


@pytest.mark.parametrize("module", ["abcref", "abcref.cli"])
def test_python_dash_m(module):
    proc = subprocess.run(
        [sys.executable, "-m", module, "train", "--epochs", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        "abcref train: error: argument --epochs: expected an integer >= 1, got 0 "
        "(see abcref train --help)\n"
    )


@pytest.mark.parametrize(("preset", "expected"), [(None, "1"), ("3", "3")])
def test_openblas_single_threaded_unless_set(preset, expected):
    """The command pins OpenBLAS to one thread before NumPy loads, unless the user set it."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if preset is not None:
        env["OPENBLAS_NUM_THREADS"] = preset
    code = (
        "import sys, os, abcref\n"
        "assert 'numpy' not in sys.modules, 'importing abcref loaded NumPy'\n"
        "import abcref.cli\n"
        "print(os.environ['OPENBLAS_NUM_THREADS'])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == expected
