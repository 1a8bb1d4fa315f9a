"""What a results block says besides its table: the run's record and computed sentences.

``abcref reproduce``, ``compare table3`` and ``compare section52`` write,
beside their tables, two files that make their results quotable:

- ``run.json`` (:data:`RUN_NAME`): the command line that produced the
  folder, its wall time and the machine it ran on (:func:`write_run_record`);
- ``results.md`` (:data:`BLOCK_NAME`): a Markdown block ready to embed in a
  document, rendered from the folder's JSON files only (``sweep.json``,
  ``run.json``, ...), so that the block can always be checked against them
  and rendered again without training.

The sentences of a block are computed, never written by hand: each
comparison of two measured means says which is higher, by how many points,
and whether the difference is *within the spread*, i.e. at most the sum of
the two sample standard deviations over seeds or one test image, whichever
is more (:class:`Gap`): a difference smaller than one image cannot be
resolved, however small the spread of the seeds. The rule
:func:`abcref.apps.compare.table3.ordering_disagreements` uses too.
"""

from __future__ import annotations

import json
import math
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from abcref._io import write_text_atomic

__all__ = [
    "BLOCK_NAME",
    "RUN_NAME",
    "Gap",
    "describe_machine",
    "machine",
    "percent",
    "read_run_record",
    "took",
    "write_run_record",
]

#: The run's record: command line, wall time, machine.
RUN_NAME = "run.json"
#: The Markdown block a document embeds.
BLOCK_NAME = "results.md"

SPREAD_RULE = (
    "a difference is *within the spread* when it is at most the sum of the two standard "
    "deviations over seeds, or one test image if that is more"
)


def machine() -> dict:
    """The machine and libraries a measurement ran on (strings and ints, for JSON)."""
    return {
        "system": f"{platform.system()} {platform.machine()}",
        "cpu": _cpu_model(),
        "cores": os.cpu_count() or 1,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe_machine(info: dict) -> str:
    """One line: ``"Linux x86_64, 2 cores (CPU model), Python 3.12.3, NumPy 2.4.1, ..."``."""
    return (
        f"{info['system']}, {info['cores']} cores ({info['cpu']}), Python {info['python']}, "
        f"NumPy {info['numpy']}, OPENBLAS_NUM_THREADS={info['blas_threads']}"
    )


def write_run_record(directory, command: str, seconds: float, *, resumed: bool = False) -> Path:
    """Write ``run.json``: the command line, its wall time (s) and :func:`machine`.

    ``resumed``: the run continued an interrupted one, and ``seconds`` is the
    time of the continuation only.
    """
    record = {"command": command, "seconds": float(seconds), "machine": machine()}
    if resumed:
        record["resumed"] = True
    return write_text_atomic(Path(directory) / RUN_NAME, json.dumps(record, indent=1) + "\n")


def read_run_record(directory) -> dict:
    """The ``run.json`` of ``directory``.

    Raises
    ------
    FileNotFoundError
        If there is none.
    ValueError
        If it is not a run record.
    """
    path = Path(directory) / RUN_NAME
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
        for key in ("command", "seconds", "machine"):
            record[key]  # noqa: B018  (KeyError names the missing key)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"{str(path)!r} is not an abcref run record: {exc}") from exc
    return record


def took(record: dict) -> str:
    """``"`abcref reproduce` took 107 s on this machine (Linux x86_64, 2 cores ...)."``"""
    what = "continued an interrupted run; that part took" if record.get("resumed") else "took"
    return (
        f"`{record['command']}` {what} {record['seconds']:.0f} s on this machine "
        f"({describe_machine(record['machine'])})."
    )


def percent(value: float) -> str:
    """A fraction as percent with two decimals (``0.98611`` -> ``"98.61"``)."""
    return f"{100 * value:.2f}"


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0


@dataclass(frozen=True)
class Gap:
    """Two measured means (fractions) and their spreads: who is higher, by how much, resolved?

    Attributes
    ----------
    a, b : str
        Names of the two things compared.
    a_mean, a_std, b_mean, b_std : float
        Mean and sample std over seeds (NaN std: one seed, counted as 0).
    resolution : float
        The smallest difference the measurement resolves, one test image
        (``1 / n_test``); the spread is never below it.
    """

    a: str
    a_mean: float
    a_std: float
    b: str
    b_mean: float
    b_std: float
    resolution: float = 0.0

    @property
    def difference(self) -> float:
        """``a_mean - b_mean`` (a fraction)."""
        return self.a_mean - self.b_mean

    @property
    def spread(self) -> float:
        """The sum of the two standard deviations, at least ``resolution`` (a fraction)."""
        return max(_finite(self.a_std) + _finite(self.b_std), self.resolution)

    @property
    def has_spread(self) -> bool:
        """Both means come with a standard deviation (more than one seed each)."""
        return math.isfinite(self.a_std) and math.isfinite(self.b_std)

    @property
    def within_spread(self) -> bool:
        """``|difference| <= spread``: the seeds can explain the difference."""
        return abs(self.difference) <= self.spread

    def verdict(self) -> str:
        """``"within the spread"``, ``"beyond the spread"`` or ``"one seed, no spread"``."""
        if not self.has_spread:
            return "one seed, no spread"
        return "within the spread" if self.within_spread else "beyond the spread"

    def sentence(self) -> str:
        """``"A is 2.78 points above B (98.06 vs 95.28, beyond the spread)"``; "level" if equal."""
        values = f"{percent(self.a_mean)} vs {percent(self.b_mean)}"
        if self.difference == 0:
            return f"{self.a} and {self.b} are level ({percent(self.a_mean)})"
        side = "above" if self.difference > 0 else "below"
        return (
            f"{self.a} is {abs(100 * self.difference):.2f} points {side} {self.b} "
            f"({values}, {self.verdict()})"
        )
