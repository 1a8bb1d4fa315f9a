"""Tests of :mod:`abcref.quantize`."""
