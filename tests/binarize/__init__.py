"""Tests of :mod:`abcref.binarize`."""
