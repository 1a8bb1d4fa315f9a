"""Tests of :mod:`abcref.data`."""
