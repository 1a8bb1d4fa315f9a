"""Run folders: the output directories of abcref's commands, never damaged.

Every command that writes a directory (``train``, ``sweep``, ``reproduce``,
``figures``, ``compare``) owns it through a :class:`RunFolder`. The folder's
``config.json`` names the command that wrote it (``{"command": "sweep",
"settings": {...}, ...}``); the files that command writes are listed in
:data:`OUTPUTS`. Anything else in the folder is not abcref's and is never
deleted.

Opening a folder (:func:`open_run_folder`) decides what may happen to it:

- missing or empty: a new run;
- holding a run of the same command: refused, unless ``resume`` (continue
  it) or ``overwrite`` (replace it);
- holding a run of another command, or files abcref did not write:
  refused, unless ``overwrite``, which removes the old run's files and
  keeps every file abcref did not write.

A refused folder is left exactly as it was: nothing is written before the
decision. Writing goes through :func:`abcref._io.replace_directory`: the
first write (:meth:`RunFolder.start`) puts the new ``config.json`` in place
and takes the old run's files out in one atomic step, and later writes
that must agree with each other (a checkpoint and its log) replace their
files together (:meth:`RunFolder.commit`). So a process interrupted at any
moment, even killed with SIGKILL, leaves the folder either as it was or as
a consistent partial run that ``resume`` completes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from abcref._io import remove_stale_staging, replace_directory, write_text_atomic

__all__ = [
    "CONFIG_NAME",
    "OUTPUTS",
    "RESUMABLE",
    "RunFolder",
    "RunFolderError",
    "open_run_folder",
    "read_record",
]

#: The record of the run: which command wrote the folder, with which settings.
CONFIG_NAME = "config.json"

_SWEEP_OUTPUTS = ("sweep.json", "logs")

#: Command -> the files and directories (besides ``config.json``) it writes into its folder.
OUTPUTS: dict[str, tuple[str, ...]] = {
    "train": ("model.npz", "log.jsonl"),
    "sweep": ("table.md", "table.csv", "heatmap.png", *_SWEEP_OUTPUTS),
    "reproduce": (
        "results.md",
        "run.json",
        "table.md",
        "table.csv",
        "heatmap.png",
        "training_curves.png",
        "bits_check.json",
        "models",
        *_SWEEP_OUTPUTS,
    ),
    "figures": ("weight_approximation.png", "error_vs_m.png", "feature_maps.png"),
    "compare table3": (
        "results.md",
        "run.json",
        "table3.md",
        "table3.csv",
        "table3.png",
        "runs.csv",
        *_SWEEP_OUTPUTS,
    ),
    "compare section52": (
        "results.md",
        "run.json",
        "section52.md",
        "section52_costs.json",
        "runs.csv",
        *_SWEEP_OUTPUTS,
    ),
    "compare table2": ("results.md", "run.json", "table2.md", "table2.json"),
}


#: The commands that can continue an interrupted run (the others write everything at the end).
RESUMABLE = frozenset({"train", "sweep", "reproduce", "compare table3", "compare section52"})


class RunFolderError(ValueError):
    """An output directory that cannot be used as asked (it holds another run, or no run)."""


def read_record(path) -> dict | None:
    """The ``config.json`` record of the folder ``path``, or None if it holds no abcref run.

    A ``config.json`` that is missing, unreadable, not a JSON object, or
    names no known command is not an abcref record (None).
    """
    try:
        record = json.loads((Path(path) / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("command") not in OUTPUTS:
        return None
    return record


def _is_temporary(name: str) -> bool:
    """A temporary file of :func:`abcref._io.atomic_write` (``.<name>.<random>.tmp``)."""
    return name.startswith(".") and name.endswith(".tmp")


def _describe(command: str) -> str:
    return f"an abcref {command} run"


@dataclass
class RunFolder:
    """An output directory opened for one command (see the module docstring).

    Attributes
    ----------
    path : Path
    command : str
        The command writing it (a key of :data:`OUTPUTS`).
    resume : bool
        The folder holds a run of ``command`` to continue.
    previous : dict or None
        The ``config.json`` record found in the folder, if any.
    """

    path: Path
    command: str
    resume: bool = False
    previous: dict | None = None
    _started: bool = field(default=False, repr=False)

    @property
    def started(self) -> bool:
        """:meth:`start` has written the run's first files."""
        return self._started

    def _previous_outputs(self) -> set[str]:
        if self.previous is None:
            return set()
        return {CONFIG_NAME, *OUTPUTS[self.previous["command"]]}

    def start(
        self,
        record: dict,
        populate: Callable[[Path], None] | None = None,
        *,
        keep: Iterable[str] = (),
    ) -> None:
        """Write ``config.json`` (and whatever ``populate(directory)`` writes) as one step.

        On a new or overwritten folder this is the atomic switch from the old
        contents to the new run: the previous run's files (its
        :data:`OUTPUTS`, except the names in ``keep``) are left out, files
        abcref did not write are kept. On a resumed folder only the files
        ``populate`` writes change (``config.json`` is left as saved).
        """
        text = json.dumps({"command": self.command, **record}, indent=1) + "\n"
        keep = set(keep)
        dropped = self._previous_outputs() - keep

        def write(directory: Path) -> None:
            if not self.resume:
                write_text_atomic(directory / CONFIG_NAME, text)
            if populate is not None:
                populate(directory)

        if self.resume:
            if populate is not None:
                replace_directory(self.path, write)
        else:
            replace_directory(
                self.path, write, keep=lambda name: name not in dropped and not _is_temporary(name)
            )
        self._started = True

    def commit(self, populate: Callable[[Path], None]) -> None:
        """Replace the files ``populate(directory)`` writes, all together; keep the rest."""
        if not self._started:
            raise RuntimeError("RunFolder.commit called before start")
        replace_directory(self.path, populate, keep=lambda name: not _is_temporary(name))


def open_run_folder(out, command: str, *, resume: bool = False, overwrite: bool = False):
    """Decide what ``command`` may do with the output directory ``out``; change nothing.

    Parameters
    ----------
    out : str or Path
    command : str
        A key of :data:`OUTPUTS`.
    resume : bool
        Continue the run of ``command`` that ``out`` holds (the ``--resume``
        flag).
    overwrite : bool
        Replace whatever abcref run ``out`` holds, keeping files abcref did
        not write (the ``--overwrite`` flag).

    Returns
    -------
    RunFolder

    Raises
    ------
    NotADirectoryError
        If ``out`` or one of its parents is a file.
    RunFolderError
        If ``out`` holds another run or files abcref did not write (and
        neither ``resume`` nor ``overwrite`` allows it), or ``resume`` finds
        no run of ``command`` to continue.
    """
    if command not in OUTPUTS:
        raise ValueError(f"command must be one of {sorted(OUTPUTS)}, got {command!r}")
    if resume and command not in RESUMABLE:
        raise ValueError(f"{command} runs cannot be resumed (they are written in one step)")
    if resume and overwrite:
        raise RunFolderError("resume and overwrite exclude each other")
    path = Path(out)
    shown = repr(os.fspath(out))
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"output directory {shown} is a file, not a directory")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(
                    f"output directory {shown}: {os.fspath(parent)!r} is a file, not a directory"
                )
            break
    here = Path.cwd().resolve()
    if path.resolve() == here or path.resolve() in here.parents:
        raise RunFolderError(
            f"output directory {shown} is the current directory or holds it; choose a "
            "directory inside it"
        )
    remove_stale_staging(path)
    entries = sorted(os.listdir(path)) if path.is_dir() else []
    record = read_record(path) if entries else None
    found = None if record is None else record["command"]
    if resume:
        if found != command:
            holds = "nothing" if not entries else (_describe(found) if found else "no abcref run")
            raise RunFolderError(
                f"nothing to resume: {shown} holds {holds}, not {_describe(command)}"
            )
        return RunFolder(path, command, resume=True, previous=record)
    if entries and not overwrite:
        if found == command and command in RESUMABLE:
            raise RunFolderError(
                f"{shown} holds {_describe(command)}; --resume continues it, --overwrite "
                "replaces it"
            )
        if found is not None:
            raise RunFolderError(f"{shown} holds {_describe(found)}; --overwrite replaces it")
        foreign = [e for e in entries if not _is_temporary(e)] or entries
        raise RunFolderError(
            f"{shown} is not empty and holds no abcref run (it has {foreign[0]!r}); choose a "
            "new --out, or --overwrite to write beside those files (they are kept)"
        )
    return RunFolder(path, command, previous=record)
