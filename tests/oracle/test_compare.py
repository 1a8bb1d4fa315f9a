"""Tests of abcref.oracle.compare: check_against passes a copy and names what fails.

The ``suite`` and ``copy`` fixtures are in tests/oracle/conftest.py.
"""

import json

import numpy as np
import pytest

from abcref.cli import main
from abcref.oracle import OracleFormatError, check_against, load_arrays, write_arrays
from abcref.oracle.format import MANIFEST_NAME
from tests.oracle._suite import case_of, manifest_copy, rewrite_case


def test_round_trip_passes_and_cli_exits_zero(suite, capsys):
    report = check_against(suite, suite)
    assert report.ok and all(c.status == "PASS" for c in report.cases)
    assert main(["oracle", "check", str(suite), "--against", str(suite)]) == 0
    out = capsys.readouterr().out
    assert "passed, 0 failed, 0 missing" in out and out.strip().endswith("OK")


def test_other_may_omit_inputs_and_use_another_numeric_dtype(suite, tmp_path):
    case = case_of(suite, "xnor_c3_p1_zero")
    ref = load_arrays(suite / case["file"])
    write_arrays(tmp_path / case["file"], {"out": ref["out"].astype(np.int32)})
    report = check_against(suite, tmp_path, cases=["xnor_c3_p1_zero"])
    assert report.ok
    assert "dtype int32" in report.format(verbose=True)


def test_perturbed_array_fails_naming_the_case(suite, copy, capsys):
    case = case_of(suite, "abc_paper_s2_p0")
    dW = load_arrays(suite / case["file"])["dW"].copy()
    dW[1, 2, 0, 1] += 1e-3
    rewrite_case(copy, "abc_paper_s2_p0", dW=dW)
    report = check_against(suite, copy)
    assert not report.ok
    failed = [c for c in report.cases if not c.ok]
    assert [c.name for c in failed] == ["abc_paper_s2_p0"]
    text = report.format()
    assert "FAIL    abc_paper_s2_p0" in text
    assert "dW: MISMATCH" in text and "first at index (1, 2, 0, 1)" in text
    assert "max abs err 0.001" in text
    ref = load_arrays(suite / case["file"])["dW"][1, 2, 0, 1]
    # full precision (the shortest text that reads back as the same float) and the difference
    assert f"reference {ref!s}, other {dW[1, 2, 0, 1]!s}, difference +0.001 (relative " in text
    assert float(str(ref)) == ref
    assert main(["oracle", "check", str(suite), "--against", str(copy)]) == 1
    assert "1 failed" in capsys.readouterr().out


def test_missing_file_wrong_shape_and_changed_inputs(suite, copy):
    (copy / "xnor_c1_p0.npz").unlink()
    rewrite_case(copy, "xnor_c3_p1_zero", out=np.zeros((1, 2), dtype=np.int64))
    x = load_arrays(copy / "abc_M1_N1.npz")["x"] + 1.0
    rewrite_case(copy, "abc_M1_N1", x=x)
    report = {c.name: c for c in check_against(suite, copy).cases}
    assert report["xnor_c1_p0"].status == "MISSING"
    assert report["xnor_c3_p1_zero"].status == "FAIL"
    assert (
        "shape [1, 2], the reference has [2, 3, 5, 5]"
        in report["xnor_c3_p1_zero"].outputs[0].problem
    )
    assert report["abc_M1_N1"].status == "ERROR"
    assert "input 'x'" in report["abc_M1_N1"].message


def test_other_manifest_must_agree(suite, copy):
    manifest = manifest_copy(suite)
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


def test_check_cases_filter_and_list(suite, capsys):
    report = check_against(suite, suite, cases=["bn_fold_*"])
    assert len(report.cases) == 4 and report.ok
    with pytest.raises(OracleFormatError, match="no case of the suite matches 'zzz'"):
        check_against(suite, suite, cases=["zzz"])
    assert main(["oracle", "list", "--cases", "abc_ties"]) == 0
    assert "abc_ties" in capsys.readouterr().out
    assert main(["oracle", "check", str(suite), "--against", str(suite / "nodir")]) == 2


def test_unrecognised_files_and_arrays_are_warnings(suite, copy, capsys):
    (copy / "abc_paper_s1_p1.npz").rename(copy / "abc_paper_s1_p1.npy")
    (copy / "notes.txt").write_text("scratch")
    (copy / "extra").mkdir()
    data = load_arrays(copy / "xnor_c1_p0.npz")
    data["outt"] = data.pop("out")
    data["out"] = data["outt"]
    write_arrays(copy / "xnor_c1_p0.npz", data)
    report = check_against(suite, copy)
    assert report.warnings == [
        f"file {str(copy / 'abc_paper_s1_p1.npy')!r} matches no case of the suite; "
        "did you mean 'abc_paper_s1_p1.npz'?",
        f"directory {str(copy / 'extra')!r} matches no case of the suite",
        f"file {str(copy / 'notes.txt')!r} matches no case of the suite",
    ]
    xnor = next(c for c in report.cases if c.name == "xnor_c1_p0")
    assert xnor.ok and xnor.warnings == [
        f"array 'outt' in {str(copy / 'xnor_c1_p0.npz')!r} is neither an output nor an input "
        "of the case (outputs: out); did you mean 'out'?"
    ]
    assert main(["oracle", "check", str(suite), "--against", str(copy)]) == 1  # one MISSING
    out = capsys.readouterr().out
    assert "WARNING file" in out and "WARNING: array 'outt'" in out
    assert "1 missing, 0 error(s), 4 warning(s) -> NOT OK" in out


def test_warnings_alone_do_not_fail_the_check(suite, copy):
    (copy / "README").write_text("my outputs")
    report = check_against(suite, copy)
    assert report.ok and len(report.warnings) == 1


def test_a_directory_named_like_a_case_is_an_error(suite, copy):
    (copy / "xnor_c1_p0.npz").unlink()
    (copy / "xnor_c1_p0.npz").mkdir()
    (case,) = check_against(suite, copy, cases=["xnor_c1_p0"]).cases
    assert case.status == "ERROR"
    where = str(copy / "xnor_c1_p0.npz")
    assert case.message == f"{where!r} is a directory, expected an array file"
