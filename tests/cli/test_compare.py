"""Tests of ``abcref compare`` (abcref/cli/compare.py): table3, section52 and table2 end to end."""

import json
import shlex

from abcref.apps.compare.section52 import render_section52_folder
from abcref.apps.compare.table2 import render_table2_folder
from abcref.apps.compare.table3 import render_table3_folder
from tests.cli._helpers import run

TINY = {"arch": "small_cnn", "widths": [4, 4, 4, 4]}


def test_compare_table3_end_to_end(tmp_path, capsys):
    out = tmp_path / "t3"
    base = json.dumps({**TINY})
    argv = [
        "compare",
        "table3",
        "--epochs",
        "1",
        "--batch-size",
        "256",
        "--seeds",
        "0",
        "--base",
        base,
        "--out",
        str(out),
        "--quiet",
    ]
    status, text, _ = run(capsys, *argv)
    assert status == 0
    assert "| BNN | 1 | 1 | 42.2 |" in text and "ABC M=5, FP act" in text
    for name in ("results.md", "run.json", "table3.md", "table3.csv", "runs.csv", "table3.png",
                 "sweep.json"):  # fmt: skip
        assert (out / name).is_file(), name
    rendered = render_table3_folder(out)
    assert {name: (out / name).read_text() for name in rendered} == rendered
    command = json.loads((out / "run.json").read_text())["command"]
    assert command == f"abcref compare table3 --base {shlex.quote(base)} --seeds 0 --epochs 1 " \
        "--batch-size 256"  # fmt: skip
    assert rendered["results.md"].startswith(f"`{command}`: every system is `small_cnn` widths 4")
    assert "Of the 21 pairs of systems the paper ranks" in rendered["results.md"]
    assert (out / "table3.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv_lines = (out / "table3.csv").read_text().splitlines()
    assert csv_lines[0].startswith("label,W,A,paper_top1") and len(csv_lines) == 1 + 7


def test_compare_section52_end_to_end(tmp_path, capsys):
    argv = [
        "compare",
        "section52",
        "--Ks",
        "1",
        "2",
        "--epochs",
        "1",
        "--batch-size",
        "256",
        "--seeds",
        "0",
        "--base",
        json.dumps(TINY),
        "--out",
        str(tmp_path),
        "--quiet",
    ]
    status, text, _ = run(capsys, *argv)
    assert status == 0
    assert text.startswith("| K | ABC M=1, N=K top-1 (%)") and "\n| 2 | " in text
    rendered = render_section52_folder(tmp_path)
    assert {name: (tmp_path / name).read_text() for name in rendered} == rendered
    assert "- K = 2: ABC (M=1, N=2) is " in rendered["results.md"]
    costs = json.loads((tmp_path / "section52_costs.json").read_text())
    assert (
        costs["2-bit act, bwn weights"]["cost_square"] == 2 * costs["ABC M=1, N=2"]["cost_square"]
    )


def test_compare_table2_prints_and_writes(tmp_path, capsys):
    argv = ["compare", "table2", "--image-size", "32", "--width", "4", "--out", tmp_path]
    status, out, err = run(capsys, *argv)
    assert status == 0
    assert "| res18 |" in out and (tmp_path / "table2.md").read_text() in out
    assert err  # progress lines on stderr, so that stdout holds only the table
    rendered = render_table2_folder(tmp_path)
    assert {name: (tmp_path / name).read_text() for name in rendered} == rendered
    assert rendered["results.md"].startswith("`abcref compare table2 --image-size 32 --width 4`")
    rows = json.loads((tmp_path / "table2.json").read_text())
    status, out, err = run(capsys, *argv[:-2], "--json", "--no-progress")
    assert status == 0 and json.loads(out) == rows and err == ""


def test_compare_shares_the_training_flags(capsys):
    """--seeds, --weight-decay, --limit: the same flags, checked the same way, as sweep's."""
    status, _, err = run(capsys, "compare", "table3", "--seeds", "-1")
    assert status == 2 and "argument --seeds: expected an integer >= 0, got -1" in err
    status, _, err = run(capsys, "compare", "section52", "--lr", "0")
    assert status == 2 and "argument --lr: expected a finite number > 0, got 0" in err
    status, _, err = run(capsys, "compare", "table3", "--seeds", "0", "0", "--limit", "16")
    assert status == 2 and "seeds must be distinct" in err


def test_compare_out_is_a_run_folder(tmp_path, capsys):
    """A second comparison into the same --out is refused; --resume completes (here: reprints)."""
    out = tmp_path / "t3"
    argv = ["compare", "table3", "--epochs", "1", "--batch-size", "256", "--seeds", "0",
            "--base", json.dumps(TINY), "--limit", "64", "--out", out,
            "--no-progress"]  # fmt: skip
    status, first, _ = run(capsys, *argv)
    assert status == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    status, _, err = run(capsys, *argv)
    assert status == 2 and "holds an abcref compare table3 run; --resume continues it" in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    status, again, err = run(capsys, "compare", "table3", "--out", out, "--resume", "--quiet")
    assert status == 0, err
    assert again.split("\n\nWall time")[0] == first.split("\n\nWall time")[0]
    status, _, err = run(capsys, "compare", "table3", "--out", out, "--resume", "--seeds", "1")
    assert status == 2 and "--seeds 1 (saved 0)" in err
