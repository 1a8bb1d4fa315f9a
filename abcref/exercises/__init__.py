"""Checkers for the tutorials' exercises: each says at once whether a learner's answer is right.

Each tutorial notebook (``tutorials/*.ipynb``) asks the learner to write a
few lines on its central idea, then calls a checker from the module named
after the notebook's topic::

    from abcref.exercises import weights
    weights.check_alphas_normal_equations(my_alphas)

A checker calls the learner's function on inputs of its own (seeded), and
returns a :class:`Verdict`: ``ok`` and a one-line ``message`` that the
notebook shows. A correct answer is accepted whatever the way it is
written; a typical wrong one gets a message that names the mistake and
points at the idea that fixes it; no message shows the solution. An answer
still left as the exercise's template (it returns None) is "not attempted
yet", and an answer that raises is reported in one line, never as a
traceback, so the notebook runs top to bottom either way.

The worked solutions are in ``tutorials/solutions/`` (not in the
notebooks); the tests run every checker on them and on the typical wrong
answers. Nothing in abcref imports this package.
"""

from abcref.exercises._verdict import Verdict

__all__ = ["Verdict"]
