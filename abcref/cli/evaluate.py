"""``abcref eval``: evaluate a checkpoint, optionally against its compiled bit-packed model."""

from __future__ import annotations

from abcref.cli._common import (
    EXIT_NEGATIVE,
    EXIT_OK,
    UsageError,
    add_data_flags,
    data_source,
    describe_model,
    format_metrics,
    positive_int,
    set_run,
)

DESCRIPTION = """\
Evaluate a checkpoint on the test split of --data. With --bits, also
compile the model to xnor/popcount inference (abcref.compiler) and report whether
its predictions are identical to the float model's."""

EPILOG = """\
examples:
  abcref eval runs/m3n3/model.npz
  abcref eval runs/m3n3/model.npz --bits
  abcref eval runs/r20/model.npz --data ~/data/cifar-10-batches-bin
"""


def add_subparser(subparsers):
    """Register ``eval`` on the ``abcref`` command's subparsers."""
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a checkpoint (loss, top-1, top-5), optionally with bit-packed inference",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="a .npz written by train")
    add_data_flags(
        parser,
        default="the --data of the train run that wrote CHECKPOINT, read from config.json "
        "beside it; else digits",
    )
    parser.add_argument("--batch-size", type=positive_int, default=500, help="eval batch size")
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
    set_run(parser, run)
    return parser


def run(args) -> int:
    """Run a parsed ``eval`` command; 1 if ``--bits --strict`` finds differing predictions."""
    from abcref.apps.run import check_input_shape, load_trained, trained_on
    from abcref.data import load_dataset
    from abcref.train import evaluate

    if args.strict and not args.bits:
        raise UsageError("--strict applies to --bits (differing bit-packed predictions)")
    model, checkpoint = load_trained(args.checkpoint)
    data_name = data_source(args.data if args.data is not None else trained_on(args.checkpoint))
    data = load_dataset(data_name, limit=args.limit, dtype=model.config.get("dtype", "float32"))
    check_input_shape(checkpoint, data)  # before evaluating: a wrong shape is no result
    metrics = evaluate(model, data.x_test, data.y_test, batch_size=args.batch_size)
    print(f"{args.checkpoint}: {describe_model(model.config)}")
    print(f"test ({len(data.y_test)} images of {data.name}): {format_metrics(metrics)}")
    if args.bits:
        from abcref.compiler import bits_check, format_bits_check

        check = bits_check(model, data.x_test, batch_size=args.batch_size)
        print(format_bits_check(check))
        if args.strict and not check["identical"]:
            return EXIT_NEGATIVE
    return EXIT_OK
