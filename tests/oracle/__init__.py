"""Tests of :mod:`abcref.oracle`."""
