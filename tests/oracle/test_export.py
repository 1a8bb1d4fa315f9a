"""Tests of abcref.oracle.export: the exported suite, its manifest and its conventions.

The ``suite`` and ``copy`` fixtures are in tests/oracle/conftest.py.
"""

import numpy as np
import pytest

from abcref.cli import main
from abcref.oracle import export_suite, load_arrays, load_case, load_manifest
from tests.oracle._suite import case_of


def test_export_writes_manifest_and_small_files(suite):
    manifest = load_manifest(suite)
    assert manifest["format"] == "abcref-oracle" and manifest["format_version"] == 1
    names = [c["name"] for c in manifest["cases"]]
    assert len(names) == len(set(names)) >= 40
    functions = {c["function"] for c in manifest["cases"]}
    assert functions == {
        "abcref.binarize.approximate_weights",
        "abcref.binarize.binarize_activations",
        "abcref.binarize.abc_conv2d_forward",
        "abcref.binarize.abc_conv2d_backward",
        "abcref.bitpack.xnor_conv2d",
        "abcref.bitpack.thresholds.fold_batchnorm_exact",
    }
    total = sum(p.stat().st_size for p in suite.iterdir())
    assert total < 600_000
    for case in manifest["cases"]:
        arrays = load_case(suite, case)  # declared shapes and dtypes hold
        for key, spec in case["outputs"].items():
            if arrays[key].dtype.kind in "biu" or key in ("B", "A"):
                assert spec["atol"] == spec["rtol"] == 0, (case["name"], key)
        for key, value in case["kwargs"].items():  # every kwarg is a recorded convention
            assert case["conventions"][key] == value, (case["name"], key)


def test_conventions_recorded_per_case(suite):
    conv = case_of(suite, "abc_sum_s1_p1")["conventions"]
    for key in (
        "M",
        "ddof",
        "ridge",
        "shifts_resolved",
        "per_channel",
        "stride",
        "padding",
        "pad_value",
        "weight_ste",
        "sign_of_zero",
        "activation_tie",
        "activation_ste",
    ):
        assert key in conv, key
    assert conv["weight_ste"] == "sum" and conv["sign_of_zero"] == -1
    assert conv["shifts_resolved"] == [-1.0, 0.0, 1.0]
    assert "R + v_n" in conv["activation_ste"]
    # H_v's convention, recorded wherever activations are binarized
    for name in ("abc_sum_s1_p1", "activations_dyadic_float32", "bn_fold_mixed_sign_float64"):
        assert case_of(suite, name)["conventions"]["H_v"].startswith(
            "H_v(R) is the comparator R >= fl(0.5 - v)"
        ), name


def test_export_is_deterministic_and_selectable(suite, tmp_path):
    export_suite(tmp_path, cases=["xnor_*", "weights_whole_M3_ddof0"])
    names = [c["name"] for c in load_manifest(tmp_path)["cases"]]
    assert names[0] == "weights_whole_M3_ddof0" and len(names) == 7
    for name in names:
        a, b = load_arrays(tmp_path / f"{name}.npz"), load_arrays(suite / f"{name}.npz")
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    with pytest.raises(ValueError, match="no case matches 'nope'"):
        export_suite(tmp_path, cases=["nope"])
    assert main(["oracle", "export", str(tmp_path), "--cases", "nope"]) == 2
