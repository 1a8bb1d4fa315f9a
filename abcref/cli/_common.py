"""What every subcommand shares: the exit-status policy, the parser, argument types.

The policy (``docs/cli.md`` has the table):

====  ==========================================================================
 0    success
 1    the command ran and its verdict is negative: an oracle check failed,
      ``eval --bits --strict`` found differing predictions, the bit check of
      ``reproduce`` failed, training diverged (``FloatingPointError``)
 2    the command could not run as asked: a usage error (bad, contradicting
      or inapplicable flags: argparse and :class:`UsageError`) or an unusable
      input (a missing or wrong-kind path: ``OSError``; a malformed or corrupt
      file or a value the library refuses: ``ValueError``, ``TypeError``), or
      the worker processes or Dask workers training it were lost
      (:class:`abcref.apps.parallel.WorkersLost`, naming the runs to resume)
130   interrupted (Ctrl-C, or SIGTERM)
====  ==========================================================================

Every error is one line ``abcref <command>: error: <message>`` on stderr, of
at most :data:`MAX_ERROR_LINE` characters (non-printable characters escaped,
the rest cut off): a message quoting a file's raw bytes cannot flood the
terminal. ``abcref --traceback ...`` re-raises instead, to show the
traceback. Any other exception is a bug and ends with Python's traceback.
Subcommands return 0 or 1 and raise for everything else; :func:`run`
applies the policy, once, for all of them.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
from pathlib import Path

from abcref.apps.parallel import CLUSTER_INSTALL, WorkersLost, default_jobs, require_dask
from abcref.train.optim import DEFAULT_LRS

EXIT_OK = 0
EXIT_NEGATIVE = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


#: The longest error line printed, prefix included (longer ones are cut, ending "...").
MAX_ERROR_LINE = 200


class UsageError(Exception):
    """Flags that contradict each other or do not apply together (exit status 2)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM: handled like Ctrl-C, so that every ``finally`` and clean-up runs."""


#: Failures caused by the user's flags, paths or files, or lost workers: one line, status 2.
INPUT_ERRORS = (UsageError, OSError, ValueError, TypeError, WorkersLost)


def run(args) -> int:
    """Run a parsed command (``args.run(args)``) under the one exit-status policy."""
    with _sigterm_interrupts():
        try:
            return args.run(args)
        except KeyboardInterrupt as exc:
            how = " (SIGTERM)" if isinstance(exc, Terminated) else ""
            print(f"{args.command_prog}: interrupted{how}", file=sys.stderr)
            return EXIT_INTERRUPTED
        except FloatingPointError as exc:  # training diverged: it ran, and failed
            if args.traceback:
                raise
            _print_error(args, exc)
            return EXIT_NEGATIVE
        except INPUT_ERRORS as exc:
            if args.traceback:
                raise
            _print_error(args, exc)
            return EXIT_ERROR


class _sigterm_interrupts:
    """While running a command, SIGTERM raises :class:`Terminated` (main thread only)."""

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._raise)
        return self

    def __exit__(self, *exc_info):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        return False

    @staticmethod
    def _raise(signum, frame):
        raise Terminated


def error_line(prog: str, message, suffix: str = "") -> str:
    """``"<prog>: error: <message><suffix>"``, at most :data:`MAX_ERROR_LINE` characters long.

    Only the message's first line is kept; characters that are not
    printable (raw bytes, control codes) are escaped, and a message too long
    for the line is cut, ending in ``...``.
    """
    lines = str(message).strip().splitlines()
    first = lines[0] if lines else ""
    text = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in first)
    prefix = f"{prog}: error: "
    room = MAX_ERROR_LINE - len(prefix) - len(suffix)
    if len(text) > room:
        text = text[: max(room - 3, 0)] + "..."
    return prefix + text + suffix


def _print_error(args, exc: BaseException) -> None:
    message = str(exc).strip() or type(exc).__name__
    print(error_line(args.command_prog, message), file=sys.stderr)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keep the descriptions' line breaks; append real defaults (not None/False) to help."""

    def _get_help_string(self, action):
        help_text = action.help or ""
        default = action.default
        if (
            "%(default)" not in help_text
            and "default" not in help_text
            and default not in (None, False, argparse.SUPPRESS)
            and action.option_strings
        ):
            shown = " ".join(map(str, default)) if isinstance(default, list) else default
            help_text += f" (default: {shown})"
        return help_text


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors follow the policy: one line, status 2.

    Subparsers inherit the class (argparse creates them with the parent's
    type), so every subcommand reports ``abcref train: error: ...`` alike.
    """

    def __init__(self, *args, formatter_class=HelpFormatter, **kwargs):
        super().__init__(*args, formatter_class=formatter_class, **kwargs)

    def error(self, message):
        self.exit(EXIT_ERROR, error_line(self.prog, message, f" (see {self.prog} --help)") + "\n")


def set_run(parser: argparse.ArgumentParser, run_command) -> None:
    """Make ``run_command(args)`` what :func:`run` calls for this (leaf) parser."""
    parser.set_defaults(run=run_command, command_prog=parser.prog)


# -- argument types -----------------------------------------------------------


def _number(text: str, kind, minimum, strict: bool):
    try:
        value = kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    bound = f"{'>' if strict else '>='} {minimum}"
    if kind is float and value in (float("inf"), float("-inf")):
        ok = False
    else:
        ok = value > minimum if strict else value >= minimum  # False for NaN
    if not ok:
        what = "an integer" if kind is int else "a finite number"
        raise argparse.ArgumentTypeError(f"expected {what} {bound}, got {text}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return _number(text, int, 1, strict=False)


def nonnegative_int(text: str) -> int:
    """An integer >= 0."""
    return _number(text, int, 0, strict=False)


def positive_float(text: str) -> float:
    """A finite number > 0."""
    return _number(text, float, 0, strict=True)


def nonnegative_float(text: str) -> float:
    """A finite number >= 0."""
    return _number(text, float, 0, strict=False)


# -- flags several subcommands share ------------------------------------------

# What train, sweep and compare do when a flag is not given. Their parsers
# default to None, so that ``--resume`` can tell the flags given on the
# command line from defaults (and continue with the saved settings).
TRAIN_DEFAULTS = {
    "model": "small_cnn",
    "M": 3,
    "N": 3,
    "fp": False,
    "per_channel": False,
    "weight_ste": "paper",
    "activation": "relu",
    "widths": None,  # the builder's default, [32, 64, 64, 64]
    "depth": None,  # cifar_resnet's default, 20
    "width": None,  # cifar_resnet's default, 16
    "dtype": "float32",
    "optimizer": "adam",
    "epochs": 5,
    "lr": None,  # per optimizer, abcref.train.DEFAULT_LRS
    "weight_decay": 0.0,
    "schedule": "cosine",
    "batch_size": 64,
    "seed": 0,
    "data": "digits",
    "limit": None,
}
ARCH_KEYS = ("model", "widths", "depth", "width", "dtype", "activation")
MODEL_KEYS = (*ARCH_KEYS, "M", "N", "fp", "per_channel", "weight_ste")
BUDGET_KEYS = ("optimizer", "epochs", "lr", "weight_decay", "schedule", "batch_size")
DATA_KEYS = ("data", "limit")

# The help of the flags every long command shares, word for word.
OUT_HELP = (
    "output directory, new or empty: one holding another run or other files is refused "
    "and left untouched (see --overwrite)"
)
RESUME_HELP = (
    "continue the interrupted (or finished) run in --out with the settings it saved; a "
    "flag that would change them is refused; the result is that of an uninterrupted run"
)
OVERWRITE_HELP = (
    "replace the abcref run in --out: its files go, in one step; files abcref did not "
    "write are kept"
)
PROGRESS_HELP = "no progress bars (they go to stderr, so stdout stays parseable either way)"
SEEDS_HELP = "one run per seed (the seed fixes the initialisation and the minibatch order)"
EPOCHS_HELP = "epochs per run"
DATA_HELP = (
    "'digits' (embedded, 1,437 train / 360 test 8x8 images) or a directory of MNIST IDX "
    "files or CIFAR-10 binary batches"
)
LIMIT_HELP = "use only the first K images of each split (quick runs)"


def add_model_flags(parser: argparse.ArgumentParser) -> None:
    """The architecture and ABC options of train and sweep."""
    group = parser.add_argument_group("model")
    group.add_argument(
        "model",
        nargs="?",
        choices=("small_cnn", "cifar_resnet"),
        default=None,
        help="architecture, given first (default small_cnn: FP conv, 3 ABC convs, FP linear; "
        "cifar_resnet: ResNet-(6n+2) for 32x32 RGB)",
    )
    group.add_argument(
        "--widths",
        nargs="+",
        type=positive_int,
        metavar="C",
        help="small_cnn: output channels of each 3x3 conv (default 32 64 64 64)",
    )
    group.add_argument("--depth", type=positive_int, help="cifar_resnet: depth 6n+2 (default 20)")
    group.add_argument(
        "--width", type=positive_int, help="cifar_resnet: first-stage channels (default 16)"
    )
    group.add_argument(
        "--per-channel",
        action="store_true",
        default=None,
        help="channel-wise weight bases (one alpha per output channel; default whole-layer)",
    )
    group.add_argument(
        "--weight-ste",
        choices=("paper", "sum", "identity"),
        help="reading of eq. 7 for the latent-weight gradient (default paper; docs/binarize.md)",
    )
    group.add_argument(
        "--activation",
        choices=("relu", "clip", "hardtanh"),
        help="nonlinearity in front of full-precision convs (--fp, or --N 0); hardtanh makes "
        "the full-precision model an ABC model approximates (default relu)",
    )
    group.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        help="parameter and data dtype (default float32)",
    )


def add_epochs_flag(parser, default) -> None:
    """``--epochs E``, ``default`` shown in the help (the parser's default is None)."""
    parser.add_argument("--epochs", type=positive_int, help=f"{EPOCHS_HELP} (default {default})")


def add_budget_flags(parser: argparse.ArgumentParser, defaults: dict = TRAIN_DEFAULTS) -> None:
    """Optimizer, epochs, learning rate, weight decay, schedule, batch size."""
    if defaults["lr"] is None:
        lr_default = ", ".join(f"{lr:g} for {name}" for name, lr in DEFAULT_LRS.items())
    else:
        lr_default = f"{defaults['lr']:g}"
    group = parser.add_argument_group("training budget")
    group.add_argument(
        "--optimizer",
        choices=tuple(DEFAULT_LRS),
        help=f"adam, or sgd with momentum 0.9 (default {defaults['optimizer']})",
    )
    add_epochs_flag(group, defaults["epochs"])
    group.add_argument(
        "--lr", type=positive_float, help=f"initial learning rate (default {lr_default})"
    )
    group.add_argument(
        "--weight-decay",
        type=nonnegative_float,
        help="weight decay of conv/linear weights: decoupled (AdamW) with adam, coupled L2 "
        f"with sgd (default {defaults['weight_decay']:g})",
    )
    group.add_argument(
        "--schedule",
        choices=("cosine", "constant"),
        help=f"learning-rate schedule; cosine: per step, down to 0 at the end "
        f"(default {defaults['schedule']})",
    )
    group.add_argument(
        "--batch-size",
        type=positive_int,
        help=f"minibatch size (default {defaults['batch_size']})",
    )


def add_data_flags(parser, default: str = "digits") -> None:
    """``--data`` and ``--limit``."""
    group = parser.add_argument_group("data")
    group.add_argument("--data", metavar="NAME_OR_DIR", help=f"{DATA_HELP} (default {default})")
    group.add_argument("--limit", type=positive_int, metavar="K", help=LIMIT_HELP)


def add_seeds_flag(parser, default) -> None:
    """``--seeds S [S ...]``, ``default`` shown in the help (the parser's default is None)."""
    shown = " ".join(map(str, default))
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=nonnegative_int,
        metavar="S",
        help=f"{SEEDS_HELP} (default {shown})",
    )


def add_progress_flag(parser, *aliases: str) -> None:
    """``--no-progress`` (``aliases``: older names of the same flag)."""
    parser.add_argument(
        "--no-progress", *aliases, dest="no_progress", action="store_true", help=PROGRESS_HELP
    )


def add_parallel_flags(parser) -> None:
    """``--jobs N`` or ``--scheduler ADDRESS``: where the runs are trained (not a setting)."""
    group = parser.add_argument_group("parallel runs (the results do not depend on them)")
    either = group.add_mutually_exclusive_group()
    either.add_argument(
        "--jobs",
        type=positive_int,
        metavar="N",
        help="train N runs at once, each in its own process with one BLAS thread; 1 trains "
        f"them one after another in this process (default: the usable cores, {default_jobs()} "
        "here)",
    )
    either.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="train every run as a task on the Dask cluster whose scheduler is at ADDRESS, "
        f"e.g. tcp://10.0.0.1:8786 (needs {CLUSTER_INSTALL}; docs/cluster.md)",
    )


def parallel_options(args) -> dict:
    """``jobs`` and ``scheduler`` of :func:`abcref.apps.sweep.run_sweep` from the flags.

    Raises
    ------
    UsageError
        If ``--scheduler`` is given and Dask distributed is not installed.
    """
    if args.scheduler is not None:
        try:
            require_dask()
        except ImportError as exc:
            raise UsageError(f"--scheduler: {exc}") from None
    jobs = default_jobs() if args.jobs is None else args.jobs
    return {"jobs": jobs, "scheduler": args.scheduler}


def without_parallel_flags(argv) -> list[str]:
    """``argv`` without ``--jobs N`` and ``--scheduler ADDRESS`` (not part of the results)."""
    out, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word in ("--jobs", "--scheduler"):
            skip = True
        elif not word.startswith(("--jobs=", "--scheduler=")):
            out.append(word)
    return out


def add_output_flags(parser, *, default, resume: bool, aliases=()) -> None:
    """``--out``, ``--overwrite``, ``--resume`` (if the command resumes), ``--no-progress``."""
    group = parser.add_argument_group("output")
    group.add_argument("--out", default=default, metavar="DIR", help=OUT_HELP)
    either = group.add_mutually_exclusive_group()
    if resume:
        either.add_argument("--resume", action="store_true", help=RESUME_HELP)
    either.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    add_progress_flag(group, *aliases)


def resolve(args, keys, *stored: dict, defaults: dict = TRAIN_DEFAULTS) -> dict:
    """Flags given on the command line over ``stored`` dicts over ``defaults``."""
    out = {k: defaults[k] for k in keys}
    for source in stored:
        out.update({k: v for k, v in source.items() if k in keys and v is not None})
    out.update({k: getattr(args, k) for k in keys if getattr(args, k, None) is not None})
    if "lr" in out and out["lr"] is None:
        out["lr"] = DEFAULT_LRS[out["optimizer"]]
    return out


def resumed_settings(args, keys, saved: dict, *, defaults: dict = TRAIN_DEFAULTS) -> dict:
    """The settings a run saved, refusing flags given with ``--resume`` that would change them.

    Raises
    ------
    UsageError
        Naming each such flag, the value given and the value saved.
    """
    settings = resolve(argparse.Namespace(), keys, saved, defaults=defaults)
    changed = [
        f"--{k.replace('_', '-')} {_shown(getattr(args, k))} (saved {_shown(settings[k])})"
        for k in keys
        if getattr(args, k, None) is not None and _same(getattr(args, k)) != _same(settings[k])
    ]
    if changed:
        raise UsageError(
            f"--resume continues {args.out!r} with its saved settings; flags that would change "
            f"them: {', '.join(changed)}"
        )
    return settings


def command_line(prog: str, settings: dict, defaults: dict) -> str:
    """The shortest command line that asks for ``settings``: a flag for each non-default value."""
    words = [prog]
    for key, value in settings.items():
        if value is None or _same(value) == _same(defaults.get(key)):
            continue
        flag = f"--{key.replace('_', '-')}"
        if value is True:
            words.append(flag)
        elif isinstance(value, (list, tuple)):
            words += [flag, *map(str, value)]
        else:
            words += [flag, shlex.quote(f"{value:g}" if isinstance(value, float) else str(value))]
    return " ".join(words)


def _same(value):
    return json.loads(json.dumps(value))


def _shown(value) -> str:
    return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def model_config(settings: dict, *, num_classes: int, in_channels: int, conv) -> dict:
    """The ``build_model`` config of the ``model``/``widths``/... settings."""
    config = {
        "arch": settings["model"],
        "in_channels": in_channels,
        "num_classes": num_classes,
        "dtype": settings["dtype"],
        "activation": settings["activation"],
        "conv": conv,
    }
    if settings["model"] == "small_cnn":
        if settings.get("depth") is not None or settings.get("width") is not None:
            raise UsageError("--depth and --width are cifar_resnet options (small_cnn: --widths)")
        if settings.get("widths") is not None:
            config["widths"] = list(settings["widths"])
    else:
        if settings.get("widths") is not None:
            raise UsageError("--widths is a small_cnn option (cifar_resnet: --depth, --width)")
        for key in ("depth", "width"):
            if settings.get(key) is not None:
                config[key] = settings[key]
    return config


# -- paths ----------------------------------------------------------------------


def input_file(text: str, flag: str) -> Path:
    """The path of an input file given as ``flag``: missing and directory told apart."""
    path = Path(text)
    if path.is_dir():
        raise IsADirectoryError(f"{flag} {text!r} is a directory, not a file")
    if not path.exists():
        raise FileNotFoundError(f"{flag} {text!r}: no such file")
    return path


def data_source(text: str) -> str:
    """``--data``: an embedded dataset's name, or an existing directory (else an OSError)."""
    from abcref.data.detect import EMBEDDED

    if text in EMBEDDED:
        return text
    path = Path(text)
    if not path.exists():
        raise FileNotFoundError(
            f"--data {text!r}: no such directory, and no embedded dataset named so "
            f"(embedded: {', '.join(EMBEDDED)})"
        )
    if not path.is_dir():
        raise NotADirectoryError(
            f"--data {text!r} is a file; expected {EMBEDDED[0]!r} or a directory of MNIST IDX "
            "files or CIFAR-10 binary batches"
        )
    return text


# -- printing -------------------------------------------------------------------


def describe_model(config: dict) -> str:
    """``"small_cnn [4, 8], ABC M=2, N=2"``: a model config in a few words."""
    conv = config["conv"]
    if conv.get("kind") == "abc":
        n = "FP" if conv["N"] is None else conv["N"]
        what = f"ABC M={conv['M']}, N={n}" + (", per-channel" if conv["per_channel"] else "")
    elif conv.get("kind") == "fp":
        what = "full precision"
    else:
        what = f"conv kind {conv.get('kind')}"
    shape = config.get("widths") or f"depth {config.get('depth')}, width {config.get('width')}"
    return f"{config['arch']} {shape}, {what}"


def format_metrics(metrics: dict, prefix: str = "") -> str:
    """``"loss 0.1234, top-1 98.06%, top-5 100.00%"``."""
    parts = [
        f"loss {metrics[prefix + 'loss']:.4f}",
        f"top-1 {100 * metrics[prefix + 'top1']:.2f}%",
    ]
    if prefix + "top5" in metrics:
        parts.append(f"top-5 {100 * metrics[prefix + 'top5']:.2f}%")
    return ", ".join(parts)
