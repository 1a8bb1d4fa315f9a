"""``abcref train``: train one model and write its run folder (:mod:`abcref.apps.run`)."""

from __future__ import annotations

import time
from pathlib import Path

from abcref.cli._common import (
    BUDGET_KEYS,
    DATA_KEYS,
    MODEL_KEYS,
    UsageError,
    add_budget_flags,
    add_data_flags,
    add_model_flags,
    add_progress_flag,
    describe_model,
    format_metrics,
    model_config,
    nonnegative_int,
    positive_int,
    resolve,
    set_run,
)

DESCRIPTION = """\
Train one model on the embedded digits (default) or a dataset directory.
Writes OUT/model.npz (checkpoint after every epoch), OUT/log.jsonl (one JSON record
per epoch) and OUT/config.json (settings and model config)."""

EPILOG = """\
examples:
  abcref train --M 3 --N 3 --epochs 5 --out runs/m3n3
  abcref train --fp --epochs 10 --out runs/fp
  abcref train --M 5 --N 5 --init-from runs/fp/model.npz --lr 1e-3 --out runs/m5n5-ft
  abcref train cifar_resnet --depth 20 --data ~/data/cifar-10-batches-bin --out runs/r20
  abcref train --out runs/m3n3 --resume          # continue an interrupted run exactly
"""


def add_subparser(subparsers):
    """Register ``train`` on the ``abcref`` command's subparsers."""
    parser = subparsers.add_parser(
        "train",
        help="train one model (full precision or ABC) and write checkpoint, log and config",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    add_model_flags(parser)
    group = parser.add_argument_group("binarization")
    group.add_argument("--M", type=positive_int, help="weight bases per ABC conv (default 3)")
    group.add_argument(
        "--N",
        type=nonnegative_int,
        help="binary activations per ABC conv (default 3; 0 = full-precision activations, "
        "i.e. weight-only ABC)",
    )
    group.add_argument(
        "--fp", action="store_true", help="full-precision model (the baseline; excludes --M/--N)"
    )
    add_budget_flags(parser)
    parser.add_argument(
        "--seed", type=nonnegative_int, help="initialisation and minibatch order (default 0)"
    )
    add_data_flags(parser)
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
    add_progress_flag(group)
    set_run(parser, run)
    return parser


def run(args) -> int:
    """Run a parsed ``train`` command."""
    from abcref.apps.run import (
        CHECKPOINT_NAME,
        CONFIG_NAME,
        LOG_NAME,
        run_settings,
        train_in_folder,
    )
    from abcref.apps.sweep import abc_conv
    from abcref.data import load_dataset
    from abcref.nn import build_model
    from abcref.train import init_from_full_precision, load_checkpoint

    if args.resume and args.init_from is not None:
        raise UsageError("--resume and --init-from exclude each other")
    if args.fp and (args.M is not None or args.N is not None):
        raise UsageError("--fp (full precision) excludes --M and --N")
    stored, source = {}, None
    if args.resume:
        stored = run_settings(args.out)
    if args.init_from is not None:
        source = load_checkpoint(args.init_from)
        if source.model_config is None:
            raise ValueError(f"--init-from: {args.init_from} holds no model config")
        stored = _arch_settings_of(source.model_config)
    settings = resolve(args, (*MODEL_KEYS, *BUDGET_KEYS, *DATA_KEYS, "seed"), stored)
    if args.fp:
        settings.update(fp=True, M=None, N=None)
    elif args.M is not None or args.N is not None:
        settings["fp"] = False
    if settings["N"] == 0:
        settings["N"] = None  # --N 0: full-precision activations (weight-only ABC)

    data = load_dataset(settings["data"], limit=settings["limit"], dtype=settings["dtype"])
    if settings["fp"]:
        conv = "fp"
    else:
        conv = abc_conv(
            settings["M"],
            settings["N"],
            per_channel=bool(settings["per_channel"]),
            weight_ste=settings["weight_ste"],
        )
    config = model_config(
        settings, num_classes=data.num_classes, in_channels=data.image_shape[0], conv=conv
    )
    model = build_model({**config, "seed": settings["seed"]})
    if source is not None:
        report = init_from_full_precision(model, source)
        print(
            f"initialised from {args.init_from}: {len(report['copied'])} arrays copied, "
            f"{len(report['kept'])} kept (ABC-only), {len(report['unused'])} unused"
        )
    out = Path(args.out)
    print(f"{data!r}\nmodel: {describe_model(model.config)}; writing to {out}/")
    tic = time.perf_counter()
    history = train_in_folder(
        model,
        data,
        settings,
        out,
        resume=args.resume,
        init_from=args.init_from,
        progress=not args.no_progress,
    )
    last = history.last
    print(
        f"epoch {last['epoch']}/{settings['epochs']}: train {format_metrics(last, 'train_')}"
        + (f"; test {format_metrics(last, 'test_')}" if "test_top1" in last else "")
        + f" ({time.perf_counter() - tic:.1f} s)"
    )
    print(f"wrote {out / CHECKPOINT_NAME}, {out / LOG_NAME}, {out / CONFIG_NAME}")
    return 0


def _arch_settings_of(config: dict) -> dict:
    """Flag settings describing the architecture of a stored model config."""
    settings = {"model": config.get("arch"), "dtype": config.get("dtype")}
    for key in ("widths", "depth", "width"):
        if key in config:
            settings[key] = config[key]
    return settings
