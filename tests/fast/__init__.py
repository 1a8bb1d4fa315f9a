"""Tests of :mod:`abcref.fast`."""
