"""Tests of :mod:`abcref.cli`."""
