"""Tests of :mod:`abcref.compiler`."""
