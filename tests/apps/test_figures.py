"""Tests of abcref.apps.figures: make_all writes every README figure, with stable bytes."""

import matplotlib

matplotlib.use("Agg")

from abcref.apps import figures  # noqa: E402
from abcref.apps.results import SweepResult  # noqa: E402


def test_make_all_quick_writes_every_figure(tmp_path):
    written = figures.make_all(tmp_path / "out", quick=True, log=None)
    names = sorted(p.name for p in written)
    assert names == sorted([f"{n}.png" for n in figures.FIGURES] + list(figures.SWEEP_FILES))
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
        tmp_path / "again", quick=True, sweep=tmp_path / "out" / "accuracy_sweep.json", log=None
    )
    assert sorted(p.name for p in again) == sorted(f"{n}.png" for n in figures.FIGURES)
    # same seeds, same machine: the heatmap is the same picture
    assert (tmp_path / "again" / "accuracy_heatmap.png").read_bytes() == (
        tmp_path / "out" / "accuracy_heatmap.png"
    ).read_bytes()
