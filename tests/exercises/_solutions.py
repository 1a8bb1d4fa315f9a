"""Helpers of the checker tests: load a worked solution; the code a message must not show."""

import inspect
import re
import runpy
from pathlib import Path
from types import SimpleNamespace

SOLUTIONS = Path(__file__).resolve().parents[2] / "tutorials" / "solutions"


def load_solution(stem: str) -> SimpleNamespace:
    """The names defined by ``tutorials/solutions/<stem>.py`` (run as a module, not a script)."""
    return SimpleNamespace(**runpy.run_path(str(SOLUTIONS / f"{stem}.py")))


def solution_tokens(solution: SimpleNamespace) -> set[str]:
    """Code of the solution functions: each statement line and each call (``name(``) in them.

    A checker's message must contain none of these: it may name a mistake
    and the idea that fixes it, never the code that solves the exercise.
    """
    tokens = set()
    for name, value in vars(solution).items():
        if not inspect.isfunction(value) or name == "verdicts" or value.__module__ != "<run_path>":
            continue
        body = inspect.getsource(value).split('"""')[-1]  # after the docstring
        for line in body.splitlines():
            code = line.split("#")[0].strip()
            if code and not code.startswith("return None"):
                tokens.add(code)
            tokens.update(re.findall(r"[A-Za-z_][\w.]*\(", code))
    tokens -= {"len(", "range(", "float(", "int(", "print("}
    return tokens


def assert_rejected(verdict, message: str, tokens: set[str]) -> None:
    """The verdict rejects, its message contains ``message``, and shows no solution code."""
    assert not verdict.ok, verdict.message
    assert message in verdict.message
    assert not [t for t in tokens if t in verdict.message], verdict.message
