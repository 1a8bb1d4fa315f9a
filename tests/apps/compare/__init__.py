"""Tests of :mod:`abcref.apps.compare`."""
