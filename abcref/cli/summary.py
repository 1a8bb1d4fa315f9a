"""``abcref summary``: parameters, memory and operations of a model, float vs packed.

    abcref summary --config '{"arch": "small_cnn", "in_channels": 1}' --input-shape 1 8 8
    abcref summary --checkpoint run/model.npz --input-shape 1 8 8 [--json]

The numbers come from :mod:`abcref.compiler.summary` (``docs/bitpack.md``).
"""

from __future__ import annotations

import json
from dataclasses import asdict

from abcref.cli._common import input_file, positive_int, set_run


def add_subparser(subparsers):
    """Register ``summary`` on the ``abcref`` command's subparsers."""
    parser = subparsers.add_parser(
        "summary",
        help="parameters by bit width, memory and MACs of a model, float vs packed",
        description="Per-layer summary of a model and of its bit-packed compiled form "
        "(docs/bitpack.md).",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--config", metavar="JSON", help="model config: inline JSON, or the path of a JSON file"
    )
    source.add_argument("--checkpoint", metavar="PATH", help="a checkpoint with a model config")
    parser.add_argument(
        "--input-shape",
        nargs=3,
        type=positive_int,
        required=True,
        metavar=("C", "H", "W"),
        help="shape of one input example (needed to count operations)",
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    set_run(parser, run)
    return parser


def parse_config(text: str) -> dict:
    """A model config given as inline JSON (starting with ``{`` or ``[``) or as a file's path."""
    if text.lstrip()[:1] in ("{", "["):
        where, source = "--config", text
    else:
        path = input_file(text, "--config")
        where = f"--config {text!r}"
        try:
            source = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{where} is not a text file: {exc}") from exc
    try:
        config = json.loads(source)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where} is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise ValueError(f"{where} must be a JSON object, got {type(config).__name__}")
    return config


def run(args) -> int:
    """Run a parsed ``summary`` command."""
    from abcref.compiler.summary import format_summary, model_summary, summary_totals

    if args.checkpoint is not None:
        from abcref.apps.run import load_trained

        model, _ = load_trained(args.checkpoint)
    else:
        from abcref.nn.models import build_model

        model = build_model(parse_config(args.config))
    rows = model_summary(model, tuple(args.input_shape))
    if args.json:
        payload = {"layers": [asdict(r) for r in rows], "totals": summary_totals(rows)}
        print(json.dumps(payload, indent=1))
    else:
        print(format_summary(rows))
    return 0
