"""File input and output shared by checkpoints, datasets, oracle suites, tables and figures.

Writing: every file abcref writes goes to a temporary file in the
target's directory, is flushed to disk, then moved over the target with
:func:`os.replace`: a crash or Ctrl-C leaves either the old file or the
complete new one, never a truncated mix.

Reading: :func:`read_npz` is the one guarded reader of ``.npz`` archives
(checkpoints, the embedded digits, oracle suites). It never unpickles,
reads every array eagerly (the zip CRC then catches flipped bytes), tells
a missing path, a directory and a malformed file apart, and keeps its
messages to one short line naming the file.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np


def _default_mode() -> int:
    """0o666 minus the process umask: what a plain ``open(path, "w")`` gives."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


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
            foreign = [n for n in archive.zip.namelist() if not n.endswith(".npy")]
            # numpy would hand a non-.npy member back as raw bytes
            arrays = {} if foreign else {name: archive[name] for name in archive.files}
    except Exception as exc:  # any failure to parse the bytes: see below
        # On damaged bytes zipfile and numpy's .npy parser raise a dozen
        # types (BadZipFile, zlib.error, EOFError, ValueError, SyntaxError,
        # tokenize.TokenError, RuntimeError for a stray encryption flag,
        # MemoryError for a bogus shape, ...): each means a damaged file.
        if isinstance(exc, ValueError) and "pickle" in str(exc).lower():
            raise error(
                f"{where} holds an object array, which only unpickling could read; "
                "abcref never unpickles files"
            ) from None
        raise error(f"{where}: corrupt or truncated {kind} ({_detail(exc)})") from None
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


def _detail(exc: BaseException) -> str:
    """``Type: message``, printable and cut to a bounded length (never raw bytes)."""
    text = " ".join(str(exc).split())
    text = "".join(c if c.isprintable() else "?" for c in text)
    if len(text) > _MAX_DETAIL:
        text = text[: _MAX_DETAIL - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
