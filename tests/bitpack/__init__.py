"""Tests of :mod:`abcref.bitpack`."""
