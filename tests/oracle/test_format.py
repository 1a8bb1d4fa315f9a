"""Tests of abcref.oracle.format: the manifest schema, declared arrays, safe and atomic files.

The ``suite`` and ``copy`` fixtures are in tests/oracle/conftest.py.
"""

import json
import zipfile

import numpy as np
import pytest

from abcref.cli import main
from abcref.oracle import (
    OracleFormatError,
    check_against,
    load_arrays,
    load_case,
    load_manifest,
    validate_manifest,
    write_arrays,
)
from abcref.oracle.format import MANIFEST_NAME
from tests.oracle._suite import case_of, manifest_copy


# -- manifest validation ---------------------------------------------------------------------
def test_manifest_missing_key_is_a_clear_error(suite, copy):
    manifest = manifest_copy(suite)
    del manifest["cases"][3]["seed"]
    (copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(
        OracleFormatError, match=r"cases\[3\] is missing required key\(s\) \['seed'\]"
    ):
        load_manifest(copy)
    assert main(["oracle", "check", str(copy), "--against", str(suite)]) == 2


def test_manifest_unknown_function_and_bad_entries(suite):
    manifest = manifest_copy(suite)
    manifest["cases"][0]["function"] = "abcref.binarize.nonexistent"
    with pytest.raises(OracleFormatError, match="unknown function 'abcref.binarize.nonexistent'"):
        validate_manifest(manifest)
    manifest = manifest_copy(suite)
    manifest["cases"][1]["name"] = manifest["cases"][1]["file"] = "../escape"
    with pytest.raises(OracleFormatError, match="may hold only letters"):
        validate_manifest(manifest)
    manifest = manifest_copy(suite)
    manifest["cases"][2]["name"] = manifest["cases"][0]["name"]
    with pytest.raises(OracleFormatError, match="duplicate case name"):
        validate_manifest(manifest)
    manifest = manifest_copy(suite)
    manifest["format_version"] = 99
    with pytest.raises(OracleFormatError, match="format_version 99 is not supported"):
        validate_manifest(manifest)
    manifest = manifest_copy(suite)
    case = next(c for c in manifest["cases"] if c["function"].endswith("xnor_conv2d"))
    case["outputs"]["out"]["atol"] = 0.5
    with pytest.raises(OracleFormatError, match="compared exactly"):
        validate_manifest(manifest)
    manifest = manifest_copy(suite)
    del manifest["cases"][0]["kwargs"]["ddof"]
    with pytest.raises(OracleFormatError, match=r"missing \['ddof'\]"):
        validate_manifest(manifest)
    manifest = manifest_copy(suite)
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
    case = case_of(suite, "weights_whole_M1")
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
    # a broken reference suite cannot be checked against: an error (exit 2), never a crash
    with pytest.raises(OracleFormatError, match="dtype float32, the manifest declares float64"):
        check_against(copy, suite)
    assert main(["oracle", "check", str(copy), "--against", str(suite)]) == 2


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
    with pytest.raises(OracleFormatError, match="corrupt or truncated array"):
        load_arrays(path)
    path.write_bytes(b"not a zip at all")
    with pytest.raises(OracleFormatError, match=r"not an npz array \(it looks like text\)"):
        load_arrays(path)
    report = {c.name: c for c in check_against(suite, copy).cases}
    assert report["xnor_c3_p1_zero"].status == "ERROR"
    assert "not an npz array (it looks like text)" in report["xnor_c3_p1_zero"].message
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
