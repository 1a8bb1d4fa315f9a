"""Tests of abcref/cli/_common.py: the argument types and the one exit-status policy.

Every exit status of every subcommand group (0, 1, 2, 130), run through
``main`` in-process, and the one-line ``abcref <command>: error: ...``
message. The command's entry points and help are tested in test_main.py;
each subcommand's own behaviour in tests/cli/test_<subcommand>.py.
"""

from __future__ import annotations

import argparse
import json
import shutil

import numpy as np
import pytest

import abcref.cli
from abcref.cli import _common, main
from tests.cli._helpers import run

TINY = ["--widths", "4", "8", "--limit", "64", "--no-progress"]
TINY_BASE = json.dumps({"arch": "small_cnn", "widths": [4, 4]})


# -- argument types -------------------------------------------------------------


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [
        (_common.positive_int, "3", 3),
        (_common.nonnegative_int, "0", 0),
        (_common.positive_float, "1e-3", 1e-3),
        (_common.nonnegative_float, "0", 0.0),
    ],
)
def test_argument_types_accept(parse, text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (_common.positive_int, "0", "expected an integer >= 1, got 0"),
        (_common.positive_int, "1.5", "expected an integer, got '1.5'"),
        (_common.nonnegative_int, "-1", "expected an integer >= 0, got -1"),
        (_common.positive_float, "0", "expected a finite number > 0, got 0"),
        (_common.positive_float, "inf", "expected a finite number > 0, got inf"),
        (_common.positive_float, "nan", "expected a finite number > 0, got nan"),
        (_common.positive_float, "x", "expected a number, got 'x'"),
        (_common.nonnegative_float, "-1e-9", "expected a finite number >= 0, got -1e-9"),
    ],
)
def test_argument_types_refuse(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=f"^{message}$"):
        parse(text)


# -- the exit-status policy, for every subcommand group --------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A trained ABC checkpoint (one epoch on 64 digits)."""
    out = tmp_path_factory.mktemp("train")
    assert main(["train", "--M", "1", "--N", "1", "--epochs", "1", "--out", str(out), *TINY]) == 0
    return out / "model.npz"


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """A two-case oracle suite."""
    directory = tmp_path_factory.mktemp("suite")
    assert main(["oracle", "export", str(directory), "--cases", "xnor_c1_p0", "bn_fold_*"]) == 0
    return directory


@pytest.fixture
def files(tmp_path, checkpoint, suite):
    """Paths the table below refers to by name."""
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(checkpoint.read_bytes()[:300])
    text = tmp_path / "notes.txt"
    text.write_text("not an array file\n")
    failing = tmp_path / "failing"
    shutil.copytree(suite, failing)
    with np.load(failing / "xnor_c1_p0.npz") as arrays:
        changed = {k: arrays[k] for k in arrays.files}
    changed["out"] = changed["out"] + 1
    np.savez(failing / "xnor_c1_p0.npz", **changed)
    return {
        "CKPT": checkpoint,
        "CORRUPT": corrupt,
        "TEXT": text,
        "DIR": tmp_path,
        "MISSING": tmp_path / "missing",
        "SUITE": suite,
        "FAILING": failing,
        "OUT": tmp_path / "out",
    }


DIVERGE = ["--lr", "1e30", "--optimizer", "sgd", "--batch-size", "8", "--epochs", "1"]

# (argv, exit status, text expected on stderr); names in capitals are files above.
POLICY = [
    # train
    (["train", "--M", "2", "--N", "0", "--epochs", "1", "--out", "OUT", *TINY], 0, ""),
    (["train", "--epochs", "0"], 2, "argument --epochs: expected an integer >= 1"),
    (["train", "--fp", "--M", "3"], 2, "--fp (full precision) excludes --M and --N"),
    (["train", "--depth", "20"], 2, "cifar_resnet option"),
    (["train", "--resume", "--init-from", "CKPT"], 2, "exclude each other"),
    (["train", "--out", "DIR", "--resume"], 2, "no checkpoint"),
    (["train", "--data", "MISSING", "--out", "OUT"], 2, "no embedded dataset named"),
    (["train", "--init-from", "CORRUPT", "--out", "OUT"], 2, "corrupt or truncated checkpoint"),
    (["train", *DIVERGE, "--out", "OUT", *TINY], 1, "training diverged"),
    # eval
    (["eval", "CKPT", "--limit", "16"], 0, ""),
    (["eval", "CKPT", "--bits", "--strict", "--limit", "16"], 0, ""),
    (["eval", "CKPT", "--batch-size", "0"], 2, "argument --batch-size"),
    (["eval", "MISSING"], 2, "does not exist"),
    (["eval", "CORRUPT"], 2, "corrupt or truncated checkpoint"),
    (["eval", "CKPT", "--data", "DIR"], 2, ""),
    # sweep
    (["sweep", "--M", "1", "--N", "1", "--seeds", "0", "--epochs", "1", *TINY, "--out", "OUT"],
     0, ""),
    (["sweep", "--M", "0"], 2, "argument --M: expected an integer >= 1"),
    (["sweep", "--widths", "4", "--depth", "8"], 2, "--depth and --width are cifar_resnet"),
    (["sweep", "--data", "MISSING", "--out", "OUT"], 2, "no embedded dataset named"),
    (["sweep", "--M", "1", "--N", "1", "--seeds", "0", *DIVERGE, *TINY, "--out", "OUT"],
     1, "training diverged"),
    # reproduce
    (["reproduce", "--quick", "--epochs", "0"], 2, "argument --epochs"),
    (["reproduce", "--quick", "--seeds", "0", "0", "--out", "OUT"], 2, "seeds must be distinct"),
    # summary
    (["summary", "--checkpoint", "CKPT", "--input-shape", "1", "8", "8"], 0, ""),
    (["summary", "--config", "{}", "--checkpoint", "CKPT", "--input-shape", "1", "8", "8"],
     2, "not allowed with argument"),
    (["summary", "--config", "{not json", "--input-shape", "1", "8", "8"], 2,
     "--config is neither a JSON object"),
    (["summary", "--checkpoint", "MISSING", "--input-shape", "1", "8", "8"], 2,
     "does not exist"),
    (["summary", "--checkpoint", "TEXT", "--input-shape", "1", "8", "8"], 2, ""),
    # figures
    (["figures", "--quick", "--nonsense"], 2, "unrecognized arguments: --nonsense"),
    (["oracle", "list", "--nonsense"], 2, "unrecognized arguments: --nonsense"),
    (["figures", "--quick", "--sweep", "MISSING", "--out", "OUT"], 2, "missing"),
    (["figures", "--quick", "--sweep", "TEXT", "--out", "OUT"], 2, "sweep file"),
    # oracle
    (["oracle", "list", "--cases", "xnor_c1_p0"], 0, ""),
    (["oracle", "check", "SUITE", "--against", "SUITE"], 0, ""),
    (["oracle", "check", "SUITE", "--against", "FAILING"], 1, ""),
    (["oracle", "check", "SUITE", "--against", "DIR"], 1, ""),  # every case missing
    (["oracle", "check", "SUITE"], 2, "the following arguments are required: --against"),
    (["oracle", "check", "MISSING", "--against", "SUITE"], 2, "manifest.json"),
    (["oracle", "check", "SUITE", "--against", "MISSING"], 2, "is not a directory"),
    (["oracle", "check", "SUITE", "--against", "SUITE", "--cases", "zzz"], 2, "zzz"),
    (["oracle", "export", "OUT", "--cases", "nope"], 2, "no case matches 'nope'"),
    (["oracle", "list", "--cases", "nope"], 2, "nope"),
    # compare
    (["compare", "table2", "--image-size", "32", "--width", "4", "--quiet"], 0, ""),
    (["compare", "table2", "--width", "-1"], 2, "argument --width"),
    (["compare", "table2", "--image-size", "8", "--quiet"], 2, "image_size"),
    (["compare", "table3", "--base", "{nope", "--quiet"], 2, "--base is not a JSON object"),
    (["compare", "table3", "--base", '{"widths": [4]}'], 2, "with an 'arch'"),
    (["compare", "section52", "--Ks", "0"], 2, "argument --Ks"),
    (["compare", "section52", "--data", "MISSING"], 2, "no embedded dataset named"),
    (["compare", "table3", "--base", TINY_BASE, "--seeds", "0", "--limit", "64", *DIVERGE,
      "--no-progress"], 1, "training diverged"),
    # the command itself
    ([], 2, "the following arguments are required: COMMAND"),
    (["nonsense"], 2, "invalid choice: 'nonsense'"),
]  # fmt: skip


GROUPS = ("train", "eval", "sweep", "reproduce", "summary", "figures", "oracle", "compare")
ACTIONS = ("export", "check", "list", "table3", "section52", "table2")


def _prog(argv) -> str:
    """``abcref``, ``abcref train`` or ``abcref oracle check``: the command ``argv`` names."""
    words = ["abcref"]
    if argv and argv[0] in GROUPS:
        words.append(argv[0])
        if len(argv) > 1 and argv[1] in ACTIONS:
            words.append(argv[1])
    return " ".join(words)


# The diverging runs overflow on purpose.
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize(("argv", "status", "message"), POLICY, ids=lambda v: None)
def test_exit_status_policy(capsys, files, argv, status, message):
    argv = [str(files.get(a, a)) for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == status, err
    if not message and status != 2:  # success, or a verdict printed on stdout
        assert err == ""
        return
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]  # (diverging runs print NumPy warnings before it)
    assert last.startswith(f"{_prog(argv)}: error: ") and message in last, err
    if status == 2:
        assert err.count("\n") == 1, err


def test_strict_bits_mismatch_exits_1(capsys, checkpoint, monkeypatch):
    """``eval --bits --strict``: differing predictions are a negative verdict (1)."""
    import abcref.compiler

    def differing(model, x, batch_size=500):
        return {"identical": False, "differ": 3}

    monkeypatch.setattr(abcref.compiler, "bits_check", differing)
    monkeypatch.setattr(abcref.compiler, "format_bits_check", lambda check: "3 differ")
    assert run(capsys, "eval", checkpoint, "--bits", "--limit", "16")[0] == 0
    assert run(capsys, "eval", checkpoint, "--bits", "--strict", "--limit", "16")[0] == 1


def test_reproduce_bit_check_failure_exits_1(capsys, monkeypatch, tmp_path):
    class Report:
        bits_ok = False

    monkeypatch.setattr(abcref.cli.reproduce, "reproduce", lambda *a, **k: Report())
    assert run(capsys, "reproduce", "--quick", "--out", tmp_path)[0] == 1


# Each group's leaf commands: (module, run function, argv that reaches it).
LEAVES = [
    ("train", "run", ["train"]),
    ("evaluate", "run", ["eval", "x.npz"]),
    ("sweep", "run", ["sweep"]),
    ("reproduce", "run", ["reproduce"]),
    ("summary", "run", ["summary", "--config", "{}", "--input-shape", "1", "8", "8"]),
    ("figures", "run", ["figures"]),
    ("oracle", "run_export", ["oracle", "export", "d"]),
    ("oracle", "run_check", ["oracle", "check", "d", "--against", "e"]),
    ("oracle", "run_list", ["oracle", "list"]),
    ("compare", "run_table3", ["compare", "table3"]),
    ("compare", "run_section52", ["compare", "section52"]),
    ("compare", "run_table2", ["compare", "table2"]),
]


@pytest.mark.parametrize(("module", "function", "argv"), LEAVES)
def test_interrupt_exits_130(capsys, monkeypatch, module, function, argv):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(getattr(abcref.cli, module), function, interrupted)
    assert run(capsys, *argv) == (130, "", f"{_prog(argv)}: interrupted\n")


@pytest.mark.parametrize(("module", "function", "argv"), LEAVES)
def test_traceback_flag_reraises(monkeypatch, module, function, argv):
    def failing(args):
        raise ValueError("a bad input")

    monkeypatch.setattr(getattr(abcref.cli, module), function, failing)
    assert main(argv) == 2
    with pytest.raises(ValueError, match="a bad input"):
        main(["--traceback", *argv])


def test_errors_print_only_the_first_line(capsys, monkeypatch):
    def failing(args):
        raise OSError("first line\nsecond line")

    monkeypatch.setattr(abcref.cli.figures, "run", failing)
    assert run(capsys, "figures") == (2, "", "abcref figures: error: first line\n")


def test_bugs_are_not_hidden(monkeypatch):
    """An exception outside the policy's classes is a bug: it propagates with its traceback."""

    def buggy(args):
        raise AttributeError("'NoneType' object has no attribute 'x'")

    monkeypatch.setattr(abcref.cli.summary, "run", buggy)
    with pytest.raises(AttributeError):
        main(["summary", "--config", "{}", "--input-shape", "1", "8", "8"])
