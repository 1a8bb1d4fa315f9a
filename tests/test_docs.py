"""Every Python example in README.md and docs/*.md runs as written.

A fenced ```python block is executed; the blocks of one file run in order,
in one namespace (as a reader would type them into one session), in a
fresh Python process whose working directory is a temporary directory, so
files they write land there. A block whose first line is ``>>>`` is a
doctest and its printed outputs are compared. A block that cannot run
here (it needs the reader's own data files) is preceded by the comment
``<!-- not run: reason -->``; such blocks must be rare and give a reason,
and they are still compiled.

The process pins BLAS to one thread, as the ``abcref`` command and the
tutorials do: the examples train small models, which threads slow down on
a busy machine.
"""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^```(\S*)\s*$")
_NOT_RUN = re.compile(r"^<!--\s*not run:\s*(?P<reason>\S.*?)\s*-->$")


def python_blocks(path: Path) -> list[tuple[int, str, str | None]]:
    """The ```python blocks of a Markdown file: (first line number, source, not-run reason)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        start, language = i, fence.group(1)
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            i += 1
        if language == "python":
            previous = next((s.strip() for s in reversed(lines[:start]) if s.strip()), "")
            marker = _NOT_RUN.match(previous)
            source = "\n".join(lines[start + 1 : i]) + "\n"
            blocks.append((start + 2, source, marker.group("reason") if marker else None))
        i += 1
    return blocks


def run_document(path: Path) -> None:
    """Run the blocks of ``path`` in order in one namespace (in this process)."""
    import matplotlib

    matplotlib.use("Agg")
    namespace = {"__name__": "__main__"}
    for lineno, source, reason in python_blocks(path):
        name = f"{path.name}:{lineno}"
        if reason is not None:
            compile(source, name, "exec")
        elif source.lstrip().startswith(">>>"):
            parser = doctest.DocTestParser()
            test = parser.get_doctest(source, namespace, name, str(path), lineno - 1)
            runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
            runner.run(test, clear_globs=False)
            failed = runner.summarize(verbose=False).failed
            if failed:
                raise AssertionError(f"{name}: {failed} doctest example(s) failed (output above)")
        else:
            print(f"--- {name}", flush=True)
            exec(compile(source, name, "exec"), namespace)


WITH_BLOCKS = [path for path in DOCUMENTS if python_blocks(path)]


@pytest.mark.parametrize("path", WITH_BLOCKS, ids=[str(p.relative_to(ROOT)) for p in WITH_BLOCKS])
def test_python_blocks_run(path, tmp_path):
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {
        **os.environ,
        "PYTHONPATH": pythonpath,
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), str(path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"a Python block of {path.name} failed\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    )


def test_blocks_are_found_and_few_are_skipped():
    blocks = {path: python_blocks(path) for path in DOCUMENTS}
    total = sum(len(b) for b in blocks.values())
    skipped = [(p.name, n) for p, b in blocks.items() for n, _, reason in b if reason]
    assert total >= 15
    assert len(skipped) <= 3, f"too many blocks marked 'not run': {skipped}"


def test_the_extractor_reads_markers(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(
        "text\n```python\nx = 1\n```\n\n<!-- not run: needs data -->\n```python\nload()\n```\n"
        "```bash\nls\n```\n"
    )
    assert python_blocks(doc) == [(3, "x = 1\n", None), (8, "load()\n", "needs data")]


def test_a_failing_block_fails(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("```python\nx = 1\n```\n\n```python\nassert x == 2\n```\n")
    with pytest.raises(AssertionError):
        run_document(doc)
    doc.write_text("```python\n>>> 1 + 1\n3\n```\n")
    with pytest.raises(AssertionError, match="doctest"):
        run_document(doc)


if __name__ == "__main__":
    run_document(Path(sys.argv[1]))
