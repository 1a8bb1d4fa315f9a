"""Regenerate every figure in this directory: ``python figures/make_figures.py``.

Trains the small digits models the figures need (about a minute and a half on 2 cores)
and writes the PNGs and ``accuracy_sweep.json``/``.csv`` next to this script. BLAS is
pinned to one thread *before* NumPy is imported, so a re-run on the same
machine reproduces the files byte for byte. The same as ``abcref figures --out
figures/ --overwrite``, which replaces the figures written before and keeps this
script (its options: ``--quick``, a smoke test of seconds whose figures mean
nothing; ``--sweep PATH``, draw the heatmap and curves from a sweep JSON such as
``accuracy_sweep.json`` instead of re-running the sweep; ``--out DIR``); see
:mod:`abcref.apps.figures`.
"""

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MPLBACKEND"] = "Agg"

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")
matplotlib.rcParams["svg.hashsalt"] = "abcref"  # stable ids should anyone save SVG

from abcref.cli import main  # noqa: E402

if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    sys.exit(main(["figures", "--out", str(here), "--overwrite", *sys.argv[1:]]))
