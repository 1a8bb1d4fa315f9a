"""Tests of abcref.apps.figures: make_all writes every README figure, with stable bytes."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from abcref.apps import figures  # noqa: E402
from abcref.apps.folders import RunFolderError  # noqa: E402
from abcref.apps.results import SweepResult  # noqa: E402


def test_make_all_quick_writes_every_figure(tmp_path):
    written = figures.make_all(tmp_path / "out", quick=True, progress=False)
    names = sorted(p.name for p in written)
    assert names == sorted([f"{n}.png" for n in figures.FIGURES] + list(figures.SWEEP_FILES))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(["config.json", *names])
    for path in written:
        assert path.stat().st_size > 0
        if path.suffix == ".png":
            data = path.read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
            assert b"Software" not in data  # no software stamp: stable bytes
    result = SweepResult.from_json(tmp_path / "out" / "accuracy_sweep.json")
    q = figures.QUICK
    assert len(result.rows) == len(q.seeds) * (1 + len(q.Ms) * len(q.Ns))
    # heatmap and curves can be drawn from that sweep without re-running it
    again = figures.make_all(
        tmp_path / "again", quick=True, sweep=tmp_path / "out" / "accuracy_sweep.json",
        progress=False,
    )  # fmt: skip
    assert sorted(p.name for p in again) == sorted(f"{n}.png" for n in figures.FIGURES)
    # same seeds, same machine: the heatmap is the same picture
    assert (tmp_path / "again" / "accuracy_heatmap.png").read_bytes() == (
        tmp_path / "out" / "accuracy_heatmap.png"
    ).read_bytes()

    # A second run into the same folder is refused, and changes nothing ...
    out = tmp_path / "out"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(RunFolderError, match="holds an abcref figures run"):
        figures.make_all(out, quick=True, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # ... unless it overwrites: files abcref did not write stay, and a --sweep
    # read from the folder stays too (it is this run's input).
    (out / "make_figures.py").write_text("# the script that regenerates this folder\n")
    figures.make_all(
        out, quick=True, sweep=out / "accuracy_sweep.json", progress=False, overwrite=True
    )
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["config.json", "make_figures.py", *figures.SWEEP_FILES]
        + [f"{n}.png" for n in figures.FIGURES]
    )
    assert (out / "accuracy_sweep.json").read_bytes() == before["accuracy_sweep.json"]
