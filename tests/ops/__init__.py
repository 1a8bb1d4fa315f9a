"""Tests of :mod:`abcref.ops`."""
