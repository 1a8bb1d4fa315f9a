"""Reading and rewriting an exported oracle suite, for the oracle tests."""

import json

from abcref.oracle import load_arrays, load_manifest, write_arrays
from abcref.oracle.format import MANIFEST_NAME


def manifest_copy(directory):
    """The manifest of ``directory`` as a fresh dict, read without validation."""
    return json.loads((directory / MANIFEST_NAME).read_text())


def case_of(directory, name):
    """The manifest entry of case ``name`` in ``directory``."""
    return next(c for c in load_manifest(directory)["cases"] if c["name"] == name)


def rewrite_case(directory, name, **arrays):
    """Replace output arrays of one case in ``directory``."""
    case = case_of(directory, name)
    data = load_arrays(directory / case["file"])
    data.update(arrays)
    write_arrays(directory / case["file"], data)
