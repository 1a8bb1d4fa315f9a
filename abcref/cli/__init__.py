"""The ``abcref`` command.

::

    abcref reproduce [--out runs/reproduce] [--quick]     the paper's M x N trend, a few minutes
    abcref train [small_cnn|cifar_resnet] --M 3 --N 3 --epochs 5 --out runs/m3n3
    abcref eval runs/m3n3/model.npz --bits
    abcref sweep --M 1 3 5 --N 1 3 5 --seeds 0 1 2 --out runs/sweep
    abcref summary --checkpoint runs/m3n3/model.npz --input-shape 1 8 8
    abcref figures [--out figures] [--quick]
    abcref oracle export|check|list ...
    abcref compare table3|section52|table2 ...            (abcref.apps.compare)

Subcommands register themselves through ``add_*_subparser(subparsers)``
functions and set ``func`` on the parsed namespace; ``main`` dispatches.
Exit status: 0 success, 2 usage error (argparse), 1 runtime error
(missing data, corrupt checkpoint, diverged training, failed check), with a
one-line ``abcref <command>: error: ...`` message on stderr; ``--traceback``
shows the full traceback instead. See ``docs/cli.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# Before NumPy is loaded: single-threaded OpenBLAS unless the user says otherwise.
# The convolutions of small images gain nothing from BLAS threads, and on a busy
# machine those threads spin waiting for cores (measured: 7.7 s instead of 1.2 s
# per epoch of the reproduce model under a load average of 4). The tutorials and
# figures pin one thread too, so the command's numbers match theirs. Set
# OPENBLAS_NUM_THREADS yourself to use more cores (larger models, CIFAR-10).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from abcref.cli.compare import add_compare_subparser  # noqa: E402
from abcref.cli.oracle import add_oracle_subparser  # noqa: E402
from abcref.cli.summary import add_summary_subparser  # noqa: E402

# Defaults of the training flags. The parsers default to None so that
# ``train --resume`` can tell flags given on the command line from defaults.
TRAIN_DEFAULTS = {
    "model": "small_cnn",
    "M": 3,
    "N": 3,
    "fp": False,
    "per_channel": False,
    "weight_ste": "paper",
    "widths": None,  # the builder's default, [32, 64, 64, 64]
    "depth": None,  # cifar_resnet's default, 20
    "width": None,  # cifar_resnet's default, 16
    "dtype": "float32",
    "optimizer": "adam",
    "epochs": 5,
    "lr": None,  # per optimizer, LR_DEFAULTS
    "weight_decay": 0.0,
    "schedule": "cosine",
    "batch_size": 64,
    "seed": 0,
    "data": "digits",
    "limit": None,
}
LR_DEFAULTS = {"adam": 3e-3, "sgd": 0.05}
ARCH_KEYS = ("model", "widths", "depth", "width", "dtype")
MODEL_KEYS = (*ARCH_KEYS, "M", "N", "fp", "per_channel", "weight_ste")
BUDGET_KEYS = ("optimizer", "epochs", "lr", "weight_decay", "schedule", "batch_size")
DATA_KEYS = ("data", "limit")

CHECKPOINT_NAME = "model.npz"
LOG_NAME = "log.jsonl"
CONFIG_NAME = "config.json"


class CommandError(Exception):
    """An expected failure of a command: printed as one line, exit status 1."""


class UsageError(CommandError):
    """Flags that contradict each other: printed as one line, exit status 2."""


class _Formatter(argparse.RawDescriptionHelpFormatter):
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


# -- shared flags -------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def _add_arch_flags(parser: argparse.ArgumentParser) -> None:
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
        type=_positive_int,
        metavar="C",
        help="small_cnn: output channels of each 3x3 conv (default 32 64 64 64)",
    )
    group.add_argument("--depth", type=_positive_int, help="cifar_resnet: depth 6n+2 (default 20)")
    group.add_argument(
        "--width", type=_positive_int, help="cifar_resnet: first-stage channels (default 16)"
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
        "--dtype",
        choices=("float32", "float64"),
        help="parameter and data dtype (default float32)",
    )


def _add_budget_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("training budget")
    group.add_argument("--optimizer", choices=("adam", "sgd"), help="default adam")
    group.add_argument("--epochs", type=_positive_int, help="default 5")
    group.add_argument(
        "--lr",
        type=_positive_float,
        help="initial learning rate (default 3e-3 for adam, 0.05 for sgd with momentum 0.9)",
    )
    group.add_argument(
        "--weight-decay",
        type=_nonnegative_float,
        help="L2 on conv/linear weights (default 0)",
    )
    group.add_argument(
        "--schedule",
        choices=("cosine", "constant"),
        help="learning-rate schedule (default cosine: per step, down to 0 at the end)",
    )
    group.add_argument("--batch-size", type=_positive_int, help="default 64")


def _add_data_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument(
        "--data",
        metavar="NAME_OR_DIR",
        help="'digits' (embedded, 1,437 train / 360 test 8x8 images; the default) or a "
        "directory of MNIST IDX files or CIFAR-10 binary batches",
    )
    group.add_argument(
        "--limit",
        type=_positive_int,
        metavar="K",
        help="use only the first K images of each split (quick runs)",
    )


def _resolve(args, keys, *extra) -> dict:
    """Flags given on the command line over ``extra`` dicts over TRAIN_DEFAULTS."""
    out = {k: TRAIN_DEFAULTS[k] for k in keys}
    for source in extra:
        out.update({k: v for k, v in source.items() if k in keys and v is not None})
    out.update({k: getattr(args, k) for k in keys if getattr(args, k, None) is not None})
    if "lr" in out and out["lr"] is None:
        out["lr"] = LR_DEFAULTS[out["optimizer"]]
    return out


def model_config(settings: dict, *, num_classes: int, in_channels: int, conv) -> dict:
    """The ``build_model`` config of the ``model``/``widths``/... flags."""
    config = {
        "arch": settings["model"],
        "in_channels": in_channels,
        "num_classes": num_classes,
        "dtype": settings["dtype"],
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


def abc_conv_config(M, N, settings: dict) -> dict:
    conv = {"kind": "abc", "M": M, "N": N}
    if settings.get("per_channel"):
        conv["per_channel"] = True
    if settings.get("weight_ste", "paper") != "paper":
        conv["weight_ste"] = settings["weight_ste"]
    return conv


def load_data(name_or_dir, *, limit=None, dtype="float32"):
    """``abcref.data.load_dataset`` with the CLI's error wording."""
    import numpy as np

    from abcref.data import load_dataset

    return load_dataset(name_or_dir, limit=limit, dtype=np.dtype(dtype))


def _fmt_metrics(metrics: dict, prefix: str = "") -> str:
    parts = [
        f"loss {metrics[prefix + 'loss']:.4f}",
        f"top-1 {100 * metrics[prefix + 'top1']:.2f}%",
    ]
    if prefix + "top5" in metrics:
        parts.append(f"top-5 {100 * metrics[prefix + 'top5']:.2f}%")
    return ", ".join(parts)


# -- train --------------------------------------------------------------------


def run_train(args) -> int:
    """Run a parsed ``train`` command."""
    from abcref.apps.sweep import auto_drop_last, make_training, write_text_atomic
    from abcref.nn import build_model
    from abcref.train import fit, init_from_full_precision, load_checkpoint

    out = Path(args.out)
    checkpoint_path, config_path = out / CHECKPOINT_NAME, out / CONFIG_NAME
    stored: dict = {}
    if args.resume:
        if not checkpoint_path.is_file():
            raise CommandError(f"--resume: no checkpoint {checkpoint_path} to resume from")
        if config_path.is_file():
            try:
                stored = json.loads(config_path.read_text())["settings"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise CommandError(f"--resume: {config_path} is not readable: {exc}") from exc
        if args.init_from is not None:
            raise UsageError("--resume and --init-from exclude each other")
    source = None
    if args.init_from is not None:
        source = load_checkpoint(args.init_from)
        if source.model_config is None:
            raise CommandError(f"--init-from: {args.init_from} holds no model config")
        stored = _arch_settings_of(source.model_config)
    if args.fp and (args.M is not None or args.N is not None):
        raise UsageError("--fp (full precision) excludes --M and --N")
    keys = (*MODEL_KEYS, *BUDGET_KEYS, *DATA_KEYS, "seed")
    settings = _resolve(args, keys, stored)
    if args.fp:
        settings.update(fp=True, M=None, N=None)
    elif args.M is not None or args.N is not None:
        settings["fp"] = False
    if settings["N"] == 0:
        settings["N"] = None  # --N 0: full-precision activations (weight-only ABC)

    data = load_data(settings["data"], limit=settings["limit"], dtype=settings["dtype"])
    conv = "fp" if settings["fp"] else abc_conv_config(settings["M"], settings["N"], settings)
    config = model_config(
        settings, num_classes=data.num_classes, in_channels=data.image_shape[0], conv=conv
    )
    config["seed"] = settings["seed"]
    model = build_model(config)
    if source is not None:
        report = init_from_full_precision(model, source)
        print(
            f"initialised from {args.init_from}: {len(report['copied'])} arrays copied, "
            f"{len(report['kept'])} kept (ABC-only), {len(report['unused'])} unused"
        )
    optimizer, schedule = make_training(
        model,
        optimizer=settings["optimizer"],
        lr=settings["lr"],
        weight_decay=settings["weight_decay"],
        schedule=settings["schedule"],
        epochs=settings["epochs"],
    )
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "command": "train",
        "settings": settings,
        "init_from": None if args.init_from is None else str(args.init_from),
        "model_config": model.config,
        "data": repr(data),
    }
    if not args.resume:  # on resume, only once fit() has accepted the settings
        write_text_atomic(config_path, json.dumps(record, indent=1) + "\n")
    print(f"{data!r}\nmodel: {_describe(model.config)}; writing to {out}/")
    tic = time.perf_counter()
    history = fit(
        model,
        data,
        epochs=settings["epochs"],
        optimizer=optimizer,
        schedule=schedule,
        batch_size=settings["batch_size"],
        seed=settings["seed"],
        drop_last=auto_drop_last(len(data.y_train), settings["batch_size"]),
        log_path=out / LOG_NAME,
        checkpoint_path=checkpoint_path,
        resume_from=checkpoint_path if args.resume else None,
        progress=not args.no_progress,
    )
    if args.resume:
        write_text_atomic(config_path, json.dumps(record, indent=1) + "\n")
    if not history.records:
        raise CommandError("no epoch was trained")
    last = history.last
    print(
        f"epoch {last['epoch']}/{settings['epochs']}: train {_fmt_metrics(last, 'train_')}"
        + (f"; test {_fmt_metrics(last, 'test_')}" if "test_top1" in last else "")
        + f" ({time.perf_counter() - tic:.1f} s)"
    )
    print(f"wrote {checkpoint_path}, {out / LOG_NAME}, {config_path}")
    return 0


def _arch_settings_of(config: dict) -> dict:
    """CLI settings describing the architecture of a stored model config."""
    settings = {"model": config.get("arch"), "dtype": config.get("dtype")}
    for key in ("widths", "depth", "width"):
        if key in config:
            settings[key] = config[key]
    return settings


def _describe(config: dict) -> str:
    conv = config["conv"]
    if conv.get("kind") == "abc":
        n = "FP" if conv["N"] is None else conv["N"]
        what = f"ABC M={conv['M']}, N={n}" + (", per-channel" if conv["per_channel"] else "")
    else:
        what = f"conv kind {conv.get('kind')}"
        if conv.get("kind") == "fp":
            what = "full precision"
    shape = config.get("widths") or f"depth {config.get('depth')}, width {config.get('width')}"
    return f"{config['arch']} {shape}, {what}"


def add_train_subparser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train one model (full precision or ABC) and write checkpoint, log and config",
        formatter_class=_Formatter,
        description="Train one model on the embedded digits (default) or a dataset directory.\n"
        "Writes OUT/model.npz (checkpoint after every epoch), OUT/log.jsonl (one JSON record\n"
        "per epoch) and OUT/config.json (settings and model config).",
        epilog="""examples:
  abcref train --M 3 --N 3 --epochs 5 --out runs/m3n3
  abcref train --fp --epochs 10 --out runs/fp
  abcref train --M 5 --N 5 --init-from runs/fp/model.npz --lr 1e-3 --out runs/m5n5-ft
  abcref train cifar_resnet --depth 20 --data ~/data/cifar-10-batches-bin --out runs/r20
  abcref train --out runs/m3n3 --resume          # continue an interrupted run exactly
""",
    )
    _add_arch_flags(parser)
    group = parser.add_argument_group("binarization")
    group.add_argument("--M", type=_positive_int, help="weight bases per ABC conv (default 3)")
    group.add_argument(
        "--N",
        type=_nonnegative_int,
        help="binary activations per ABC conv (default 3; 0 = full-precision activations, "
        "i.e. weight-only ABC)",
    )
    group.add_argument(
        "--fp", action="store_true", help="full-precision model (the baseline; excludes --M/--N)"
    )
    _add_budget_flags(parser)
    parser.add_argument(
        "--seed", type=_nonnegative_int, help="initialisation and minibatch order (default 0)"
    )
    _add_data_flags(parser)
    group = parser.add_argument_group("output")
    group.add_argument("--out", default="runs/train", metavar="DIR", help="output directory")
    group.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its checkpoint, with the settings saved in "
        "OUT/config.json (flags given override them; the result is bitwise that of an "
        "uninterrupted run, and settings that would break this are refused)",
    )
    group.add_argument(
        "--init-from",
        metavar="FP_CHECKPOINT",
        help="initialise from a full-precision checkpoint (paper §3.3 fine-tuning); the "
        "architecture flags default to the checkpoint's",
    )
    group.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run_train)
    return parser


# -- eval ---------------------------------------------------------------------


def run_eval(args) -> int:
    """Run a parsed ``eval`` command."""
    from abcref.train import evaluate, load_model

    model = load_model(args.checkpoint)
    dtype = model.config.get("dtype", "float32")
    data_name = args.data if args.data is not None else _trained_on(args.checkpoint)
    data = load_data(data_name, limit=args.limit, dtype=dtype)
    if data.image_shape[0] != model.config.get("in_channels"):
        raise CommandError(
            f"{args.checkpoint} expects {model.config.get('in_channels')}-channel images, "
            f"--data {data_name} has {data.image_shape[0]}"
        )
    metrics = evaluate(model, data.x_test, data.y_test, batch_size=args.batch_size)
    print(f"{args.checkpoint}: {_describe(model.config)}")
    print(f"test ({len(data.y_test)} images of {data.name}): {_fmt_metrics(metrics)}")
    if args.bits:
        from abcref.compiler import bits_check, format_bits_check

        check = bits_check(model, data.x_test, batch_size=args.batch_size)
        print(format_bits_check(check))
        if args.strict and not check["identical"]:
            return 1
    return 0


def _trained_on(checkpoint) -> str:
    """The --data of the train run that wrote ``checkpoint`` (its config.json), else digits.

    No config.json beside the checkpoint means digits (the default); one
    that exists but cannot be read is an error, never a silent fallback
    to the wrong data.
    """
    config_path = Path(checkpoint).parent / CONFIG_NAME
    if not config_path.exists():
        return TRAIN_DEFAULTS["data"]
    try:
        data = json.loads(config_path.read_text())["settings"]["data"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CommandError(
            f"cannot read the training data setting from {str(config_path)!r} "
            f"({type(exc).__name__}: {exc}); pass --data explicitly"
        ) from exc
    if not isinstance(data, str):
        raise CommandError(
            f"{str(config_path)!r} has settings.data = {data!r}, expected a string; "
            "pass --data explicitly"
        )
    return data


def add_eval_subparser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a checkpoint (loss, top-1, top-5), optionally with bit-packed inference",
        formatter_class=_Formatter,
        description="Evaluate a checkpoint on the test split of --data. With --bits, also\n"
        "compile the model to xnor/popcount inference (abcref.bitpack) and report whether\n"
        "its predictions are identical to the float model's.",
        epilog="""examples:
  abcref eval runs/m3n3/model.npz
  abcref eval runs/m3n3/model.npz --bits
  abcref eval runs/r20/model.npz --data ~/data/cifar-10-batches-bin
""",
    )
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="a .npz written by train")
    parser.add_argument(
        "--data",
        metavar="NAME_OR_DIR",
        help="'digits' or a directory (default: the --data of the train run that wrote "
        "CHECKPOINT, read from config.json beside it; else digits)",
    )
    parser.add_argument(
        "--limit", type=_positive_int, metavar="K", help="only the first K test images"
    )
    parser.add_argument("--batch-size", type=_positive_int, default=500, help="eval batch size")
    parser.add_argument(
        "--bits",
        action="store_true",
        help="also run the compiled bit-packed model and compare predictions",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="with --bits: exit with status 1 if any prediction differs",
    )
    parser.set_defaults(func=run_eval)
    return parser


# -- sweep --------------------------------------------------------------------


def run_sweep_command(args) -> int:
    """Run a parsed ``sweep`` command."""
    from abcref.apps.sweep import grid_configs, plot_heatmap, run_sweep, write_text_atomic

    keys = (*ARCH_KEYS, "per_channel", "weight_ste", *BUDGET_KEYS, *DATA_KEYS)
    settings = _resolve(args, keys)
    data = load_data(settings["data"], limit=settings["limit"], dtype=settings["dtype"])
    base = model_config(
        settings, num_classes=data.num_classes, in_channels=data.image_shape[0], conv="fp"
    )
    Ns = [None if n == 0 else n for n in args.N]
    configs = grid_configs(
        args.M,
        Ns,
        base=base,
        full_precision=not args.no_fp,
        per_channel=bool(settings["per_channel"]),
        weight_ste=settings["weight_ste"],
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"{data!r}\n{len(configs)} configs x {len(args.seeds)} seeds, "
        f"{settings['epochs']} epochs each; writing to {out}/"
    )
    tic = time.perf_counter()
    result = run_sweep(
        configs,
        data=data,
        seeds=tuple(args.seeds),
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        optimizer=settings["optimizer"],
        lr=settings["lr"],
        weight_decay=settings["weight_decay"],
        schedule=settings["schedule"],
        out_dir=out,
        progress=not args.no_progress,
    )
    wall = time.perf_counter() - tic
    grid = result.mn_grid()
    text = sweep_report(result, wall=wall, command="abcref sweep " + " ".join(args.argv))
    write_text_atomic(out / "table.md", text)
    result.to_csv(out / "table.csv")
    plot_heatmap(result, out / "heatmap.png")
    print()
    print(grid.to_markdown())
    print(f"\nwrote {out}/table.md, table.csv, heatmap.png, sweep.json, logs/ ({wall:.0f} s)")
    return 0


def sweep_report(result, *, wall: float, command: str) -> str:
    """Markdown: the M x N grid, the per-config summary, the budget."""
    s = result.settings
    return (
        f"# M x N sweep\n\nCommand: `{command}`\n\n"
        f"Final-epoch test top-1 (%), mean ± sample std (ddof=1) over seeds {s['seeds']}; "
        f"{s['epochs']} epochs, {s['optimizer']} lr {s['lr']:g}, {s['schedule']} schedule, "
        f"batch {s['batch_size']}, data {s['data']} ({s['n_train']} train / {s['n_test']} "
        f"test images). Wall time {wall:.0f} s.\n\n"
        f"{result.mn_grid().to_markdown()}\n\n## Every config\n\n{result.to_markdown()}\n"
    )


def add_sweep_subparser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "sweep",
        help="train a grid of (M, N) plus full precision over several seeds; table and heatmap",
        formatter_class=_Formatter,
        description="Train full precision and ABC models for every (M, N) of the grid, once per\n"
        "seed, with one budget. Writes OUT/table.md (M x N table, mean ± std over seeds),\n"
        "OUT/table.csv (one row per run), OUT/heatmap.png, OUT/sweep.json and OUT/logs/.",
        epilog="""examples:
  abcref sweep --M 1 3 5 --N 1 3 5 --seeds 0 1 2 --out runs/sweep
  abcref sweep --widths 16 32 32 32 --epochs 3 --M 1 2 3 --N 1 2 3 --out runs/narrow
  abcref sweep --M 1 3 5 --N 0 --per-channel --out runs/weights-only   # Table 1 style
""",
    )
    _add_arch_flags(parser)
    group = parser.add_argument_group("grid")
    group.add_argument(
        "--M", nargs="+", type=_positive_int, default=[1, 3, 5], help="weight bases"
    )
    group.add_argument(
        "--N",
        nargs="+",
        type=_nonnegative_int,
        default=[1, 3, 5],
        help="binary activations (0 = full-precision activations)",
    )
    group.add_argument(
        "--seeds", nargs="+", type=_nonnegative_int, default=[0, 1, 2], help="one run per seed"
    )
    group.add_argument("--no-fp", action="store_true", help="leave out the full-precision model")
    _add_budget_flags(parser)
    _add_data_flags(parser)
    parser.add_argument("--out", default="runs/sweep", metavar="DIR", help="output directory")
    parser.add_argument("--no-progress", action="store_true", help="no line per finished run")
    parser.set_defaults(func=run_sweep_command)
    return parser


# -- figures ------------------------------------------------------------------


def run_figures(args) -> int:
    """Run a parsed ``figures`` command."""
    try:
        from abcref.apps.figures import make_all
    except ImportError as exc:
        raise CommandError(f"abcref.apps.figures is not available in this install: {exc}") from exc
    paths = make_all(args.out, quick=args.quick)
    print(f"wrote {len(paths)} files to {args.out}/")
    return 0


def add_figures_subparser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "figures",
        help="regenerate the README figures (trains on the embedded digits)",
        formatter_class=_Formatter,
        description="Regenerate every figure of figures/ with abcref.apps.figures.make_all:\n"
        "weight approximation, reconstruction error vs M, the (M, N) accuracy heatmap, binary\n"
        "feature maps and training curves. A few minutes on 2 cores; --quick for a smoke run.",
        epilog="examples:\n  abcref figures\n  abcref figures --out /tmp/figs --quick\n",
    )
    parser.add_argument("--out", default="figures", metavar="DIR", help="output directory")
    parser.add_argument("--quick", action="store_true", help="tiny budget (seconds), for testing")
    parser.set_defaults(func=run_figures)
    return parser


# -- main ---------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``abcref`` command."""
    from abcref.apps.reproduce import add_reproduce_subparser

    parser = argparse.ArgumentParser(
        prog="abcref",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Reference NumPy implementation of ABC-Net (Lin, Zhao & Pan, NIPS 2017):\n"
        "train binary networks, reproduce the paper's M x N trend, run bit-packed inference,\n"
        "and export golden vectors. 'abcref COMMAND --help' explains each command.",
        epilog="""start here:
  abcref reproduce            # FP + ABC grid on the embedded digits, a few minutes on 2 cores

exit status: 0 success, 1 runtime error (one-line message), 2 usage error""",
    )
    parser.add_argument(
        "--traceback",
        action="store_true",
        help="on an error, show the Python traceback instead of a one-line message",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_reproduce_subparser(subparsers)
    add_train_subparser(subparsers)
    add_eval_subparser(subparsers)
    add_sweep_subparser(subparsers)
    add_summary_subparser(subparsers)
    add_figures_subparser(subparsers)
    add_oracle_subparser(subparsers)
    add_compare_subparser(subparsers)
    return parser


def _expected_errors() -> tuple[type[BaseException], ...]:
    """Failures caused by the user's input or files: one line, status 1."""
    return (CommandError, OSError, ValueError, TypeError, FloatingPointError)


def main(argv=None) -> int:
    """Run the ``abcref`` command; return its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv[argv.index(args.command) + 1 :] if args.command in argv else argv
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"abcref {args.command}: interrupted", file=sys.stderr)
        return 130
    except _expected_errors() as exc:
        if args.traceback:
            raise
        message = str(exc).strip().splitlines()
        message = message[0] if message else type(exc).__name__
        print(f"abcref {args.command}: error: {message}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
