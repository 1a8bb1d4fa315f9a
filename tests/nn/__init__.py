"""Tests of :mod:`abcref.nn`."""
