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
    add_output_flags,
    data_source,
    describe_model,
    format_metrics,
    model_config,
    nonnegative_int,
    positive_int,
    resolve,
    resumed_settings,
    set_run,
)

DESCRIPTION = """\
Train one model on the embedded digits (default) or a dataset directory.
Writes OUT/config.json (settings and model config), OUT/model.npz (checkpoint, after
every epoch) and OUT/log.jsonl (one JSON record per epoch). The three always agree: an
interrupted run, even a killed one, is a partial run that --resume completes."""

EPILOG = """\
examples:
  abcref train --M 3 --N 3 --epochs 5 --out runs/m3n3
  abcref train --fp --epochs 10 --out runs/fp
  abcref train cifar_resnet --depth 20 --data ~/data/cifar-10-batches-bin --out runs/r20
  abcref train --out runs/m3n3 --resume          # continue an interrupted run exactly

fine-tuning from full precision (paper section 3.3), the recipe tutorial 5 measures as best:
an ABC layer approximates a hard-tanh network, not a ReLU one, so train the full-precision
source with --activation hardtanh, then initialise the ABC model from it (the architecture,
activation included, comes from the checkpoint):
  abcref train --fp --activation hardtanh --epochs 5 --out runs/fp-hardtanh
  abcref train --M 3 --N 3 --init-from runs/fp-hardtanh/model.npz --epochs 3 --out runs/m3n3-ft
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
        "--fp",
        action="store_true",
        default=None,
        help="full-precision model (the baseline; excludes --M/--N)",
    )
    add_budget_flags(parser)
    parser.add_argument(
        "--seed", type=nonnegative_int, help="initialisation and minibatch order (default 0)"
    )
    add_data_flags(parser)
    parser.add_argument(
        "--init-from",
        metavar="FP_CHECKPOINT",
        help="initialise from a full-precision checkpoint (paper section 3.3 fine-tuning); "
        "the architecture flags default to the checkpoint's",
    )
    add_output_flags(parser, default="runs/train", resume=True)
    set_run(parser, run)
    return parser


#: Flags that only matter for ABC convs (refused with --fp, where they would do nothing).
_ABC_ONLY = {"per_channel": "--per-channel", "weight_ste": "--weight-ste"}


def run(args) -> int:
    """Run a parsed ``train`` command."""
    from abcref.apps.folders import open_run_folder
    from abcref.apps.run import (
        CHECKPOINT_NAME,
        CONFIG_NAME,
        LOG_NAME,
        check_input_shape,
        full_precision_source,
        run_settings,
        train_in_folder,
    )
    from abcref.apps.sweep import abc_conv
    from abcref.data import load_dataset
    from abcref.nn import build_model
    from abcref.train import init_from_full_precision

    if args.resume and args.init_from is not None:
        raise UsageError("--resume and --init-from exclude each other")
    if args.fp and (args.M is not None or args.N is not None):
        raise UsageError("--fp (full precision) excludes --M and --N")
    for key, flag in _ABC_ONLY.items():
        if args.fp and getattr(args, key) is not None:
            raise UsageError(f"{flag} is an ABC option; it has no effect with --fp")
    folder = open_run_folder(args.out, "train", resume=args.resume, overwrite=args.overwrite)
    keys = (*MODEL_KEYS, *BUDGET_KEYS, *DATA_KEYS, "seed")
    source = None
    if args.resume:
        settings = resumed_settings(args, keys, run_settings(args.out))
    else:
        stored = {}
        if args.init_from is not None:
            source = full_precision_source(args.init_from)
            stored = _arch_settings_of(source.model_config)
        settings = resolve(args, keys, stored)
        if args.fp:
            settings.update(fp=True, M=None, N=None)
        elif args.M is not None or args.N is not None:
            settings["fp"] = False
    binary_inputs = not settings["fp"] and settings["N"] not in (0, None)
    if args.activation is not None and binary_inputs:
        raise UsageError(
            "--activation sets what feeds full-precision convs (--fp, or --N 0); ABC convs "
            "with N binary activations binarise their own input, so it has no effect"
        )

    data_name = data_source(settings["data"])
    data = load_dataset(data_name, limit=settings["limit"], dtype=settings["dtype"])
    if settings["fp"]:
        conv = "fp"
    else:
        conv = abc_conv(
            settings["M"],
            None if settings["N"] == 0 else settings["N"],
            per_channel=bool(settings["per_channel"]),
            weight_ste=settings["weight_ste"],
        )
    config = model_config(
        settings, num_classes=data.num_classes, in_channels=data.image_shape[0], conv=conv
    )
    model = build_model({**config, "seed": settings["seed"]})
    if source is not None:
        check_input_shape(source, data)
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
        folder,
        init_from=args.init_from,
        progress=not args.no_progress,
    )
    last = history.last
    print(
        f"epoch {last['epoch']}/{settings['epochs']}: train {format_metrics(last, 'train_')}"
        + (f"; test {format_metrics(last, 'test_')}" if "test_top1" in last else "")
        + f" ({time.perf_counter() - tic:.1f} s)"
    )
    print(f"wrote {out / CONFIG_NAME}, {out / CHECKPOINT_NAME}, {out / LOG_NAME}")
    return 0


def _arch_settings_of(config: dict) -> dict:
    """Flag settings describing the architecture of a stored model config."""
    settings = {
        "model": config.get("arch"),
        "dtype": config.get("dtype"),
        "activation": config.get("activation"),
    }
    for key in ("widths", "depth", "width"):
        if key in config:
            settings[key] = config[key]
    return settings
