"""Tests of abcref.apps.figures: make_all writes every figure of figures/, with stable bytes."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from abcref.apps import figures  # noqa: E402
from abcref.apps.folders import RunFolderError  # noqa: E402
from abcref.apps.reproduce import DEFAULT  # noqa: E402
from abcref.data import load_digits  # noqa: E402
from abcref.nn import abc_conv, build_model  # noqa: E402
from tests._figure_checks import assert_explains_itself  # noqa: E402


def test_the_figures_use_the_reproduce_setting():
    """The repository's figures come from two runs of abcref reproduce's setting, seed 0."""
    full = figures.FULL
    assert (full.widths, full.epochs, full.batch_size, full.lr, full.limit) == (
        DEFAULT.widths,
        DEFAULT.epochs,
        DEFAULT.batch_size,
        DEFAULT.lr,
        DEFAULT.limit,
    )
    assert (
        full.seed == DEFAULT.seeds[0] and full.maps[0] in DEFAULT.Ms and full.maps[1] in DEFAULT.Ns
    )


def test_make_all_quick_writes_every_figure(tmp_path):
    written = figures.make_all(tmp_path / "out", quick=True, progress=False)
    names = sorted(p.name for p in written)
    assert names == sorted(f"{n}.png" for n in figures.FIGURES)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(["config.json", *names])
    for path in written:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"Software" not in data  # no software stamp: stable bytes

    # A second run into the same folder is refused, and changes nothing ...
    out = tmp_path / "out"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(RunFolderError, match="holds an abcref figures run"):
        figures.make_all(out, quick=True, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # ... unless it overwrites: files abcref did not write stay, and the same
    # seeds on the same machine draw the same pictures.
    (out / "make_figures.py").write_text("# the script that regenerates this folder\n")
    figures.make_all(out, quick=True, progress=False, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == sorted(["make_figures.py", *before])
    assert {name: (out / name).read_bytes() for name in before} == before


def test_every_figure_explains_itself():
    """The figures of figures/, drawn from two small untrained models, pass the figure rule."""
    base = {"arch": "small_cnn", "widths": [4, 8], "seed": 0}
    fp_model = build_model(base)
    abc_model = build_model({**base, "conv": abc_conv(M=2, N=3)})
    drawn = figures._draw(fp_model, abc_model, load_digits(limit=8))
    assert len(drawn) == len(figures.FIGURES)
    for fig in drawn:
        assert_explains_itself(fig)
