"""§5.2 made concrete: K binary activations against K-bit fixed-point activations.

ABC-Net §5.2 argues that K binary activations (``ABCConv2d(..., N=K)``)
beat K-bit fixed-point activations (DoReFa's ``quantize_K(clip(x, 0, 1))``,
the ``"kbit"`` conv kind) at equal K: the same memory, but bitwise
operations instead of K-bit multipliers. This module trains both at each K
with the same weights treatment (default: one binary weight base, ABC
``M = 1`` against the K-bit layer with BWN weights ``alpha sign(W)``) and
counts what their convolutions cost.

Cost model (per multiply-accumulate of a conv, in 1-bit operation units)
------------------------------------------------------------------------
- A binary MAC (xnor + popcount of +-1 operands) costs 1. An ABC layer
  runs ``M * N`` of them per MAC of the float layer (eq. 12), so it costs
  ``M * N`` (the final ``alpha_m beta_n`` combination is per output, not
  per MAC, and is reported as float MACs by the summary).
- A fixed-point MAC of a ``b_a``-bit activation and a ``b_w``-bit weight
  costs, under the **square model** of §5.2 ("the complexity of a
  multiplier is proportional to the square of bit-widths", Grabbe et al.
  2003), ``max(b_a, b_w)**2``: a K-bit multiplier costs ``K**2``;
  under the **product model** (an array multiplier's ``b_a * b_w`` partial
  products, or the bit-serial decomposition into ``b_a * b_w`` AND +
  popcount planes that DoReFa §2.1 uses) it costs ``b_a * b_w``.

With 1-bit weights the product model gives K units per MAC for the K-bit
layer, exactly ABC's ``M * N = K`` with M = 1: the two schemes then differ
in how the K bits are used (K learned thresholds vs K uniform bit planes)
and in accumulator width, not in the number of one-bit products. The
square model (the paper's) charges the K-bit layer ``K**2``. Both are
printed; neither counts adders, accumulator widths or memory traffic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from abcref._checks import check_choice, check_int
from abcref.apps.reporting import BLOCK_NAME, SPREAD_RULE, Gap, took
from abcref.apps.results import SweepResult, mean_std
from abcref.apps.sweep import run_sweep
from abcref.compiler.summary import model_summary, quantizer_bits

#: Weight quantizers the K-bit side can use (the ``"weights"`` option of conv kind ``"kbit"``).
KBIT_WEIGHTS = ("bwn", "sign", "dorefa", "fp")

DEFAULT_BASE = {"arch": "small_cnn"}


def _check_ks(Ks) -> tuple[int, ...]:
    Ks = tuple(check_int(k, "Ks[i]", min_value=1) for k in Ks)
    if not Ks:
        raise ValueError("Ks must hold at least one K")
    if len(set(Ks)) != len(Ks):
        raise ValueError(f"Ks must be distinct, got {list(Ks)}")
    return Ks


def abc_label(M: int, K: int) -> str:
    return f"ABC M={M}, N={K}"


def kbit_label(K: int, weights: str) -> str:
    return f"{K}-bit act, {weights} weights"


def section52_configs(
    Ks: Sequence[int] = (1, 2, 3, 4),
    *,
    M: int = 1,
    kbit_weights: str = "bwn",
    base: Mapping | None = None,
) -> dict[str, dict]:
    """Label -> config: for each K, ABC (M, N=K) then the K-bit layer.

    Parameters
    ----------
    Ks : sequence of int
        Numbers of binary activations / activation bits.
    M : int
        ABC weight bases (default 1: one binary base, like BWN).
    kbit_weights : {"bwn", "sign", "dorefa", "fp"}
        Weights of the K-bit layer (default "bwn": ``alpha sign(W)`` per
        output channel).
    base : mapping, optional
        Everything but ``conv`` (default ``{"arch": "small_cnn"}``).
    """
    Ks = _check_ks(Ks)
    M = check_int(M, "M", min_value=1)
    check_choice(kbit_weights, "kbit_weights", KBIT_WEIGHTS)
    base = dict(DEFAULT_BASE if base is None else base)
    base.pop("conv", None)
    configs = {}
    for K in Ks:
        configs[abc_label(M, K)] = {**base, "conv": {"kind": "abc", "M": M, "N": K}}
        kbit = {"kind": "kbit", "K": K, "weights": kbit_weights}
        configs[kbit_label(K, kbit_weights)] = {**base, "conv": kbit}
    return configs


def operation_costs(model, input_shape) -> dict:
    """Operation counts of one example and their cost in 1-bit units (module docstring).

    Returns
    -------
    dict
        ``binary_macs``, ``fixed_point_macs``, ``packed_float_macs``,
        ``float_macs`` (the float model) from
        :func:`abcref.compiler.summary.model_summary`, and
        ``cost_square`` / ``cost_product``: binary MACs (1 unit each) plus
        fixed-point MACs weighted by ``max(b_a, b_w)**2`` or ``b_a * b_w``.
    """
    rows = model_summary(model, input_shape)
    layers = dict(model.named_modules())
    out = {
        key: int(sum(getattr(r, field) for r in rows))
        for key, field in (
            ("float_macs", "float_model_macs"),
            ("binary_macs", "packed_binary_macs"),
            ("fixed_point_macs", "packed_fixed_point_macs"),
            ("packed_float_macs", "packed_float_macs"),
        )
    }
    square = product = 0
    for r in rows:
        if r.packed_fixed_point_macs:
            w_bits, a_bits = quantizer_bits(layers[r.name])
            square += r.packed_fixed_point_macs * max(w_bits, a_bits) ** 2
            product += r.packed_fixed_point_macs * w_bits * a_bits
    out["cost_square"] = out["binary_macs"] + square
    out["cost_product"] = out["binary_macs"] + product
    return out


def section52_costs(configs: Mapping[str, Mapping], input_shape) -> dict[str, dict]:
    """Label -> :func:`operation_costs` of each config's model."""
    from abcref.nn import build_model

    return {
        label: operation_costs(build_model(dict(c)), input_shape) for label, c in configs.items()
    }


def run_section52(
    Ks: Sequence[int] = (1, 2, 3, 4),
    *,
    M: int = 1,
    kbit_weights: str = "bwn",
    base: Mapping | None = None,
    data="digits",
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 3,
    **sweep_options,
) -> SweepResult:
    """Train ABC (M, N=K) and the K-bit layer for every K with one budget."""
    configs = section52_configs(Ks, M=M, kbit_weights=kbit_weights, base=base)
    return run_sweep(configs, data=data, seeds=seeds, epochs=epochs, **sweep_options)


def _acc(result: SweepResult, label: str) -> str:
    mean, std = mean_std([r["test_top1"] for r in result.runs(label)])
    text = f"{100 * mean:.2f}"
    return text + (f" ± {100 * std:.2f}" if np.isfinite(std) else "")


def _mega(n: int) -> str:
    return f"{n / 1e6:.2f}M"


def section52_markdown(
    result: SweepResult,
    costs: Mapping[str, dict],
    Ks: Sequence[int],
    *,
    M: int = 1,
    kbit_weights: str = "bwn",
) -> str:
    """One row per K: accuracies, and operations per example with their costs."""
    lines = [
        f"| K | ABC M={M}, N=K top-1 (%) | K-bit act ({kbit_weights} weights) top-1 (%) "
        "| ABC binary MACs | K-bit fixed-point MACs | ABC cost (1-bit units) "
        "| K-bit cost, square model (§5.2) | K-bit cost, product model |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for K in Ks:
        a, k = abc_label(M, K), kbit_label(K, kbit_weights)
        ca, ck = costs[a], costs[k]
        lines.append(
            f"| {K} | {_acc(result, a)} | {_acc(result, k)} | {_mega(ca['binary_macs'])} "
            f"| {_mega(ck['fixed_point_macs'])} | {_mega(ca['cost_square'])} "
            f"| {_mega(ck['cost_square'])} | {_mega(ck['cost_product'])} |"
        )
    s = result.settings
    lines += [
        "",
        f"Budget: {s['epochs']} epochs, batch {s['batch_size']}, {s['optimizer']} lr {s['lr']} "
        f"({s['schedule']}), seeds {s['seeds']}; operations per example of the binary/K-bit "
        "layers (the full-precision first and last layers are the same in both).",
    ]
    return "\n".join(lines)


def section52_sentences(
    result: SweepResult, costs: Mapping[str, dict], Ks: Sequence[int], *, M: int, kbit_weights: str
) -> list[str]:
    """Per K: ABC against the K-bit layer, in accuracy (with the spread) and in cost."""
    sentences = []
    for K in Ks:
        a, k = abc_label(M, K), kbit_label(K, kbit_weights)
        (am, as_), (km, ks) = (mean_std([r["test_top1"] for r in result.runs(x)]) for x in (a, k))
        one_image = 1 / result.settings["n_test"]
        gap = Gap(f"ABC (M={M}, N={K})", am, as_, f"the {K}-bit layer", km, ks, one_image)
        ca, ck = costs[a], costs[k]
        sentences.append(
            f"K = {K}: {gap.sentence()}; the {K}-bit layer costs "
            f"{ck['cost_square'] / ca['cost_square']:.2f}× ABC's one-bit operations under the "
            f"square model and {ck['cost_product'] / ca['cost_product']:.2f}× under the product "
            "model."
        )
    return sentences


def section52_texts(
    result: SweepResult, costs: Mapping[str, dict], spec: Mapping, record: dict
) -> dict[str, str]:
    """File name -> text of the Markdown files ``compare section52 --out`` writes.

    ``spec``: ``{"Ks", "M", "kbit_weights"}`` of the comparison; ``costs`` as
    saved in ``section52_costs.json``; ``record`` the run's ``run.json``.
    """
    Ks, M, weights = spec["Ks"], spec["M"], spec["kbit_weights"]
    table = section52_markdown(result, costs, Ks, M=M, kbit_weights=weights)
    s = result.settings
    first = next(iter(result.configs.values()))
    widths = ", ".join(map(str, first.get("widths") or []))
    bullets = "\n".join(
        f"- {line}" for line in section52_sentences(result, costs, Ks, M=M, kbit_weights=weights)
    )
    data = "the embedded digits" if s["data"] == "digits" else f"`{s['data']}`"
    block = (
        f"`{record['command']}`: for each K, ABC with M = {M} weight base"
        f"{'' if M == 1 else 's'} and N = K binary activations against K-bit fixed-point "
        f"activations with {weights} weights, each `{first.get('arch')}` widths {widths} on "
        f"{data} ({s['n_train']:,} train / {s['n_test']:,} test images), "
        f"{s['epochs']} epoch{'' if s['epochs'] == 1 else 's'}, "
        f"{s['optimizer'].capitalize()} lr {s['lr']:g} "
        f"({s['schedule']} schedule), batch {s['batch_size']}, seeds "
        f"{', '.join(map(str, s['seeds']))}. Final-epoch test top-1 (%), mean ± sample std over "
        "the seeds, and operations per example:\n\n"
        f"{table.split(chr(10) + chr(10))[0]}\n\n"
        f"Per K (one test image is {100 / s['n_test']:.2f} points; {SPREAD_RULE}):\n\n"
        f"{bullets}\n\n"
        f"{took(record)}\n"
    )
    wall = f"Wall time {record['seconds']:.0f} s."
    return {BLOCK_NAME: block, "section52.md": f"{table}\n\n{wall}\n"}


def render_section52_folder(directory) -> dict[str, str]:
    """:func:`section52_texts` of a ``compare section52`` folder, from its JSON files."""
    import json
    from pathlib import Path

    from abcref.apps.reporting import read_run_record

    directory = Path(directory)
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))["settings"]
    costs = json.loads((directory / "section52_costs.json").read_text(encoding="utf-8"))
    spec = {k: config[k] for k in ("Ks", "M", "kbit_weights")}
    result = SweepResult.from_json(directory / "sweep.json")
    return section52_texts(result, costs, spec, read_run_record(directory))
