"""abcref's tests, laid out like the package.

The test of ``abcref/x/y.py`` is ``tests/x/test_y.py``; of a top-level
module ``abcref/y.py``, ``tests/test_y.py`` (a private module's leading
underscore dropped: ``_checks.py`` -> ``test_checks.py``). Each folder is a
package, so equal basenames (``tests/ops/test_conv.py``,
``tests/fast/test_conv.py``, ``tests/bitpack/test_conv.py``) import under
pytest's default import mode. Tests that span the package sit at the top:
``test_layout.py`` (the import graph) and ``test_tutorials.py`` (the
notebooks).
"""
