"""Running the ``abcref`` command in-process, for the tests of abcref/cli."""

from __future__ import annotations

from abcref.cli import main

#: A model and data small enough for a training run of about a second.
TINY = ["--widths", "4", "8", "--limit", "96", "--batch-size", "32", "--no-progress"]


def run(capsys, *argv):
    """Run ``abcref argv``; return (status, stdout, stderr)."""
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err
