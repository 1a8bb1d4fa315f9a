"""File input and output shared by checkpoints, run folders, datasets, oracle suites,
tables and figures.

Writing: every file abcref writes goes to a temporary file in the
target's directory, is flushed to disk, then moved over the target with
:func:`os.replace`: a crash or Ctrl-C leaves either the old file or the
complete new one, never a truncated mix. abcref never changes a file in
place (no appending), so a file may be hard-linked into a new version of
its directory (below) without the old version changing.

Several files that must change together (a run's checkpoint and log)
change by :func:`replace_directory`: the directory's new version is built
beside it and swapped in with one ``rename``, so a process killed at any
moment leaves either the old or the new version.

Reading: :func:`read_npz` is the one guarded reader of ``.npz`` archives
(checkpoints, the embedded digits, oracle suites). It never unpickles,
reads every array eagerly (the zip CRC then catches flipped bytes), tells
a missing path, a directory and a malformed file apart, and keeps its
messages to one short line naming the file.
"""

from __future__ import annotations

import codecs
import ctypes
import errno
import io
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np


def _default_mode() -> int:
    """0o666 minus the process umask: what a plain ``open(path, "w")`` gives."""
    return 0o666 & ~_umask()


def atomic_write(path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(fileobj)`` on a temporary binary file, then rename it to ``path``.

    The temporary file gets the permissions an ordinary new file would
    (``mkstemp`` alone creates it 0600).
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_text_atomic(path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def save_png(fig, path, *, dpi: float | None = None) -> Path:
    """Save a matplotlib figure as PNG atomically, with stable bytes.

    Rendered with Agg whatever the global backend (no display needed) and
    without the "Software" metadata stamp, so the same figure always gives
    the same bytes.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(
        buffer, format="png", dpi=fig.dpi if dpi is None else dpi, metadata={"Software": None}
    )
    return atomic_write(path, lambda f: f.write(buffer.getvalue()))


# -- reading ---------------------------------------------------------------
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive
_NPY_MAGIC = b"\x93NUMPY"
_PICKLE_PROTOCOLS = (b"\x02", b"\x03", b"\x04", b"\x05")
_MAX_DETAIL = 80  # characters of an underlying error kept in a message


def read_npz(path, *, kind: str = "file", error: type[Exception] = ValueError) -> dict:
    """Every array of the ``.npz`` archive ``path``, read eagerly, never unpickled.

    Parameters
    ----------
    path : str or os.PathLike
        The archive.
    kind : str
        What the caller expects, for messages: ``"checkpoint"`` gives
        "not an npz checkpoint (it looks like JSON)".
    error : type
        Exception class raised for a file that is not a readable archive
        (a ``ValueError`` subclass such as ``CheckpointError``).

    Returns
    -------
    dict of str to ndarray
        Member name (without ``.npy``) to array.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    IsADirectoryError
        ``path`` is a directory.
    OSError
        ``path`` cannot be opened (e.g. no permission).
    error
        The file is not an npz archive (the message says what it looks
        like: JSON, text, a single ``.npy`` array, a pickle, gzip data),
        is corrupt or truncated, or holds an object array, which only
        unpickling could read. Every message is one line of bounded length.
    """
    path = Path(path)
    where = repr(str(path))
    if path.is_dir():
        raise IsADirectoryError(f"{where} is a directory, expected {_article(kind)} {kind} file")
    if not path.exists():
        raise FileNotFoundError(f"{kind} {where} does not exist")
    try:
        with path.open("rb") as f:
            head = f.read(4096)
    except OSError as exc:  # e.g. no permission: the file is there, but not for us
        raise OSError(f"{kind} {where} cannot be read: {_detail(exc)}") from None
    if not head.startswith(_ZIP_MAGIC):
        raise error(f"{where}: not an npz {kind} (it looks like {_looks_like(head)})")
    try:
        with np.load(path, allow_pickle=False) as archive:
            members = archive.zip.namelist()
            # numpy would hand a non-.npy member back as raw bytes
            foreign = [n for n in members if not n.endswith(".npy")]
            objects = [n for n in members if not foreign and _holds_objects(archive.zip, n)]
            readable = not (foreign or objects)
            arrays = {name: archive[name] for name in archive.files} if readable else {}
    except Exception as exc:  # any failure to parse the bytes: see below
        # On damaged bytes zipfile and numpy's .npy parser raise a dozen
        # types (BadZipFile, zlib.error, EOFError, ValueError, SyntaxError,
        # tokenize.TokenError, RuntimeError for a stray encryption flag,
        # MemoryError for a bogus shape, ...): each means a damaged file.
        raise error(f"{where}: corrupt or truncated {kind} ({_detail(exc)})") from None
    if objects:
        raise error(
            f"{where} holds an object array ({objects[0][:-4][:40]!r}), which only "
            "unpickling could read; abcref never unpickles files"
        )
    if foreign:
        raise error(
            f"{where}: a zip archive but not an npz {kind} "
            f"(member {foreign[0][:40]!r} is not a .npy array)"
        )
    return arrays


def _article(noun: str) -> str:
    return "an" if noun[:1].lower() in "aeiou" else "a"


def _looks_like(head: bytes) -> str:
    """A short description of a file that is not a zip archive, from its first bytes."""
    if not head:
        return "an empty file"
    if head.startswith(_NPY_MAGIC):
        return "a single .npy array"
    if head[:1] == b"\x80" and head[1:2] in _PICKLE_PROTOCOLS:
        return "a Python pickle, which abcref never loads"
    if head.startswith(b"\x1f\x8b"):
        return "gzip-compressed data"
    try:  # incremental: the 4096 bytes read may end inside a character
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "binary data of unknown format"
    if "\x00" in text:
        return "binary data of unknown format"
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            json.loads(stripped)
        except ValueError:
            if len(head) == 4096:  # longer than we read: the start is enough
                return "JSON"
            return "text"
        return "JSON"
    return "text"


def _holds_objects(archive, member: str) -> bool:
    """Whether the .npy ``member`` of a zip holds Python objects (read from its header)."""
    with archive.open(member) as f:
        version = np.lib.format.read_magic(f)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        _, _, dtype = read_header(f)
    return dtype.hasobject


def _detail(exc: BaseException) -> str:
    """``Type: message``, printable and cut to a bounded length (never raw bytes)."""
    text = " ".join(str(exc).split())
    text = "".join(c if c.isprintable() else "?" for c in text)
    if len(text) > _MAX_DETAIL:
        text = text[: _MAX_DETAIL - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- directories ---------------------------------------------------------------

#: Middle of the name of a staging directory beside its target: ``.<name>.abcref-<random>``.
STAGING_MARK = ".abcref-"


def _staging_prefix(directory: Path) -> str:
    return f".{directory.name}{STAGING_MARK}"


def remove_stale_staging(directory) -> list[Path]:
    """Delete what an interrupted :func:`replace_directory` left beside ``directory``.

    A process killed during :func:`replace_directory` can leave one hidden
    sibling ``.<name>.abcref-*``: the unfinished new version, or the old
    version not yet deleted. Neither is part of ``directory``; both are
    abcref's own. Returns the paths removed.
    """
    directory = Path(os.path.abspath(directory))
    parent = directory.parent
    if not parent.is_dir():
        return []
    prefix = _staging_prefix(directory)
    removed = []
    for entry in parent.iterdir():
        if entry.name.startswith(prefix) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def replace_directory(
    directory,
    populate: Callable[[Path], None],
    *,
    keep: Callable[[str], bool] | None = None,
) -> Path:
    """Give ``directory`` new contents in one atomic step.

    ``populate(staging)`` writes the new files into an empty staging
    directory beside ``directory`` (same file system). Every entry of the
    current ``directory`` that ``populate`` did not write, and for which
    ``keep(name)`` is true (default: every one), is carried over into it:
    hard-linked (copied where the file system has no hard links), so
    carrying over is cheap. Then the staging directory and ``directory``
    are exchanged by one ``renameat2(RENAME_EXCHANGE)`` (Linux) and the old
    version is deleted; a ``directory`` that does not exist yet (its
    parents are created), or is empty, is simply renamed into place.

    A process killed at any moment leaves ``directory`` with either all of
    its old contents or all of its new contents, plus at worst a hidden
    sibling ``.<name>.abcref-*`` (:func:`remove_stale_staging` deletes it).
    Where the exchange is not available (not Linux, or a file system
    without it) the old version is renamed away and the new one renamed in:
    two renames, between which ``directory`` is briefly missing.

    Returns
    -------
    Path
        ``directory``.
    """
    directory = Path(os.path.abspath(directory))  # "." and "x/.." have no usable parent
    if directory.is_symlink():  # replace what it points to, not the link
        directory = directory.resolve()
    parent = directory.parent
    parent.mkdir(parents=True, exist_ok=True)
    exists = directory.is_dir()
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=_staging_prefix(directory)))
    try:
        # mkdtemp makes the directory 0700; give it the old one's mode, or an ordinary one.
        mode = directory.stat().st_mode & 0o7777 if exists else 0o777 & ~_umask()
        os.chmod(staging, mode)
        populate(staging)
        written = {p.name for p in staging.iterdir()}
        old_entries = sorted(os.listdir(directory)) if exists else []
        for name in old_entries:
            if name not in written and (keep is None or keep(name)):
                _link_tree(directory / name, staging / name)
        _fsync_directory(staging)
        if exists and old_entries:
            _swap_in(staging, directory)
        else:
            os.replace(staging, directory)  # rename(2) replaces an empty directory
            staging = None
        _fsync_directory(parent)
    except BaseException:
        if staging is not None and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        raise
    if staging is not None:  # now holds the old version
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _link_tree(src: Path, dst: Path) -> None:
    """Recreate ``src`` at ``dst``: directories made anew, files hard-linked (else copied)."""
    if src.is_symlink():
        os.symlink(os.readlink(src), dst)
    elif src.is_dir():
        os.mkdir(dst)
        shutil.copystat(src, dst)
        for entry in sorted(os.listdir(src)):
            _link_tree(src / entry, dst / entry)
    else:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)


def _fsync_directory(path: Path) -> None:
    """Make a directory's entries durable (where directories can be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap the paths ``a`` and ``b`` atomically; False if this system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(
        _AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), ctypes.c_uint(_RENAME_EXCHANGE)
    )
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _swap_in(staging: Path, directory: Path) -> None:
    """Put ``staging`` at ``directory`` and the old ``directory`` at ``staging``."""
    if _exchange(staging, directory):
        return
    aside = Path(tempfile.mkdtemp(dir=staging.parent, prefix=_staging_prefix(directory)))
    os.rmdir(aside)
    os.replace(directory, aside)
    os.replace(staging, directory)
    os.replace(aside, staging)
