"""Tests of abcref.oracle.cases: the case inputs make every convention visible.

Inputs built so that each convention difference (ddof, sign of zero, ties
at a threshold) changes the outputs; checked with abcref.oracle.variants.
"""

import numpy as np

from abcref.binarize import DEFAULT_RIDGE
from abcref.oracle import cases as oracle_cases
from abcref.oracle import variants


def test_default_ridge_matches_binarize():
    assert oracle_cases.DEFAULT_RIDGE == DEFAULT_RIDGE


def test_case_inputs_make_conventions_visible():
    rng = np.random.default_rng(3)
    W = oracle_cases.ddof_sensitive_weights(rng, (4, 2, 3, 3), 3)
    assert (variants.weight_bases(W, 3, ddof=0) != variants.weight_bases(W, 3, ddof=1)).any()
    W = oracle_cases.symmetric_dyadic_weights(rng, (4, 2, 3, 3), per_channel=True)
    assert (W.reshape(4, -1).mean(axis=1) == 0).all()
    assert (variants.weight_bases(W, 3, per_channel=True, sign_of_zero=0) == 0).any()
    t = oracle_cases.threshold_values([0.25], np.float32)
    assert t[1] == np.float32(0.25) and t[0] < t[1] < t[2]
    assert np.nextafter(t[0], np.float32(1)) == t[1]
