"""Regenerate the figures in this directory: ``python figures/make_figures.py``.

Trains the two digits models the figures need (the full-precision and
M = N = 5 models of ``abcref reproduce``'s setting, seed 0) and writes the
PNGs next to this script. BLAS is pinned to one thread *before* NumPy is
imported, so a re-run on the same machine reproduces the files byte for
byte. The same as ``abcref figures --out figures/ --overwrite``, which
replaces the figures written before and keeps this script (its options:
``--quick``, a smoke test of seconds whose figures mean nothing; ``--out
DIR``); see :mod:`abcref.apps.figures`. The M x N heatmap and the training
curves are drawn by ``abcref reproduce`` (``results/reproduce/``).
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
