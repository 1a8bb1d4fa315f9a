"""Write the committed results into README.md and docs/*.md: ``python scripts/embed_results.py``.

A document embeds a file of the repository between two markers::

    <!-- embed: results/reproduce/results.md -->
    ...the file's text, verbatim...
    <!-- /embed -->

Nobody edits the text between them; this script rewrites it from the file
(the path is relative to the repository root). The embedded files are the
``results.md`` blocks the commands write into ``results/`` (``abcref
reproduce --out results/reproduce --overwrite``, ``abcref compare table3
--extra --out results/table3 --overwrite``, ...; each block names its
command) and ``benchmarks/results.md`` (``python benchmarks/run_all.py``).

    python scripts/embed_results.py            # rewrite the blocks of every document
    python scripts/embed_results.py --check    # change nothing; exit 1 if a block differs
    python scripts/embed_results.py --render   # first render each results folder's Markdown
                                               # (and the PNGs of reproduce and table3) from
                                               # its JSON files (after a change of the
                                               # formatting or drawing code; no training)

``tests/test_committed_results.py`` checks that every block equals its file
and every folder's Markdown equals what the code renders from its JSON.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RESULTS = ROOT / "results"

BLOCK = re.compile(
    r"(?P<open><!-- embed: (?P<path>[^\s>]+) -->\n)(?P<text>.*?)(?P<close><!-- /embed -->)",
    re.DOTALL,
)


def embedded(document: Path) -> list[tuple[str, str]]:
    """``(path, text)`` of every block of ``document``, in order."""
    return [(m["path"], m["text"]) for m in BLOCK.finditer(document.read_text(encoding="utf-8"))]


def embed(text: str, root: Path = ROOT) -> str:
    """``text`` with every block replaced by the current contents of its file."""

    def replace(match: re.Match) -> str:
        source = (root / match["path"]).read_text(encoding="utf-8")
        if not source.endswith("\n"):
            source += "\n"
        return match["open"] + source + match["close"]

    return BLOCK.sub(replace, text)


def render_folder(directory: Path) -> dict[str, str]:
    """File name -> Markdown text a results folder's command renders from its JSON files."""
    from abcref.apps.compare.section52 import render_section52_folder
    from abcref.apps.compare.table2 import render_table2_folder
    from abcref.apps.compare.table3 import render_table3_folder
    from abcref.apps.reproduce import render_reproduce_folder

    renderers = {
        "reproduce": render_reproduce_folder,
        "compare table3": render_table3_folder,
        "compare section52": render_section52_folder,
        "compare table2": render_table2_folder,
    }
    command = json.loads((directory / "config.json").read_text(encoding="utf-8"))["command"]
    return renderers[command](directory)


def render_figures(directory: Path, out_dir: Path) -> list[Path]:
    """Draw the PNGs of a results folder again from its JSON files into ``out_dir``."""
    from abcref.apps.compare.table3 import plot_table3
    from abcref.apps.reproduce import render_reproduce_figures
    from abcref.apps.results import SweepResult

    command = json.loads((directory / "config.json").read_text(encoding="utf-8"))["command"]
    if command == "reproduce":
        return render_reproduce_figures(directory, out_dir)
    if command == "compare table3":
        return [
            plot_table3(SweepResult.from_json(directory / "sweep.json"), out_dir / "table3.png")
        ]
    return []


def result_folders(root: Path = RESULTS) -> list[Path]:
    """The folders of ``results/`` (each written by one command)."""
    return sorted(p for p in root.iterdir() if (p / "config.json").is_file())


def render_benchmarks() -> str:
    """``benchmarks/results.md`` rendered from ``benchmarks/results.json``."""
    spec = importlib.util.spec_from_file_location("run_all", ROOT / "benchmarks" / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.render(json.loads((ROOT / "benchmarks" / "results.json").read_text()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 on a diff")
    parser.add_argument("--render", action="store_true", help="re-render results/ from JSON")
    args = parser.parse_args(argv)
    stale = []
    if args.render:
        for folder in result_folders():
            for name, text in render_folder(folder).items():
                path = folder / name
                if path.read_text(encoding="utf-8") != text:
                    stale.append(path)
                    if not args.check:
                        path.write_text(text, encoding="utf-8")
            with tempfile.TemporaryDirectory() as drawn:
                for figure in render_figures(folder, Path(drawn)):
                    path = folder / figure.name
                    if path.read_bytes() != figure.read_bytes():
                        stale.append(path)
                        if not args.check:
                            path.write_bytes(figure.read_bytes())
        path = ROOT / "benchmarks" / "results.md"
        text = render_benchmarks()
        if path.read_text(encoding="utf-8") != text:
            stale.append(path)
            if not args.check:
                path.write_text(text, encoding="utf-8")
    for document in DOCUMENTS:
        old = document.read_text(encoding="utf-8")
        new = embed(old)
        if new != old:
            stale.append(document)
            if not args.check:
                document.write_text(new, encoding="utf-8")
    for path in stale:
        print(f"{'differs' if args.check else 'rewrote'}: {path.relative_to(ROOT)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
