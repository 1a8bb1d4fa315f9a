"""Fixtures of the oracle tests: the exported suite and a writable copy of it."""

import shutil

import pytest

from abcref.oracle import export_suite


@pytest.fixture(scope="session")
def suite(tmp_path_factory):
    """The whole suite, exported once."""
    directory = tmp_path_factory.mktemp("suite")
    export_suite(directory)
    return directory


@pytest.fixture
def copy(suite, tmp_path):
    """A writable copy of the suite: 'another implementation' that agrees."""
    other = tmp_path / "other"
    shutil.copytree(suite, other)
    return other
