"""Tests of ``abcref oracle`` (abcref/cli/oracle.py): the real command and its exit status.

The library's tests (tests/oracle/) also check the command's exit status
where they exercise it in-process.
"""

import shutil
import subprocess
import sys

import numpy as np
import pytest

from abcref.oracle import export_suite
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
