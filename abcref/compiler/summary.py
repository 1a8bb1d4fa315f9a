"""Model summary: parameters by bit width, memory and operations, float vs packed.

In the spirit of Larq's ``summary``: for each layer of a float model, what
it costs as trained (float) and what it costs once compiled by
:func:`abcref.compiler.compile_model` (packed bases, alpha, beta,
comparator thresholds, batch norms folded into thresholds).

Counting rules (per example; one row per leaf layer)
----------------------------------------------------
- **Float-model memory**: every parameter and buffer in the model's float
  dtype (the latent weights of an ABC layer included).
- **Packed-model memory**: an ABC layer stores its M bases in the packed
  format (``M * O * kh * kw * ceil(C / 64)`` uint64 words, tail bits
  included), plus alpha (M, or O*M channel-wise), beta (N) and the
  thresholds (N per channel when a batch norm is folded in, else N) as
  floats. A batch norm folded into the next ABC layer costs nothing;
  every other layer costs what it costs in the float model.
- **Float MACs**: multiply-accumulates of the float model, the ABC layer
  counted as one float convolution of its shape (``O*C*kh*kw*Ho*Wo``),
  a batch norm as one per element.
- **Binary MACs**: xnor/popcount multiply-accumulates of the packed model,
  ``M * N * K * O * Ho * Wo`` for an ABC layer (K = C*kh*kw).
- **Packed float MACs**: float multiply-accumulates left in the packed
  model: the alpha*beta combination of eq. (12) (``M*N*O*Ho*Wo``), the
  float layers, and for weight-only ABC (N = None) the ``M*K*O*Ho*Wo``
  multiplication-free additions of eq. (6).

A compiled model (:func:`~abcref.compiler.compile_model`) can be
summarised too: its ``BitABCConv2d`` layers count only their packed form
(no float weights, no float MACs of their own), and its plain thresholds
(one per activation and channel) are counted as stored.

The comparison systems (:mod:`abcref.nn.baselines`) are counted with the
same columns: binary weights are packed (one bit per weight, plus their
scale), BNN and XNOR-Net convolutions are binary MACs (XNOR-Net's input
scale ``K`` and ``alpha`` are float work), BWN's are additions (float
MACs, as weight-only ABC). DoReFa and the K-bit layer of §5.2 have
fixed-point activations: their MACs go to ``fixed_point_macs`` (a k-bit
activation times a 1-bit weight, see ``note``), neither float nor binary.

Adding a layer type means adding one small counting function to
``_COUNTERS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from abcref._checks import check_int
from abcref.bitpack.pack import num_words
from abcref.compiler import BitABCConv2d
from abcref.nn.abcconv import ABCConv2d
from abcref.nn.baselines import QuantConv2d, XNORConv2d
from abcref.nn.layers import BatchNorm2d, Conv2d, Linear
from abcref.nn.module import Module, Sequential


@dataclass
class LayerSummary:
    """One row of :func:`model_summary` (counts per example)."""

    name: str
    kind: str
    output_shape: tuple
    float_params: int  # parameters kept as floats in the packed model
    binary_params: int  # 1-bit parameters of the packed model
    float_model_bytes: int
    packed_model_bytes: int
    float_macs: int
    binary_macs: int
    packed_float_macs: int
    note: str = ""
    fixed_point_macs: int = 0  # k-bit activation MACs of the packed model (DoReFa, K-bit)


def _nbytes(arrays) -> int:
    return int(sum(a.nbytes for a in arrays))


def _float_model_bytes(layer: Module) -> int:
    return _nbytes(layer.params.values()) + _nbytes(layer.buffers.values())


def _count_default(layer, in_shape, out_shape, ctx):
    params = int(sum(p.size for p in layer.params.values()))
    nbytes = _float_model_bytes(layer)
    return {"float_params": params, "float_model_bytes": nbytes, "packed_model_bytes": nbytes}


def _count_conv(layer, in_shape, out_shape, ctx):
    o, c, kh, kw = layer.params["W"].shape
    macs = o * c * kh * kw * int(np.prod(out_shape[1:]))
    row = _count_default(layer, in_shape, out_shape, ctx)
    return {**row, "float_macs": macs, "packed_float_macs": macs}


def _count_linear(layer, in_shape, out_shape, ctx):
    macs = int(layer.params["W"].size)
    row = _count_default(layer, in_shape, out_shape, ctx)
    return {**row, "float_macs": macs, "packed_float_macs": macs}


def _count_batchnorm(layer, in_shape, out_shape, ctx):
    macs = int(np.prod(out_shape))
    row = _count_default(layer, in_shape, out_shape, ctx)
    folded_into = ctx["folded"].get(id(layer))
    if folded_into is None:
        return {**row, "float_macs": macs, "packed_float_macs": macs}
    return {
        **row,
        "float_params": 0,
        "packed_model_bytes": 0,
        "float_macs": macs,
        "packed_float_macs": 0,
        "note": f"folded into {folded_into}",
    }


def _count_abcconv(layer, in_shape, out_shape, ctx):
    o, c, kh, kw = layer.params["W"].shape
    m, n = layer.M, layer.N
    k = c * kh * kw
    outputs = int(np.prod(out_shape))  # O * Ho * Wo
    itemsize = layer.params["W"].itemsize
    alphas = o * m if layer.per_channel else m
    packed_bases = m * o * kh * kw * num_words(c) * 8
    row = {
        "binary_params": m * o * k,
        "float_model_bytes": _float_model_bytes(layer),
        "float_macs": k * outputs,
    }
    if n is None:  # weight-only ABC: float input, additions only (eq. 6)
        floats = alphas
        row.update(packed_float_macs=m * k * outputs, note="weight-only (float activations)")
    else:
        folded = ctx["folds_into"].get(id(layer), False)
        thresholds = n * c if folded else n
        floats = alphas + n + thresholds
        row.update(binary_macs=m * n * k * outputs, packed_float_macs=m * n * outputs)
        if layer.train_shifts:
            row["note"] = "trained shifts u are not needed at inference"
    row.update(float_params=floats, packed_model_bytes=packed_bases + floats * itemsize)
    return row


def _count_bit_abcconv(layer, in_shape, out_shape, ctx):
    """A layer of a compiled model: only the packed form exists (no float weights)."""
    c = layer.compiled
    m, n, k = c.num_bases, c.num_activations, c.reduction_size
    outputs = int(np.prod(out_shape))
    itemsize = c.alphas.itemsize
    floats = c.alphas.size + c.betas.size + c.comparator.thresholds.size
    packed = c.base_words.nbytes + floats * itemsize
    note = f"folds {layer.folded_batchnorm}" if layer.folded_batchnorm else ""
    return {
        "float_params": floats,
        "binary_params": m * c.out_channels * k,
        "float_model_bytes": packed,
        "packed_model_bytes": packed,
        "binary_macs": m * n * k * outputs,
        "packed_float_macs": m * n * outputs,
        "note": note,
    }


def quantizer_bits(layer) -> tuple[int | None, int | None]:
    """(weight bits, activation bits) of a baseline conv; None means float."""
    if isinstance(layer, XNORConv2d):
        return 1, 1
    options = layer.resolved_options
    w_bits = {"fp": None, "bwn": 1, "sign": 1}.get(layer.weights, options.get("weight_bits"))
    a_bits = {"fp": None, "sign": 1}.get(layer.activations, options.get("bits"))
    return w_bits, a_bits


def _count_quantconv(layer, in_shape, out_shape, ctx):
    """BWN, BNN, DoReFa, K-bit and FP baseline convs (packed weights, see docstring)."""
    o, c, kh, kw = layer.params["W"].shape
    k, outputs = c * kh * kw, int(np.prod(out_shape))
    row = _count_default(layer, in_shape, out_shape, ctx)
    row["float_macs"] = k * outputs
    w_bits, a_bits = quantizer_bits(layer)
    if w_bits is None:  # float weights: nothing to pack
        if a_bits is None:
            row["packed_float_macs"] = k * outputs
        else:
            row.update(
                packed_float_macs=k * outputs, note=f"{a_bits}-bit activations x float weights"
            )
        return row
    scales = {"bwn": o, "sign": 0}.get(layer.weights)
    if scales is None:  # DoReFa: one E per layer (or channel); k-bit weights have none
        scales = (o if layer.resolved_options["per_channel"] else 1) if w_bits == 1 else 0
    itemsize = layer.params["W"].itemsize
    row.update(
        float_params=scales,
        binary_params=w_bits * o * k,
        packed_model_bytes=w_bits * o * kh * kw * num_words(c) * 8 + scales * itemsize,
    )
    scale_macs = outputs if scales else 0
    if a_bits is None:  # BWN: +-1 weights on float inputs are additions
        row.update(packed_float_macs=k * outputs + scale_macs, note="additions (float inputs)")
    elif a_bits == 1 and w_bits == 1:
        row.update(binary_macs=k * outputs, packed_float_macs=scale_macs)
    else:
        row.update(
            fixed_point_macs=k * outputs,
            packed_float_macs=scale_macs,
            note=f"{a_bits}-bit activations x {w_bits}-bit weights (fixed point)",
        )
    return row


def _count_xnorconv(layer, in_shape, out_shape, ctx):
    """XNOR-Net: binary MACs, plus K (channel mean of |x|, box filter) and alpha*K."""
    o, c, kh, kw = layer.params["W"].shape
    k, outputs = c * kh * kw, int(np.prod(out_shape))
    row = _count_default(layer, in_shape, out_shape, ctx)
    itemsize = layer.params["W"].itemsize
    scale_work = outputs + int(np.prod(in_shape)) + kh * kw * int(np.prod(out_shape[1:]))
    if not layer.scale_input:
        scale_work = outputs
    row.update(
        float_params=o,
        binary_params=o * k,
        packed_model_bytes=o * kh * kw * num_words(c) * 8 + o * itemsize,
        float_macs=k * outputs,
        binary_macs=k * outputs,
        packed_float_macs=scale_work,
    )
    return row


_COUNTERS: dict[type, Callable] = {
    BitABCConv2d: _count_bit_abcconv,
    ABCConv2d: _count_abcconv,
    QuantConv2d: _count_quantconv,
    XNORConv2d: _count_xnorconv,
    Conv2d: _count_conv,
    Linear: _count_linear,
    BatchNorm2d: _count_batchnorm,
}


def _fold_pairs(model: Module) -> tuple[dict, dict]:
    """Batch norms that compile_model folds: {id(bn): abc name}, {id(abc): True}."""
    folded, folds_into = {}, {}
    for prefix, mod in model.named_modules():
        if not isinstance(mod, Sequential):
            continue
        items = list(mod.children().items())
        for (_, first), (name, second) in zip(items, items[1:], strict=False):
            if (
                isinstance(first, BatchNorm2d)
                and isinstance(second, ABCConv2d)
                and second.N is not None
            ):
                folded[id(first)] = f"{prefix}.{name}" if prefix else name
                folds_into[id(second)] = True
    return folded, folds_into


def _trace_shapes(model: Module, input_shape) -> dict[int, tuple[tuple, tuple]]:
    """Run one zero example through the model (eval mode) recording leaf in/out shapes."""
    leaves = [mod for _, mod in model.named_modules() if not mod.children()]
    shapes: dict[int, tuple[tuple, tuple]] = {}
    modes = {id(mod): mod.training for _, mod in model.named_modules()}

    def recorder(mod, forward):
        def wrapped(x):
            out = forward(x)
            shapes[id(mod)] = (x.shape[1:], out.shape[1:])
            return out

        return wrapped

    dtype = next((p.dtype for _, p, _ in model.named_parameters()), np.dtype(np.float32))
    try:
        model.eval()
        for mod in leaves:
            mod.forward = recorder(mod, mod.forward)
        model.forward(np.zeros((1, *input_shape), dtype=dtype))
    finally:
        for mod in leaves:
            del mod.forward  # back to the class method
        for _, mod in model.named_modules():
            mod.training = modes[id(mod)]
    return shapes


def model_summary(model: Module, input_shape) -> list[LayerSummary]:
    """Per-layer parameters, memory and operations of a float model and its packed form.

    Parameters
    ----------
    model : Module
        A float model (e.g. from :func:`abcref.nn.models.build_model`).
        Its train/eval modes are left as they were.
    input_shape : (C, H, W)
        Shape of one example (needed to count operations).

    Returns
    -------
    rows : list of LayerSummary
        One row per leaf layer, in execution order; see the module
        docstring for the counting rules. :func:`format_summary` prints
        them with totals.
    """
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {tuple(input_shape)}")
    input_shape = tuple(check_int(s, "input_shape", min_value=1) for s in input_shape)
    folded, folds_into = _fold_pairs(model)
    ctx = {"folded": folded, "folds_into": folds_into}
    shapes = _trace_shapes(model, input_shape)
    names = {id(mod): name for name, mod in model.named_modules()}
    rows = []
    for key, (in_shape, out_shape) in shapes.items():  # dicts keep execution order
        mod = next(m for _, m in model.named_modules() if id(m) == key)
        counter = next((f for cls, f in _COUNTERS.items() if isinstance(mod, cls)), _count_default)
        counts = {
            "float_params": 0,
            "binary_params": 0,
            "float_model_bytes": 0,
            "packed_model_bytes": 0,
            "float_macs": 0,
            "binary_macs": 0,
            "packed_float_macs": 0,
        }
        counts.update(counter(mod, in_shape, out_shape, ctx))
        rows.append(
            LayerSummary(
                name=names[key], kind=type(mod).__name__, output_shape=out_shape, **counts
            )
        )
    return rows


def summary_totals(rows: list[LayerSummary]) -> dict:
    """Column sums of :func:`model_summary` rows, plus the headline ratios."""
    keys = [k for k, v in asdict(rows[0]).items() if isinstance(v, int)] if rows else []
    totals = {k: int(sum(getattr(r, k) for r in rows)) for k in keys}
    packed = totals.get("packed_model_bytes", 0)
    ratio = totals.get("float_model_bytes", 0) / packed if packed else float("nan")
    totals["memory_ratio"] = ratio
    ops = sum(totals.get(k, 0) for k in ("binary_macs", "packed_float_macs", "fixed_point_macs"))
    totals["binary_fraction"] = totals.get("binary_macs", 0) / ops if ops else 0.0
    return totals


def _human(n: float, unit: str = "") -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{suffix}{unit}"
    return f"{n:g}{unit}"


def format_summary(rows: list[LayerSummary]) -> str:
    """Text table of :func:`model_summary` rows with totals (one example)."""
    header = (
        "layer",
        "type",
        "output",
        "float par",
        "1-bit par",
        "float mem",
        "packed mem",
        "float MACs",
        "binary MACs",
        "packed fMACs",
    )
    table = [header]
    for r in rows:
        table.append(
            (
                r.name,
                r.kind,
                "x".join(map(str, r.output_shape)),
                str(r.float_params),
                str(r.binary_params),
                _human(r.float_model_bytes, "B"),
                _human(r.packed_model_bytes, "B"),
                _human(r.float_macs),
                _human(r.binary_macs),
                _human(r.packed_float_macs),
            )
        )
    t = summary_totals(rows)
    table.append(
        (
            "total",
            "",
            "",
            str(t["float_params"]),
            str(t["binary_params"]),
            _human(t["float_model_bytes"], "B"),
            _human(t["packed_model_bytes"], "B"),
            _human(t["float_macs"]),
            _human(t["binary_macs"]),
            _human(t["packed_float_macs"]),
        )
    )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(-1, "-" * len(lines[0]))
    notes = [f"  {r.name}: {r.note}" for r in rows if r.note]
    lines += [
        f"memory: float model {_human(t['float_model_bytes'], 'B')}, packed model "
        f"{_human(t['packed_model_bytes'], 'B')} ({t['memory_ratio']:.1f}x smaller)",
        f"operations per example: {100 * t['binary_fraction']:.1f}% of the packed model's "
        "MACs are binary (xnor/popcount)",
    ]
    if t.get("fixed_point_macs"):
        lines.append(
            f"fixed-point MACs per example (k-bit activations): {_human(t['fixed_point_macs'])}"
        )
    if notes:
        lines += ["notes:", *notes]
    return "\n".join(lines)
