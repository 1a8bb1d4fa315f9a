"""Tests of :mod:`abcref.apps`."""
