"""The measurements docs/training.md quotes are the ones the tutorials print.

docs/training.md §3 quotes tutorial 3 (weight decay under weight_ste="paper")
and §7 quotes tutorial 5 (fine-tuning from full precision). Every measured
number in those passages must appear in the stored output of the notebook
that measures it, so rebuilding a notebook after a change that moves its
numbers makes this test name the stale ones.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NUMBER = re.compile(r"\d+\.\d+(?:e[-+]\d+)?%?")


def notebook_output(name: str) -> str:
    notebook = json.loads((ROOT / "tutorials" / name).read_text(encoding="utf-8"))
    return "\n".join(
        "".join(output.get("text", ""))
        for cell in notebook["cells"]
        if cell["cell_type"] == "code"
        for output in cell.get("outputs", [])
    )


def passage(start: str, end: str) -> str:
    text = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    return text[text.index(start) : text.index(end, text.index(start))]


@pytest.mark.parametrize(
    ("start", "end", "notebook", "settings"),
    [
        # 0.05 and 0.9: SGD's learning rate and momentum, settings rather than measurements
        ("**Weight decay and", "Under SGD with", "03_abc_convolution.ipynb", {"0.05", "0.9"}),
        ("Measured by [tutorial 5]", "Single runs on 360", "05_training.ipynb", set()),
    ],
)  # fmt: skip
def test_quoted_measurements_are_printed_by_the_notebook(start, end, notebook, settings):
    quoted = set(NUMBER.findall(passage(start, end))) - settings
    assert len(quoted) >= 8  # the passage was found and holds its measurements
    printed = notebook_output(notebook)
    stale = sorted(n for n in quoted if n not in printed)
    assert not stale, f"docs/training.md quotes {stale}, which {notebook} does not print"
