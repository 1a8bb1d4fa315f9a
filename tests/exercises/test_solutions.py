"""The worked solutions (tutorials/solutions/*.py) pass every checker of their notebook.

One solution file per notebook, same stem as the notebook's source
(tutorials/src/<stem>.py). Each defines ``verdicts()``, the verdicts of
every checker of that notebook on its solutions; this proves that the
checkers accept correct answers, and that every exercise has a solution.
"""

import json
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from abcref.exercises import Verdict

TUTORIALS = Path(__file__).resolve().parents[2] / "tutorials"
SOLUTIONS = sorted((TUTORIALS / "solutions").glob("[0-9][0-9]_*.py"))
IMPORT = re.compile(r"^from abcref\.exercises import (\([^)]*\)|[\w, ]+)$", re.MULTILINE)
# The scripts import this checkout's abcref, installed or not.
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([str(TUTORIALS.parent), os.environ.get("PYTHONPATH", "")]),
}


def _checker_calls(source: Path) -> set[str]:
    """The distinct ``module.check_*(`` calls of the exercise checkers in a notebook's source.

    ``module`` is one imported by ``from abcref.exercises import ...``; one
    call per exercise (other ``check_*`` functions, e.g. abcref.gradcheck's,
    do not count).
    """
    text = source.read_text()
    modules = [
        name.split(" as ")[-1].strip()
        for names in IMPORT.findall(text)
        for name in names.strip("()").replace("\n", " ").split(",")
        if name.strip()
    ]
    calls = set()
    for module in modules:
        calls.update(re.findall(rf"\b{module}\.(check_\w+)\(", text))
    return calls


def test_there_are_solutions():
    assert len(SOLUTIONS) >= 3


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_every_exercise_has_an_accepted_solution(path):
    source = TUTORIALS / "src" / path.name
    assert source.exists(), f"{path.name} has no notebook source tutorials/src/{path.name}"
    verdicts = runpy.run_path(str(path))["verdicts"]()
    assert all(isinstance(v, Verdict) for v in verdicts)
    assert [v for v in verdicts if not v.ok] == []
    exercises = _checker_calls(source)
    assert exercises, f"{source.name} has no exercise"
    assert len(verdicts) == len(exercises), (
        f"{path.name} checks {len(verdicts)} solutions; {source.name}: {sorted(exercises)}"
    )
    assert len({v.exercise for v in verdicts}) == len(verdicts), "a checker ran twice"


def test_a_solution_file_run_as_a_script_reports_and_exits_0():
    path = SOLUTIONS[0]
    run = subprocess.run(
        [sys.executable, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=ENV,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines and all(line.startswith("[Correct] ") for line in lines)


def test_a_solution_script_with_a_wrong_answer_exits_1(tmp_path):
    """The exit status follows the verdicts: one wrong solution makes the script fail."""
    path = SOLUTIONS[0]
    broken = tmp_path / path.name
    names = re.findall(r"^def (\w+)\(", path.read_text(), flags=re.MULTILINE)
    first = next(n for n in names if n != "verdicts")
    # Append a redefinition: the template's "not attempted" answer replaces the first solution.
    broken.write_text(
        path.read_text().replace(
            'if __name__ == "__main__":',
            f'def {first}(*args):\n    return None\n\n\nif __name__ == "__main__":',
        )
    )
    run = subprocess.run(
        [sys.executable, str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=ENV,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "[Not yet] " in run.stdout


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_the_stored_notebook_holds_the_templates_not_the_solutions(path):
    """Every checker cell of the committed notebook reports "not attempted yet"."""
    notebook = json.loads((TUTORIALS / f"{path.stem}.ipynb").read_text(encoding="utf-8"))
    exercises = _checker_calls(TUTORIALS / "src" / path.name)
    checked = set()
    for cell in notebook["cells"]:
        called = {name for name in exercises if f".{name}(" in "".join(cell["source"])}
        if cell["cell_type"] != "code" or not called:
            continue
        checked |= called
        shown = "".join(
            "".join(out.get("data", {}).get("text/plain", "")) + "".join(out.get("text", ""))
            for out in cell.get("outputs", [])
        )
        assert "not attempted yet" in shown, (path.stem, sorted(called), shown)
    assert checked == exercises
