"""Tests of :mod:`abcref.train`."""
