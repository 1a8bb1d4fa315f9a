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
from tests.data._files import write_mnist

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


@pytest.fixture(scope="module")
def fp_checkpoint(tmp_path_factory):
    """A trained full-precision checkpoint."""
    out = tmp_path_factory.mktemp("fp")
    assert main(["train", "--fp", "--epochs", "1", "--out", str(out), *TINY]) == 0
    return out / "model.npz"


@pytest.fixture
def files(tmp_path, checkpoint, fp_checkpoint, suite):
    """Paths the table below refers to by name."""
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(checkpoint.read_bytes()[:300])
    text = tmp_path / "notes.txt"
    text.write_text("not an array file\n")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    failing = tmp_path / "failing"
    shutil.copytree(suite, failing)
    with np.load(failing / "xnor_c1_p0.npz") as arrays:
        changed = {k: arrays[k] for k in arrays.files}
    changed["out"] = changed["out"] + 1
    np.savez(failing / "xnor_c1_p0.npz", **changed)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("mine")
    mnist28 = tmp_path / "mnist28"
    write_mnist(mnist28, n_train=16, n_test=16, rows=28, cols=28)
    return {
        "CKPT": checkpoint,
        "FP_CKPT": fp_checkpoint,
        "RUN": checkpoint.parent,
        "CORRUPT": corrupt,
        "TEXT": text,
        "BAD_JSON": bad_json,
        "DIR": tmp_path,
        "EMPTY": tmp_path / "empty",
        "FOREIGN": foreign,
        "MISSING": tmp_path / "missing",
        "MNIST28": mnist28,
        "SUITE": suite,
        "FAILING": failing,
        "OUT": tmp_path / "out",
    }


DIVERGE = ["--lr", "1e30", "--optimizer", "sgd", "--batch-size", "8", "--epochs", "1"]
SHAPE = ["--input-shape", "1", "8", "8"]

# (argv, exit status, text expected on stderr); names in capitals are files above.
# Comments name the error class (docs/cli.md, "Exit status and errors").
POLICY = [
    # train
    (["train", "--M", "2", "--N", "0", "--epochs", "1", "--out", "OUT", *TINY], 0, ""),
    (["train", "--epochs", "0"], 2, "argument --epochs: expected an integer >= 1"),  # bad value
    (["train", "--fp", "--M", "3"], 2, "--fp (full precision) excludes --M and --N"),  # conflict
    (["train", "--resume", "--overwrite"], 2, "not allowed with argument"),
    (["train", "--depth", "20"], 2, "cifar_resnet option"),  # inapplicable flag
    (["train", "--fp", "--per-channel", "--out", "OUT"], 2, "has no effect with --fp"),
    (["train", "--activation", "hardtanh", "--out", "OUT"], 2, "so it has no effect"),
    (["train", "--resume", "--init-from", "CKPT"], 2, "exclude each other"),
    (["train", "--out", "DIR", "--resume"], 2, "nothing to resume"),  # run folder
    (["train", "--out", "RUN", *TINY], 2, "holds an abcref train run; --resume continues it"),
    (["train", "--out", "FOREIGN", *TINY], 2, "holds no abcref run (it has 'thesis.tex')"),
    (["train", "--out", "TEXT", *TINY], 2, "is a file, not a directory"),
    (["train", "--data", "MISSING", "--out", "OUT"], 2, "--data '"),  # not found
    (["train", "--data", "TEXT", "--out", "OUT"], 2, "notes.txt' is a file"),  # wrong kind
    (["train", "--init-from", "MISSING", "--out", "OUT"], 2, "does not exist"),
    (["train", "--init-from", "DIR", "--out", "OUT"], 2, "is a directory, not a file"),
    (["train", "--init-from", "CORRUPT", "--out", "OUT"], 2, "corrupt or truncated checkpoint"),
    (["train", "--init-from", "CKPT", "--out", "OUT"], 2, "is not a full-precision model"),
    (["train", "--init-from", "FP_CKPT", "--data", "MNIST28", "--out", "OUT", "--no-progress"],
     2, "trained on 1x8x8 images"),
    (["train", *DIVERGE, "--out", "OUT", *TINY], 1, "training diverged"),
    # eval
    (["eval", "CKPT", "--limit", "16"], 0, ""),
    (["eval", "CKPT", "--bits", "--strict", "--limit", "16"], 0, ""),
    (["eval", "CKPT", "--batch-size", "0"], 2, "argument --batch-size"),
    (["eval", "CKPT", "--strict"], 2, "--strict applies to --bits"),
    (["eval", "MISSING"], 2, "does not exist"),
    (["eval", "DIR"], 2, "is a directory, not a file"),
    (["eval", "CORRUPT"], 2, "corrupt or truncated checkpoint"),
    (["eval", "TEXT"], 2, "notes.txt"),
    (["eval", "CKPT", "--data", "DIR"], 2, ""),
    (["eval", "CKPT", "--data", "MNIST28"], 2, "trained on 1x8x8 images, mnist has 1x28x28"),
    # sweep
    (["sweep", "--M", "1", "--N", "1", "--seeds", "0", "--epochs", "1", *TINY, "--out", "OUT"],
     0, ""),
    (["sweep", "--M", "0"], 2, "argument --M: expected an integer >= 1"),
    (["sweep", "--widths", "4", "--depth", "8"], 2, "--depth and --width are cifar_resnet"),
    (["sweep", "--data", "MISSING", "--out", "OUT"], 2, "no such directory"),
    (["sweep", "--out", "RUN"], 2, "holds an abcref train run; --overwrite replaces it"),
    (["sweep", "--no-fp", "--activation", "clip", "--out", "OUT"], 2, "so it has no effect"),
    (["sweep", "--out", "EMPTY", "--resume"], 2, "nothing to resume"),
    (["sweep", "--M", "1", "--N", "1", "--seeds", "0", *DIVERGE, *TINY, "--out", "OUT"],
     1, "training diverged"),
    # reproduce
    (["reproduce", "--quick", "--epochs", "0"], 2, "argument --epochs"),
    (["reproduce", "--quick", "--seeds", "0", "0", "--out", "OUT"], 2, "seeds must be distinct"),
    (["reproduce", "--quick", "--out", "FOREIGN"], 2, "holds no abcref run"),
    # summary
    (["summary", "--checkpoint", "CKPT", *SHAPE], 0, ""),
    (["summary", "--config", "{}", "--checkpoint", "CKPT", *SHAPE], 2, "not allowed with"),
    (["summary", "--config", "{not json", *SHAPE], 2, "--config is not valid JSON"),
    (["summary", "--config", "MISSING", *SHAPE], 2, "missing': no such file"),
    (["summary", "--config", "DIR", *SHAPE], 2, "is a directory, not a file"),
    (["summary", "--config", "BAD_JSON", *SHAPE], 2, "bad.json' is not valid JSON"),
    (["summary", "--checkpoint", "MISSING", *SHAPE], 2, "does not exist"),
    (["summary", "--checkpoint", "TEXT", *SHAPE], 2, "notes.txt"),
    # figures
    (["figures", "--quick", "--nonsense"], 2, "unrecognized arguments: --nonsense"),
    (["oracle", "list", "--nonsense"], 2, "unrecognized arguments: --nonsense"),
    (["figures", "--quick", "--sweep", "x.json"], 2, "unrecognized arguments: --sweep x.json"),
    (["figures", "--quick", "--out", "RUN"], 2, "holds an abcref train run"),
    (["figures", "--quick", "--resume"], 2, "unrecognized arguments: --resume"),
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
    (["compare", "table2", "--image-size", "32", "--out", "RUN"], 2, "holds an abcref train run"),
    (["compare", "table2", "--overwrite"], 2, "give --out"),
    (["compare", "table3", "--resume"], 2, "give --out"),
    (["compare", "table3", "--base", "{nope", "--quiet"], 2, "--base is not a JSON object"),
    (["compare", "table3", "--base", '{"widths": [4]}'], 2, "with an 'arch'"),
    (["compare", "section52", "--Ks", "0"], 2, "argument --Ks"),
    (["compare", "section52", "--data", "MISSING"], 2, "no such directory"),
    (["compare", "table3", "--base", TINY_BASE, "--seeds", "0", "--limit", "64", *DIVERGE,
      "--no-progress"], 1, "training diverged"),
    # the command itself
    ([], 2, "the following arguments are required: COMMAND"),
    (["nonsense"], 2, "invalid choice: 'nonsense'"),
]  # fmt: skip


def _snapshot(path):
    """Names and bytes of everything at ``path``."""
    if path.is_file():
        return path.read_bytes()
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


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
    argv_names = argv
    before = {name: _snapshot(files[name]) for name in ("RUN", "FOREIGN", "CKPT", "TEXT")}
    argv = [str(files.get(a, a)) for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == status, err
    if not message and status != 2:  # success, or a verdict printed on stdout
        assert err == ""
        return
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]  # (diverging runs print NumPy warnings before it)
    assert last.startswith(f"{_prog(argv)}: error: ") and message in last, err
    assert len(last) <= _common.MAX_ERROR_LINE, last
    if status == 2:
        assert err.count("\n") == 1, err
    for name in ("RUN", "FOREIGN", "CKPT", "TEXT"):  # an error changes no file it names
        if name in argv_names:
            assert _snapshot(files[name]) == before[name], name


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


# -- bounded error lines ------------------------------------------------------------


def test_error_line_is_one_bounded_printable_line():
    raw = "'x.npz' is not a readable abcref checkpoint: " + "PK\x03\x04\x00\x1b[2J" * 5000
    line = _common.error_line("abcref eval", raw)
    assert len(line) == _common.MAX_ERROR_LINE and line.endswith("...")
    assert line.startswith("abcref eval: error: 'x.npz' is not a readable abcref checkpoint")
    assert line.isprintable() and "\\x00" in line and "\\x1b" in line
    assert _common.error_line("abcref", "short\nsecond line") == "abcref: error: short"
    suffixed = _common.error_line("abcref train", "y" * 500, " (see abcref train --help)")
    assert len(suffixed) == _common.MAX_ERROR_LINE
    assert suffixed.endswith("... (see abcref train --help)")


def test_a_corrupt_checkpoint_does_not_flood_the_terminal(capsys, tmp_path):
    flood = tmp_path / "flood.npz"
    flood.write_bytes(bytes(range(256)) * 400)  # 100 kB of binary, no line breaks worth the name
    status, out, err = run(capsys, "eval", flood)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and len(err) <= _common.MAX_ERROR_LINE + 1
    assert err.startswith(f"abcref eval: error: {str(flood)!r}")


def test_usage_errors_are_bounded(capsys):
    status, _, err = run(capsys, "train", "--optimizer", "x" * 5000)
    assert status == 2 and err.count("\n") == 1 and len(err) <= _common.MAX_ERROR_LINE + 1
    assert err.startswith("abcref train: error: argument --optimizer: invalid choice")
    status, _, err = run(capsys, "summary", *["--bogus"] * 500)
    assert status == 2 and len(err) <= _common.MAX_ERROR_LINE + 1
    assert err.endswith("(see abcref summary --help)\n")
    status, _, err = run(capsys, "train", "--" + "x" * 400)  # an unknown flag
    assert status == 2 and err.count("\n") == 1 and len(err) <= _common.MAX_ERROR_LINE + 1
    assert err.startswith("abcref train: error: unrecognized arguments: --xxx")
    assert err.endswith("... (see abcref train --help)\n")


def test_sigterm_is_an_interrupt(capsys, monkeypatch):
    """SIGTERM raises inside the command (clean-up runs) and exits 130; the handler is restored."""
    import os
    import signal

    cleaned = []

    def terminated(args):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        finally:
            cleaned.append(True)

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(abcref.cli.figures, "run", terminated)
    assert run(capsys, "figures") == (130, "", "abcref figures: interrupted (SIGTERM)\n")
    assert cleaned == [True] and signal.getsignal(signal.SIGTERM) is before


# -- the shared flags ----------------------------------------------------------------------


def _leaf_parsers():
    """``{"abcref train": parser, ...}`` for every leaf subcommand."""
    found = {}

    def walk(parser):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            found[parser.prog] = parser
        for action in subs:
            for child in action.choices.values():
                walk(child)

    walk(abcref.cli.build_parser())
    return found


SHARED = ("--out", "--resume", "--overwrite", "--no-progress", "--seeds", "--epochs", "--data",
          "--limit", "--lr", "--optimizer", "--weight-decay", "--schedule",
          "--activation", "--jobs", "--scheduler")  # fmt: skip
LONG = ("abcref train", "abcref sweep", "abcref reproduce", "abcref figures",
        "abcref compare table3", "abcref compare section52", "abcref compare table2")  # fmt: skip


def _help_of(parser, flag):
    action = next((a for a in parser._actions if flag in a.option_strings), None)
    return None if action is None else action.help.split(" (default")[0]


@pytest.mark.parametrize("flag", SHARED)
def test_shared_flags_have_one_help_text(flag):
    texts = {prog: _help_of(p, flag) for prog, p in _leaf_parsers().items()}
    texts = {prog: text for prog, text in texts.items() if text is not None}
    assert len(set(texts.values())) == 1, texts


def test_lost_workers_exit_2_naming_the_runs(capsys, monkeypatch, tmp_path):
    from abcref.apps import sweep
    from abcref.apps.parallel import WorkersLost

    def engine(specs, data, **where):
        yield specs[0], sweep.train_run(specs[0], data)  # one run finishes, then workers die
        lost = [spec.run for spec in specs[1:]]
        raise WorkersLost(f"a worker process died; {len(lost)} run(s) did not finish: ...", lost)

    monkeypatch.setattr(sweep, "train_elsewhere", engine)
    out = tmp_path / "sweep"
    argv = ["sweep", "--M", "1", "--N", "1", "--seeds", "0", "--epochs", "1", *TINY]
    code, _, err = run(capsys, *argv, "--jobs", "2", "--out", out)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("abcref sweep: error: a worker process died; 1 run(s) did not finish")
    saved = json.loads((out / "sweep.json").read_text())
    assert [(r["label"], r["seed"]) for r in saved["rows"]] == [("full precision", 0)]


def test_every_long_command_has_the_output_flags():
    parsers = _leaf_parsers()
    for prog in LONG:
        for flag in ("--out", "--overwrite", "--no-progress"):
            assert _help_of(parsers[prog], flag), (prog, flag)
    resumable = {p for p in LONG if _help_of(parsers[p], "--resume")}
    assert resumable == set(LONG) - {"abcref figures", "abcref compare table2"}
