"""Regenerate every figure in this directory: ``python figures/make_figures.py``.

Trains the small digits models the figures need (a few minutes on 2 cores)
and writes the PNGs and ``accuracy_sweep.json``/``.csv`` next to this script. BLAS is
pinned to one thread *before* NumPy is imported, so a re-run on the same
machine reproduces the files byte for byte. See :mod:`abcref.apps.figures`.

Options: ``--quick`` (seconds; smoke test, figures not meaningful),
``--sweep PATH`` (a sweep JSON, e.g. ``accuracy_sweep.json``: draw the heatmap
and curves from it instead of re-running the sweep),
``--out DIR``.
"""

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MPLBACKEND"] = "Agg"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")
matplotlib.rcParams["svg.hashsalt"] = "abcref"  # stable ids should anyone save SVG

from abcref.apps.figures import make_all  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate abcref's figures.")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--quick", action="store_true", help="tiny budget (smoke test)")
    parser.add_argument("--sweep", type=Path, default=None, help="read the sweep from JSON")
    args = parser.parse_args(argv)
    tic = time.perf_counter()
    written = make_all(args.out, quick=args.quick, sweep=args.sweep)
    for path in written:
        print(f"wrote {path.name} ({path.stat().st_size / 1000:.0f} kB)")
    print(f"done in {time.perf_counter() - tic:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
