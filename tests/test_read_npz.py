"""Tests of abcref._io.read_npz: the one guarded reader of .npz archives."""

import gzip
import zipfile

import numpy as np
import pytest

from abcref._io import read_npz


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
