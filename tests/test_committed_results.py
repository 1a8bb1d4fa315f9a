"""The numbers the repository shows are what its commands wrote, and the commands still write them.

- Every block embedded in README.md and docs/*.md (``<!-- embed: PATH -->``)
  equals the file it names, and README.md embeds the reproduce, Table 3 and
  benchmark blocks and shows the reproduce heatmap and curves.
- Every Markdown file of every ``results/`` folder equals what the
  formatting code renders from the folder's JSON files, and so do
  ``benchmarks/results.md`` and ``output.txt`` from ``results.json``.
- Numbers a document quotes from a tutorial notebook (between
  ``<!-- numbers from: tutorials/NN.ipynb -->`` and ``<!-- /numbers -->``)
  appear in that notebook, which the tutorial tests execute.
- Spot checks: a few runs of every committed sweep, trained again with the
  saved setting, give exactly the saved accuracies (runs are independent and
  deterministic: single-threaded BLAS, as the ``abcref`` command runs).

Nothing here times anything. A failure names the command that regenerates
what it checks.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


embed = _load("embed_results", ROOT / "scripts" / "embed_results.py")
run_all = _load("run_all", ROOT / "benchmarks" / "run_all.py")

FOLDERS = embed.result_folders(RESULTS)


def _regenerate(folder: Path, *, formatting: bool = True) -> str:
    command = json.loads((folder / "run.json").read_text())["command"]
    text = (
        f"regenerate with `{command} --out results/{folder.name} --overwrite` (training), "
        "then `python scripts/embed_results.py`"
    )
    if formatting:
        text += (
            "; after a change of formatting code alone: `python scripts/embed_results.py --render`"
        )
    return text


# -- documents embed the committed files ------------------------------------------------


@pytest.mark.parametrize("document", embed.DOCUMENTS, ids=lambda p: p.name)
def test_every_embedded_block_equals_its_file(document):
    for path, text in embedded(document):
        source = ROOT / path
        assert source.is_file(), f"{document.name} embeds {path}, which does not exist"
        assert text == source.read_text(encoding="utf-8"), (
            f"{document.name}: the block of {path} differs from the file; "
            "run `python scripts/embed_results.py` (never edit the block by hand)"
        )


def embedded(document: Path):
    return embed.embedded(document)


def test_the_readme_shows_the_committed_results():
    readme = ROOT / "README.md"
    blocks = [path for path, _ in embedded(readme)]
    for path in (
        "results/reproduce/results.md",
        "results/table3/results.md",
        "benchmarks/results.md",
    ):
        assert path in blocks, f"README.md does not embed {path}"
    text = readme.read_text(encoding="utf-8")
    # the figures section shows the run the table comes from
    assert "(results/reproduce/heatmap.png)" in text
    assert "(results/reproduce/training_curves.png)" in text


def test_the_embedder_replaces_blocks_and_nothing_else(tmp_path):
    (tmp_path / "a.md").write_text("new\ntext\n")
    document = "intro\n<!-- embed: a.md -->\nold\n<!-- /embed -->\noutro <!-- embed: a.md -->\n"
    document += "x<!-- /embed -->\n"
    assert embed.embed(document, root=tmp_path) == (
        "intro\n<!-- embed: a.md -->\nnew\ntext\n<!-- /embed -->\noutro <!-- embed: a.md -->\n"
        "new\ntext\n<!-- /embed -->\n"
    )


_QUOTED = re.compile(r"<!-- numbers from: (?P<path>\S+) -->\n(?P<text>.*?)<!-- /numbers -->", re.S)
_DECIMAL = re.compile(r"\d+\.\d+(?:e[-+]?\d+)?%?")


def _notebook_text(path: Path) -> str:
    """The sources and printed outputs of a notebook's cells."""
    parts = []
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        parts.append("".join(cell["source"]))
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", "")))
            parts.append("".join(output.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


@pytest.mark.parametrize("document", embed.DOCUMENTS, ids=lambda p: p.name)
def test_numbers_quoted_from_a_notebook_are_in_it(document):
    for match in _QUOTED.finditer(document.read_text(encoding="utf-8")):
        notebook = ROOT / match["path"]
        text = _notebook_text(notebook)
        missing = [n for n in _DECIMAL.findall(match["text"]) if n not in text]
        assert not missing, (
            f"{document.name} quotes {missing} from {match['path']}, whose executed cells do "
            "not print them: copy the numbers the notebook prints now (python "
            "tutorials/_build.py rebuilds it)"
        )


def test_the_quote_checker_sees_numbers():
    quoted = _QUOTED.findall((ROOT / "docs" / "training.md").read_text(encoding="utf-8"))
    assert len(quoted) >= 2 and all(len(_DECIMAL.findall(text)) >= 9 for _, text in quoted)


# -- every committed Markdown file is what the code renders from the committed JSON ---------


def test_the_results_folders_are_there():
    names = {folder.name for folder in FOLDERS}
    assert {"reproduce", "table3", "section52", "table2"} <= names, names


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_committed_markdown_equals_what_the_json_renders(folder):
    rendered = embed.render_folder(folder)
    assert "results.md" in rendered
    for name, text in rendered.items():
        assert (folder / name).read_text(encoding="utf-8") == text, (
            f"results/{folder.name}/{name} is not what the code renders from the folder's JSON "
            f"files; {_regenerate(folder)}"
        )


def test_committed_benchmarks_equal_what_their_json_renders():
    record = json.loads((ROOT / "benchmarks" / "results.json").read_text(encoding="utf-8"))
    hint = "run `python benchmarks/run_all.py --render` (or run_all.py to measure again)"
    for name, text in (
        ("results.md", run_all.render(record)),
        ("output.txt", run_all.render_output(record)),
    ):
        assert (ROOT / "benchmarks" / name).read_text(encoding="utf-8") == text, (
            f"benchmarks/{name} differs from benchmarks/results.json; {hint}"
        )
    assert {name for name, _, _ in run_all.RUNS} == set(record["runs"])


def test_the_sweep_speedup_docs_quote_is_what_its_json_renders(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")  # what bench_sweep.py sets on import
    bench_sweep = _load("bench_sweep", ROOT / "benchmarks" / "bench_sweep.py")
    measured = json.loads((ROOT / "benchmarks" / "sweep.json").read_text(encoding="utf-8"))
    assert (ROOT / "benchmarks" / "sweep.md").read_text(encoding="utf-8") == bench_sweep.markdown(
        measured
    ), "run `python benchmarks/bench_sweep.py --render benchmarks/sweep.json --markdown ...`"
    assert measured["identical"] is True


# -- spot checks: a few runs of each committed sweep, trained again ----------------------------

#: folder -> runs (label, seed) trained again: the cheapest few, each a few seconds.
SPOT_CHECKS = {
    "reproduce": [("full precision", 0), ("M=1, N=1", 0)],
    "reproduce-5-epochs": [("M=1, N=3", 1)],
    "reproduce-narrow": [("M=3, N=1", 2)],
    "table3": [("BNN", 0)],
    "section52": [("ABC M=1, N=2", 1)],
}

_RERUN = """
import json, sys
from abcref.apps.results import SweepResult
from abcref.apps.sweep import rerun
saved = SweepResult.from_json(sys.argv[1])
runs = [tuple(run) for run in json.loads(sys.argv[2])]
print(json.dumps(rerun(saved, runs).rows))
"""


@pytest.mark.parametrize("name", sorted(SPOT_CHECKS))
def test_a_rerun_gives_the_committed_accuracies(name):
    folder = RESULTS / name
    runs = SPOT_CHECKS[name]
    env = {
        **os.environ,
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-c", _RERUN, str(folder / "sweep.json"), json.dumps(runs)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    saved = {
        (r["label"], r["seed"]): r for r in json.loads((folder / "sweep.json").read_text())["rows"]
    }
    for row in rows:
        committed = saved[row["label"], row["seed"]]
        for metric in ("test_top1", "test_top5", "train_top1"):
            assert row[metric] == committed[metric], (
                f"results/{name}: run ({row['label']!r}, seed {row['seed']}) now gives {metric} "
                f"{row[metric]!r}, the committed sweep.json says {committed[metric]!r}. If the "
                f"change of results is intended, {_regenerate(folder, formatting=False)}. (The "
                "runs are deterministic for one NumPy/BLAS build and CPU; another machine may "
                "round differently.)"
            )


def test_a_table2_row_is_recomputed_exactly():
    from abcref.apps.compare.table2 import table2_summary

    folder = RESULTS / "table2"
    settings = json.loads((folder / "config.json").read_text())["settings"]
    committed = json.loads((folder / "table2.json").read_text())
    (row,) = table2_summary([("resnet18", 1, 1)], **settings, progress=False)
    assert row == committed[0], f"results/table2 is stale; {_regenerate(folder)}"
