"""Tests of abcref._io: atomic writes keep the old file, or the old directory, when
interrupted; read_npz, the one guarded reader of .npz archives."""

import gzip
import os
import signal
import stat
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from abcref._io import (
    atomic_write,
    read_npz,
    remove_stale_staging,
    replace_directory,
    write_text_atomic,
)


def test_atomic_write_replaces_whole_file_with_ordinary_permissions(tmp_path):
    target = tmp_path / "out.txt"
    write_text_atomic(target, "first")
    write_text_atomic(target, "second")
    assert target.read_text() == "second"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    write_text_atomic(target, "old")

    def explode(f):
        f.write(b"partial")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        atomic_write(target, explode)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


# -- replace_directory -------------------------------------------------------------


def _tree(directory):
    """{relative path: bytes or None for a directory} of everything under ``directory``."""
    return {
        str(p.relative_to(directory)): None if p.is_dir() else p.read_bytes()
        for p in sorted(directory.rglob("*"))
    }


def _populate(**files):
    def write(staging):
        for name, text in files.items():
            (staging / name).write_text(text)

    return write


def test_replace_directory_creates_a_missing_or_empty_directory(tmp_path):
    target = tmp_path / "run"
    replace_directory(target, _populate(a="1"))
    assert _tree(target) == {"a": b"1"}
    empty = tmp_path / "empty"
    empty.mkdir()
    replace_directory(empty, _populate(b="2"))
    assert _tree(empty) == {"b": b"2"}
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o777 & ~umask  # not mkdtemp's 0700
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "run"]  # no staging left


def test_replace_directory_replaces_written_files_and_carries_the_rest(tmp_path):
    target = tmp_path / "run"
    target.mkdir()
    (target / "a").write_text("old a")
    (target / "b").write_text("old b")
    (target / "sub").mkdir()
    (target / "sub" / "c").write_text("c")
    inode = (target / "b").stat().st_ino
    replace_directory(target, _populate(a="new a"))
    assert _tree(target) == {"a": b"new a", "b": b"old b", "sub": None, "sub/c": b"c"}
    assert (target / "b").stat().st_ino == inode  # hard-linked, not copied
    replace_directory(target, _populate(d="d"), keep=lambda name: name != "b")
    assert _tree(target) == {"a": b"new a", "d": b"d", "sub": None, "sub/c": b"c"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_replace_directory_through_a_symlink_replaces_its_target(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "a").write_text("old")
    link = tmp_path / "link"
    link.symlink_to(real)
    replace_directory(link, _populate(a="new"))
    assert link.is_symlink() and (link / "a").read_text() == "new"


def test_a_failing_populate_leaves_the_directory_as_it_was(tmp_path):
    target = tmp_path / "run"
    target.mkdir()
    (target / "a").write_text("old")

    def explode(staging):
        (staging / "a").write_text("half")
        raise KeyboardInterrupt  # e.g. Ctrl-C in the middle

    with pytest.raises(KeyboardInterrupt):
        replace_directory(target, explode)
    assert _tree(target) == {"a": b"old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_remove_stale_staging(tmp_path):
    target = tmp_path / "run"
    target.mkdir()
    stale = tmp_path / ".run.abcref-x1y2"
    stale.mkdir()
    (stale / "model.npz").write_text("half written")
    other = tmp_path / ".other.abcref-x1y2"  # another directory's: not touched
    other.mkdir()
    assert remove_stale_staging(target) == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.abcref-x1y2", "run"]


# A child process replaces the directory and stops at a chosen point, where it
# is killed with SIGKILL: no Python clean-up runs.
_CHILD = """
import os, shutil, sys, time
from pathlib import Path
from abcref import _io

target, where = Path(sys.argv[1]), sys.argv[2]

def stop():
    print("ready", flush=True)
    time.sleep(60)

def populate(staging):
    (staging / "a").write_text("new")
    if where == "populate":
        stop()

if where == "swapped":  # the new version is in place, the old one not yet deleted
    shutil.rmtree = lambda *args, **kwargs: stop()
_io.replace_directory(target, populate)
"""


@pytest.mark.parametrize(("where", "expected"), [("populate", b"old"), ("swapped", b"new")])
def test_sigkill_leaves_the_old_or_the_new_version_whole(tmp_path, where, expected):
    target = tmp_path / "run"
    target.mkdir()
    (target / "a").write_text("old")
    (target / "b").write_text("kept")
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(target), where], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline() == "ready\n"
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
        child.stdout.close()
    assert _tree(target) == {"a": expected, "b": b"kept"}
    leftovers = [p for p in tmp_path.iterdir() if p.name != "run"]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".run.abcref-")
    remove_stale_staging(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert _tree(target) == {"a": expected, "b": b"kept"}


# -- read_npz ---------------------------------------------------------------
class Malformed(ValueError):
    pass


def test_reads_every_array_eagerly(tmp_path):
    path = tmp_path / "a.npz"
    np.savez_compressed(path, x=np.arange(6.0).reshape(2, 3), y=np.array([1, 2], np.uint8))
    arrays = read_npz(path)
    assert sorted(arrays) == ["x", "y"]
    np.testing.assert_array_equal(arrays["x"], np.arange(6.0).reshape(2, 3))
    assert arrays["y"].dtype == np.uint8


@pytest.mark.parametrize(
    ("content", "looks_like"),
    [
        (b"[1, 2, 3]", "JSON"),
        (b'{"a": ' + b"1" * 5000, "JSON"),  # longer than the bytes sniffed
        (b"{not json", "text"),
        (b"plain words", "text"),
        (gzip.compress(b"abc"), "gzip-compressed data"),
        (b"\x00\x01\x02\xff\xfe", "binary data of unknown format"),
    ],
)
def test_not_an_archive_says_what_it_looks_like(tmp_path, content, looks_like):
    path = tmp_path / "f.bin"
    path.write_bytes(content)
    with pytest.raises(
        Malformed, match=rf"'.*f.bin': not an npz suite \(it looks like {looks_like}"
    ):
        read_npz(path, kind="suite", error=Malformed)


def test_a_zip_that_is_not_an_npz_is_refused(tmp_path):
    path = tmp_path / "z.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(
        ValueError, match=r"a zip archive but not an npz file \(member 'readme.txt'"
    ):
        read_npz(path)


def test_kinds_of_failure_are_told_apart(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^suite '.*none.npz' does not exist$"):
        read_npz(tmp_path / "none.npz", kind="suite")
    with pytest.raises(IsADirectoryError, match="is a directory, expected an archive file"):
        read_npz(tmp_path, kind="archive")
    truncated = tmp_path / "t.npz"
    np.savez(tmp_path / "full.npz", x=np.zeros(1000))
    truncated.write_bytes((tmp_path / "full.npz").read_bytes()[:500])
    with pytest.raises(Malformed, match=r"corrupt or truncated file \(BadZipFile"):
        read_npz(truncated, error=Malformed)


def test_a_long_underlying_error_is_cut(tmp_path):
    # A header numpy cannot parse: its message quotes the header, which is cut.
    path = tmp_path / "h.npz"
    np.savez(path, x=np.zeros(3))
    raw = path.read_bytes().replace(b"'descr'", b"'d\x01scr'")
    path.write_bytes(raw)
    with pytest.raises(ValueError, match="corrupt or truncated") as info:
        read_npz(path)
    assert len(str(info.value)) < 200 and "\x01" not in str(info.value)
