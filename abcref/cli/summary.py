"""``abcref summary``: parameters, memory and operations of a model, float vs packed.

    abcref summary --config '{"arch": "small_cnn", "in_channels": 1}' --input-shape 1 8 8
    abcref summary --checkpoint run/model.npz --input-shape 1 8 8 [--json]

The numbers come from :mod:`abcref.compiler.summary` (``docs/bitpack.md``).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from abcref.cli._common import positive_int, set_run


def add_subparser(subparsers):
    """Register ``summary`` on the ``abcref`` command's subparsers."""
    parser = subparsers.add_parser(
        "summary",
        help="parameters by bit width, memory and MACs of a model, float vs packed",
        description="Per-layer summary of a model and of its bit-packed compiled form "
        "(docs/bitpack.md).",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", metavar="JSON", help="model config (inline JSON or .json)")
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
    """A model config given as inline JSON or as the path of a .json file."""
    path = Path(text)
    source = path.read_text() if path.suffix == ".json" and path.is_file() else text
    try:
        config = json.loads(source)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--config is neither a JSON object nor a .json file: {exc}") from exc
    if not isinstance(config, dict):
        raise ValueError(f"--config must be a JSON object, got {type(config).__name__}")
    return config


def run(args) -> int:
    """Run a parsed ``summary`` command."""
    from abcref.compiler.summary import format_summary, model_summary, summary_totals

    if args.checkpoint is not None:
        from abcref.train.checkpoint import load_model

        model = load_model(args.checkpoint)
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
