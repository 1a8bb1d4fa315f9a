"""Build the tutorial notebooks from their sources and store executed outputs.

Each notebook is written as a plain Python file in ``tutorials/src/`` in the
"percent" format: a line ``# %%`` starts a code cell, ``# %% [markdown]``
a markdown cell whose lines carry a leading ``# ``. This script turns a
source into ``tutorials/<name>.ipynb``, executes it from a fresh kernel
with nbclient (working directory ``tutorials/``), refuses the result if a
cell errors or an output shows an absolute local path, and writes it with
its outputs so that readers on GitHub see them.

Usage::

    python tutorials/_build.py            # every notebook
    python tutorials/_build.py 01 03      # notebooks whose name starts so
    python tutorials/_build.py --no-exec  # write unexecuted notebooks
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
MAX_BYTES = 300_000
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

# Output text that must not appear in a stored notebook (local paths).
FORBIDDEN = re.compile(r"(/work/|/tmp/|/home/|/root/|/Users/|[A-Z]:\\\\)")


def parse_source(text: str) -> list:
    """Split percent-format source into nbformat cells."""
    cells, kind, lines = [], None, []

    def flush():
        if kind is None:
            return
        body = "\n".join(lines).strip("\n")
        if kind == "markdown":
            body = "\n".join(re.sub(r"^# ?", "", line) for line in body.split("\n"))
            cells.append(nbformat.v4.new_markdown_cell(body))
        elif body.strip():
            cells.append(nbformat.v4.new_code_cell(body))

    for line in text.split("\n"):
        if line.startswith("# %%"):
            flush()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        elif kind is not None:
            lines.append(line)
    flush()
    return cells


def new_notebook(cells: list) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def check_outputs(nb, name: str) -> None:
    """Raise if a cell errored or an output leaks a local path."""
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                what = f"{out.get('ename')}: {out.get('evalue')}"
                raise RuntimeError(f"{name}: cell {i} raised {what}")
            text = out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
            if FORBIDDEN.search(text):
                raise RuntimeError(f"{name}: cell {i} output shows a local path: {text[:200]!r}")
            if out.get("name") == "stderr" and text.strip():
                raise RuntimeError(f"{name}: cell {i} wrote to stderr: {text[:300]!r}")


def _joined_streams(outputs: list) -> list:
    """Adjacent prints to one stream as one output: how the kernel splits them varies by run."""
    joined = []
    for out in outputs:
        last = joined[-1] if joined else None
        if (
            out.get("output_type") == "stream"
            and last is not None
            and last.get("output_type") == "stream"
            and last.get("name") == out.get("name")
        ):
            last["text"] += out["text"]
        else:
            joined.append(out)
    return joined


def build(source: Path, *, execute: bool = True) -> tuple[Path, float, int]:
    """Write (and execute) one notebook; return (path, seconds, bytes)."""
    cells = parse_source(source.read_text())
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i:02d}"  # stable ids: a rebuild changes only what changed
    nb = new_notebook(cells)
    seconds = 0.0
    if execute:
        env_backend = os.environ.get("MPLBACKEND")
        os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
        try:
            tic = time.perf_counter()
            NotebookClient(
                nb,
                timeout=600,
                kernel_name="python3",
                record_timing=False,
                resources={"metadata": {"path": str(HERE)}},
            ).execute()
            seconds = time.perf_counter() - tic
        finally:
            if env_backend is None:
                os.environ.pop("MPLBACKEND", None)
            else:
                os.environ["MPLBACKEND"] = env_backend
        check_outputs(nb, source.stem)
    # Widgets are live only in a running kernel: their saved state and views carry random
    # model ids, which would change the file on every rebuild. The text/plain form of a
    # widget's output stays, and the static figure beside it shows the content.
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for out in cell.get("outputs", []):
            out.get("data", {}).pop(WIDGET_VIEW, None)
        if cell.cell_type == "code":
            cell.outputs = _joined_streams(cell.outputs)
    target = HERE / f"{source.stem}.ipynb"
    tmp = target.with_suffix(".ipynb.tmp")
    nbformat.write(nb, str(tmp))
    os.replace(tmp, target)
    size = target.stat().st_size
    if size > MAX_BYTES:
        print(f"warning: {target.name} is {size} bytes (> {MAX_BYTES})", file=sys.stderr)
    return target, seconds, size


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="prefixes of notebook names (default: all)")
    parser.add_argument("--no-exec", action="store_true", help="do not execute")
    args = parser.parse_args(argv)
    sources = sorted(SOURCES.glob("[0-9][0-9]_*.py"))
    if args.names:
        sources = [s for s in sources if any(s.stem.startswith(n) for n in args.names)]
    for source in sources:
        target, seconds, size = build(source, execute=not args.no_exec)
        print(f"{target.name}: {seconds:.1f} s, {size / 1000:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
