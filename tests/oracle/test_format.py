"""abcref.oracle: export -> check round trip, failure reports, format validation."""

import json
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from abcref.cli import main
from abcref.oracle import (
    OracleFormatError,
    check_against,
    export_suite,
    load_arrays,
    load_case,
    load_manifest,
    validate_manifest,
    write_arrays,
)
from abcref.oracle.format import MANIFEST_NAME
from abcref.oracle.tolerance import within_tolerance


@pytest.fixture(scope="session")
def suite(tmp_path_factory):
    directory = tmp_path_factory.mktemp("suite")
    export_suite(directory)
    return directory


@pytest.fixture
def copy(suite, tmp_path):
    """A writable copy of the suite: 'another implementation' that agrees."""
    other = tmp_path / "other"
    shutil.copytree(suite, other)
    return other


def _case(directory, name):
    return next(c for c in load_manifest(directory)["cases"] if c["name"] == name)


def _rewrite(directory, name, **arrays):
    """Replace output arrays of one case in ``directory``."""
    case = _case(directory, name)
    data = load_arrays(directory / case["file"])
    data.update(arrays)
    write_arrays(directory / case["file"], data)


# -- round trip ------------------------------------------------------------------------------
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
    conv = _case(suite, "abc_sum_s1_p1")["conventions"]
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


def test_round_trip_passes_and_cli_exits_zero(suite, capsys):
    report = check_against(suite, suite)
    assert report.ok and all(c.status == "PASS" for c in report.cases)
    assert main(["oracle", "check", str(suite), "--against", str(suite)]) == 0
    out = capsys.readouterr().out
    assert "passed, 0 failed, 0 missing" in out and out.strip().endswith("OK")


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


def test_other_may_omit_inputs_and_use_another_numeric_dtype(suite, tmp_path):
    case = _case(suite, "xnor_c3_p1_zero")
    ref = load_arrays(suite / case["file"])
    write_arrays(tmp_path / case["file"], {"out": ref["out"].astype(np.int32)})
    report = check_against(suite, tmp_path, cases=["xnor_c3_p1_zero"])
    assert report.ok
    assert "dtype int32" in report.format(verbose=True)


# -- failures --------------------------------------------------------------------------------
def test_perturbed_array_fails_naming_the_case(suite, copy, capsys):
    case = _case(suite, "abc_paper_s2_p0")
    dW = load_arrays(suite / case["file"])["dW"].copy()
    dW[1, 2, 0, 1] += 1e-3
    _rewrite(copy, "abc_paper_s2_p0", dW=dW)
    report = check_against(suite, copy)
    assert not report.ok
    failed = [c for c in report.cases if not c.ok]
    assert [c.name for c in failed] == ["abc_paper_s2_p0"]
    text = report.format()
    assert "FAIL    abc_paper_s2_p0" in text
    assert "dW: MISMATCH" in text and "first at index (1, 2, 0, 1)" in text
    assert "max abs err 0.001" in text
    assert main(["oracle", "check", str(suite), "--against", str(copy)]) == 1
    assert "1 failed" in capsys.readouterr().out


def test_missing_file_wrong_shape_and_changed_inputs(suite, copy):
    (copy / "xnor_c1_p0.npz").unlink()
    _rewrite(copy, "xnor_c3_p1_zero", out=np.zeros((1, 2), dtype=np.int64))
    x = load_arrays(copy / "abc_M1_N1.npz")["x"] + 1.0
    _rewrite(copy, "abc_M1_N1", x=x)
    report = {c.name: c for c in check_against(suite, copy).cases}
    assert report["xnor_c1_p0"].status == "MISSING"
    assert report["xnor_c3_p1_zero"].status == "FAIL"
    assert (
        "shape [1, 2], the reference has [2, 3, 5, 5]"
        in report["xnor_c3_p1_zero"].outputs[0].problem
    )
    assert report["abc_M1_N1"].status == "ERROR"
    assert "input 'x'" in report["abc_M1_N1"].message


def test_nan_fails_and_equal_infinities_pass():
    ref = np.array([1.0, np.inf, 2.0])
    other = np.array([1.0, np.inf, np.nan])
    np.testing.assert_array_equal(within_tolerance(ref, other, 1e-9, 1e-7), [True, True, False])


# -- manifest validation ---------------------------------------------------------------------
def _manifest_copy(suite):
    return json.loads((suite / MANIFEST_NAME).read_text())


def test_manifest_missing_key_is_a_clear_error(suite, copy):
    manifest = _manifest_copy(suite)
    del manifest["cases"][3]["seed"]
    (copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(
        OracleFormatError, match=r"cases\[3\] is missing required key\(s\) \['seed'\]"
    ):
        load_manifest(copy)
    assert main(["oracle", "check", str(copy), "--against", str(suite)]) == 2


def test_manifest_unknown_function_and_bad_entries(suite):
    manifest = _manifest_copy(suite)
    manifest["cases"][0]["function"] = "abcref.binarize.nonexistent"
    with pytest.raises(OracleFormatError, match="unknown function 'abcref.binarize.nonexistent'"):
        validate_manifest(manifest)
    manifest = _manifest_copy(suite)
    manifest["cases"][1]["name"] = manifest["cases"][1]["file"] = "../escape"
    with pytest.raises(OracleFormatError, match="may hold only letters"):
        validate_manifest(manifest)
    manifest = _manifest_copy(suite)
    manifest["cases"][2]["name"] = manifest["cases"][0]["name"]
    with pytest.raises(OracleFormatError, match="duplicate case name"):
        validate_manifest(manifest)
    manifest = _manifest_copy(suite)
    manifest["format_version"] = 99
    with pytest.raises(OracleFormatError, match="format_version 99 is not supported"):
        validate_manifest(manifest)
    manifest = _manifest_copy(suite)
    case = next(c for c in manifest["cases"] if c["function"].endswith("xnor_conv2d"))
    case["outputs"]["out"]["atol"] = 0.5
    with pytest.raises(OracleFormatError, match="compared exactly"):
        validate_manifest(manifest)
    manifest = _manifest_copy(suite)
    del manifest["cases"][0]["kwargs"]["ddof"]
    with pytest.raises(OracleFormatError, match=r"missing \['ddof'\]"):
        validate_manifest(manifest)
    manifest = _manifest_copy(suite)
    manifest["cases"][0]["inputs"]["W"]["dtype"] = "object"
    with pytest.raises(OracleFormatError, match="dtype 'object' is not one of"):
        validate_manifest(manifest)


def test_manifest_not_json_or_absent(tmp_path):
    with pytest.raises(OracleFormatError, match="does not exist: is .* a suite"):
        load_manifest(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(OracleFormatError, match="is not valid JSON"):
        load_manifest(tmp_path)


def test_declared_shape_and_dtype_are_enforced(suite, copy):
    case = _case(suite, "weights_whole_M1")
    data = load_arrays(copy / case["file"])
    data["W"] = data["W"][:2]
    write_arrays(copy / case["file"], data)
    with pytest.raises(
        OracleFormatError,
        match="array 'W' .* has shape \\[2, 2, 3, 3\\], the manifest declares \\[4, 2, 3, 3\\]",
    ):
        load_case(copy, case)
    data["W"] = np.zeros((4, 2, 3, 3), dtype=np.float32)
    write_arrays(copy / case["file"], data)
    with pytest.raises(OracleFormatError, match="dtype float32, the manifest declares float64"):
        load_case(copy, case)
    # a broken reference suite makes the case an ERROR, never a crash
    assert {c.name: c.status for c in check_against(copy, suite).cases}[
        "weights_whole_M1"
    ] == "ERROR"


def test_other_manifest_must_agree(suite, copy):
    manifest = _manifest_copy(suite)
    manifest["cases"][0]["function"] = "abcref.bitpack.xnor_conv2d"
    manifest["cases"][0]["inputs"] = {
        "a": {"shape": [1], "dtype": "int8"},
        "b": {"shape": [1], "dtype": "int8"},
    }
    manifest["cases"][0]["outputs"] = {
        "out": {"shape": [1], "dtype": "int64", "atol": 0, "rtol": 0}
    }
    manifest["cases"][0]["kwargs"] = {"stride": 1, "padding": 0, "pad_value": 0}
    (copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(OracleFormatError, match="the reference suite declares"):
        check_against(suite, copy)


# -- loading never unpickles; corrupt files --------------------------------------------------
def test_object_array_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, out=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(OracleFormatError, match="object array.*never unpickles"):
        load_arrays(path)
    with pytest.raises(OracleFormatError, match="dtype object"):
        write_arrays(tmp_path / "x.npz", {"out": np.array([None], dtype=object)})


def test_truncated_and_garbage_files_are_clear_errors(suite, copy):
    path = copy / "xnor_c3_p1_zero.npz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(OracleFormatError, match="not a readable .npz file"):
        load_arrays(path)
    path.write_bytes(b"not a zip at all")
    with pytest.raises(OracleFormatError, match="not a readable .npz file"):
        load_arrays(path)
    report = {c.name: c for c in check_against(suite, copy).cases}
    assert report["xnor_c3_p1_zero"].status == "ERROR"
    assert "truncated or corrupt" in report["xnor_c3_p1_zero"].message
    with pytest.raises(OracleFormatError, match="does not exist"):
        load_arrays(copy / "nothing.npz")
    assert zipfile.is_zipfile(suite / "xnor_c3_p1_zero.npz")


def test_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / "case.npz"
    write_arrays(path, {"x": np.arange(3.0)})

    def broken_savez(f, **arrays):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        write_arrays(path, {"x": np.zeros(3)})
    np.testing.assert_array_equal(load_arrays(path)["x"], np.arange(3.0))
    assert [p.name for p in tmp_path.iterdir()] == ["case.npz"]


def test_check_cases_filter_and_list(suite, capsys):
    report = check_against(suite, suite, cases=["bn_fold_*"])
    assert len(report.cases) == 4 and report.ok
    with pytest.raises(OracleFormatError, match="no case of the suite matches 'zzz'"):
        check_against(suite, suite, cases=["zzz"])
    assert main(["oracle", "list", "--cases", "abc_ties"]) == 0
    assert "abc_ties" in capsys.readouterr().out
    assert main(["oracle", "check", str(suite), "--against", str(suite / "nodir")]) == 2


def test_command_line_exit_codes(suite, copy):
    """The real command path: ``python -m abcref.cli oracle ...`` and its exit status."""

    def run(*args):
        cmd = [sys.executable, "-m", "abcref.cli", "oracle", *args]
        return subprocess.run(cmd, capture_output=True, text=True, check=False)

    ok = run("check", str(suite), "--against", str(copy), "--cases", "xnor_*")
    assert ok.returncode == 0 and "6 passed" in ok.stdout
    _rewrite(copy, "xnor_c1_p0", out=np.zeros((2, 3, 3, 3), dtype=np.int64))
    bad = run("check", str(suite), "--against", str(copy), "--cases", "xnor_*")
    assert bad.returncode == 1 and "FAIL    xnor_c1_p0" in bad.stdout
    broken = run("check", str(copy / "missing"), "--against", str(copy))
    assert broken.returncode == 2 and "manifest.json" in broken.stderr
