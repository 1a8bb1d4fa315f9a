"""What a checker returns, and how it calls a learner's function safely."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["Verdict", "Wrong", "answer_array", "checker"]


@dataclass(frozen=True)
class Verdict:
    """A checker's answer: whether the exercise is solved, and one line saying why.

    Shown as its message when it is a notebook cell's last value; true in
    a boolean context only when the answer is right.

    Attributes
    ----------
    exercise : str
        The checker's short name of the exercise.
    ok : bool
        True if the answer is right.
    message : str
        One line: what was right, or what is wrong and a hint that fixes
        it (never the solution).
    """

    exercise: str
    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        mark = "Correct" if self.ok else "Not yet"
        return f"[{mark}] {self.exercise}: {self.message}"


class NotAttempted(Exception):
    """The learner's function still returns None, as the exercise's template does."""


class AnswerFailed(Exception):
    """The learner's function raised; the message is the one-line report."""


def call_answer(answer: Callable, *args, **kwargs):
    """Call the learner's ``answer``; None -> :class:`NotAttempted`; an error -> one line.

    Raises
    ------
    TypeError
        If ``answer`` is not callable (the checker takes the function, not
        its result).
    NotAttempted
        If ``answer`` returns None.
    AnswerFailed
        If ``answer`` raises; the message names the exception, in one line.
    """
    if not callable(answer):
        raise TypeError(
            f"pass your function itself (e.g. check(my_function)), not its result; "
            f"got a {type(answer).__name__}"
        )
    try:
        out = answer(*args, **kwargs)
    except Exception as exc:  # the learner's code: report whatever it raises
        text = " ".join(str(exc).split())[:200]
        raise AnswerFailed(f"your function raised {type(exc).__name__}: {text}") from None
    if out is None:
        raise NotAttempted
    return out


class Wrong(Exception):
    """Raised inside a checker to reject the answer with the given hint."""


def answer_array(value, shape: tuple, what: str) -> np.ndarray:
    """The learner's result as a finite float array of ``shape``, or :class:`Wrong` saying why."""
    try:
        out = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise Wrong(f"{what} should be an array of numbers, got {type(value).__name__}") from None
    if out.shape != tuple(shape):
        raise Wrong(f"{what} should have shape {tuple(shape)}, got {out.shape}")
    if not np.all(np.isfinite(out)):
        raise Wrong(f"{what} holds NaN or Inf")
    return out


def checker(exercise: str):
    """Make ``check(call) -> (ok, message)`` a checker ``f(answer) -> Verdict``.

    ``check`` receives ``call``, which calls the learner's function with
    the given arguments and returns its result. Not attempted, a raised
    error and a :class:`Wrong` become the matching verdict, so ``check``
    only has the exercise's own logic.
    """

    def wrap(check: Callable) -> Callable:
        @functools.wraps(check)
        def run(answer) -> Verdict:
            def call(*args, **kwargs):
                return call_answer(answer, *args, **kwargs)

            try:
                ok, message = check(call)
            except NotAttempted:
                return Verdict(
                    exercise, False, "not attempted yet: fill in the function above, then re-run"
                )
            except (AnswerFailed, Wrong) as exc:
                return Verdict(exercise, False, str(exc))
            return Verdict(exercise, bool(ok), message)

        return run

    return wrap
