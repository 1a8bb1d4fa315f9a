"""No malformed input makes the checker crash.

The other implementation's files: truncated, empty, garbage, non-NPY zip
members, object and non-numeric arrays, missing and extra arrays, wrong
shapes, directories; each is one case's ERROR or FAIL (or a warning),
never an exception. The reference suite: any damage to its manifest or
files is an ``OracleFormatError`` (the command's exit status 2). Both are
also fuzzed with seeded random damage.

The ``suite`` and ``copy`` fixtures are in tests/oracle/conftest.py.
"""

import io
import json
import random
import re
import zipfile

import numpy as np
import pytest

from abcref.oracle import OracleFormatError, check_against, load_arrays
from abcref.oracle.format import MANIFEST_NAME
from tests.oracle._suite import manifest_copy

CASE = "abc_paper_s1_p1"


def _zip(path, members: dict[str, bytes]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())


def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _npy_header(header: str, data: bytes = b"") -> bytes:
    text = header.encode("latin1")
    text += b" " * (63 - (10 + len(text)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + data


def _status(suite, copy):
    (case,) = check_against(suite, copy, cases=[CASE]).cases
    return case


def _outputs(suite):
    data = load_arrays(suite / f"{CASE}.npz")
    return {k: data[k] for k in ("out", "dx", "dW", "dv", "dbeta")}


UNREADABLE = {
    "empty file": lambda path, outputs: path.write_bytes(b""),
    "garbage": lambda path, outputs: path.write_bytes(b"\x00garbage" * 10),
    "truncated": lambda path, outputs: path.write_bytes(path.read_bytes()[:300]),
    "non-NPY member": lambda path, outputs: _zip(path, {"out": b"not an npy file"}),
    "non-NPY .npy member": lambda path, outputs: _zip(path, {"out.npy": b"not an npy file"}),
    "empty member": lambda path, outputs: _zip(path, {"out.npy": b""}),
    "object array": lambda path, outputs: _zip(
        path, {"out.npy": _npy(np.array([None, {}], dtype=object))}
    ),
    "unterminated NPY header": lambda path, outputs: _zip(
        path, {"out.npy": _npy_header("{'descr': '<f8', 'fortran_order': False, 'shape': (3,")}
    ),
    "NPY header declaring 8 TB": lambda path, outputs: _zip(
        path,
        {
            "out.npy": _npy_header(
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }", b"\0" * 8
            )
        },
    ),
    "NPY data shorter than declared": lambda path, outputs: _zip(
        path,
        {"out.npy": _npy_header("{'descr': '<f8', 'fortran_order': False, 'shape': (9,), }")},
    ),
    "zip directory entry": lambda path, outputs: _zip(path, {"out/": b""}),
}


@pytest.mark.parametrize("damage", sorted(UNREADABLE))
def test_unreadable_file_is_an_error_line(suite, copy, damage):
    path = copy / f"{CASE}.npz"
    UNREADABLE[damage](path, _outputs(suite))
    case = _status(suite, copy)
    assert case.status == "ERROR", (damage, case)
    assert str(path) in case.message and "\n" not in case.message


WRONG_OUTPUTS = {
    "complex dtype": ("out", lambda a: a.astype(np.complex128), "is not a real numeric dtype"),
    "string dtype": ("out", lambda a: a.astype(str), "is not a real numeric dtype"),
    "structured dtype": (
        "dv",
        lambda a: np.zeros(a.shape, dtype=[("x", "f8")]),
        "is not a real numeric dtype",
    ),
    "0-d array": ("dbeta", lambda a: np.float64(1.0), "shape [], the reference has [3]"),
    "wrong shape": ("dx", lambda a: a.T, "the reference has [2, 3, 5, 5]"),
    "NaN": ("dW", lambda a: np.full_like(a, np.nan), "MISMATCH"),
    "missing": ("dW", None, "array missing from the other implementation's file"),
}


@pytest.mark.parametrize("wrong", sorted(WRONG_OUTPUTS))
def test_unusable_output_array_fails_the_case(suite, copy, wrong):
    name, change, text = WRONG_OUTPUTS[wrong]
    outputs = _outputs(suite)
    if change is None:
        del outputs[name]
    else:
        outputs[name] = np.asarray(change(outputs[name]))
    np.savez(copy / f"{CASE}.npz", **outputs)
    case = _status(suite, copy)
    assert case.status == "FAIL"
    report = check_against(suite, copy, cases=[CASE]).format()
    assert text in report


def test_extra_arrays_and_a_non_numeric_input_copy(suite, copy):
    outputs = _outputs(suite)
    np.savez(copy / f"{CASE}.npz", **outputs, extra=np.zeros(2), dW_old=np.zeros(1))
    case = _status(suite, copy)
    assert case.ok and len(case.warnings) == 2
    np.savez(copy / f"{CASE}.npz", **outputs, x=np.array(["a"]))
    case = _status(suite, copy)
    assert case.status == "ERROR" and "input 'x'" in case.message


def test_broken_and_dangling_entries(suite, copy):
    (copy / f"{CASE}.npz").unlink()
    (copy / f"{CASE}.npz").symlink_to(copy / "nowhere.npz")
    case = _status(suite, copy)
    assert case.status == "ERROR" and "does not exist" in case.message


def test_fuzzed_output_files_never_crash(suite, copy):
    rng = random.Random(14)
    original = (suite / f"{CASE}.npz").read_bytes()
    statuses = set()
    for _ in range(150):
        data = bytearray(original)
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data))]
        else:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        (copy / f"{CASE}.npz").write_bytes(bytes(data))
        case = _status(suite, copy)
        statuses.add(case.status)
        assert case.status in ("PASS", "FAIL", "ERROR")
    assert "ERROR" in statuses


# -- the reference suite -------------------------------------------------------------------------
JUNK = [None, -1, 0, 2.5, 10**20, "x", "", [], [1, -2], {}, {"a": 1}, True, float("nan")]


def _leaves(obj, path=()):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(obj, list) and obj:
        for i, value in enumerate(obj):
            yield from _leaves(value, (*path, i))
    yield path


def _replace(obj, path, value):
    if not path:
        return value
    target = obj
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return obj


def test_fuzzed_reference_manifest_is_a_format_error_or_harmless(suite, copy):
    """Random manifest damage: a clean OracleFormatError, or a check that still runs."""
    rng = random.Random(11)
    original = manifest_copy(suite)
    small = {"format", "format_version", "abcref_version"}
    original["cases"] = [c for c in original["cases"] if c["name"] in (CASE, "xnor_c1_p0")]
    leaves = list(_leaves(original))
    errors = 0
    for _ in range(300):
        manifest = json.loads(json.dumps(original))
        path = rng.choice(leaves)
        manifest = _replace(manifest, path, rng.choice(JUNK))
        if rng.random() < 0.2 and isinstance(manifest, dict):
            manifest[rng.choice([*small, "cases", "unknown"])] = rng.choice(JUNK)
        (copy / MANIFEST_NAME).write_text(json.dumps(manifest))
        try:
            check_against(copy, suite)
        except OracleFormatError as err:
            errors += 1
            assert "\n" not in str(err).strip()
    assert errors > 150


@pytest.mark.parametrize(
    ("path", "value", "text"),
    [
        (("M",), 0, "kwargs['M'] must be >= 1"),
        (("M",), "3", "kwargs['M'] must be an integer"),
        (("M",), 10**6, "kwargs['M'] must be at most 64"),
        (("stride",), [1, 0], "kwargs['stride'][1] must be >= 1"),
        (("padding",), 1000, "kwargs['padding'] must be at most 64"),
        (("shifts",), [0.0], "kwargs['shifts'] must be null or a list of M numbers"),
        (("ridge",), -1.0, "kwargs['ridge'] must be >= 0"),
        (("weight_ste",), "both", "kwargs['weight_ste'] must be one of"),
        (("per_channel",), "no", "kwargs['per_channel'] must be a bool"),
    ],
)
def test_reference_kwargs_are_validated(suite, copy, path, value, text):
    manifest = manifest_copy(suite)
    case = next(c for c in manifest["cases"] if c["name"] == CASE)
    _replace(case["kwargs"], path, value)
    (copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(OracleFormatError, match=f"case {CASE!r}: " + re.escape(text)):
        check_against(copy, suite)


@pytest.mark.parametrize("damage", sorted(UNREADABLE))
def test_unreadable_reference_file_is_a_format_error(suite, copy, damage):
    UNREADABLE[damage](copy / f"{CASE}.npz", _outputs(suite))
    with pytest.raises(OracleFormatError):
        check_against(copy, suite, cases=[CASE])
