"""Atomic file writes shared by checkpoints, oracle suites, tables and figures.

Every file abcref writes goes to a temporary file in the target's
directory, is flushed to disk, then moved over the target with
:func:`os.replace`: a crash or Ctrl-C leaves either the old file or the
complete new one, never a truncated mix.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


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
