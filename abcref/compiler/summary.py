"""Model summary: parameters, memory and operations of a float model and its packed form.

:func:`summary` prints a table as Larq's ``larq.models.summary`` does (it
is ``abcref.summary``); :func:`model_summary` returns its rows. For each
layer of a float model: what it costs as trained (the **float model**)
and what it costs once compiled by :func:`abcref.compiler.compile_model`
(the **packed model**: packed bases, alpha, beta, comparator thresholds,
batch norms folded into thresholds). Every column is named for the model
it describes: ``float_model_*`` or ``packed_*``.

Counting rules (per example; one row per leaf layer)
----------------------------------------------------
- ``float_model_params``: the layer's parameters (every one a float).
- ``float_model_bytes``: every parameter and buffer in the model's float
  dtype (the latent weights of an ABC layer included).
- ``float_model_macs``: multiply-accumulates of the float model, the ABC
  layer counted as one float convolution of its shape
  (``O*C*kh*kw*Ho*Wo``), a batch norm as one per element.
- ``packed_float_params`` and ``packed_binary_params``: the values the
  packed model keeps as floats (alpha: M, or O*M channel-wise; beta: N;
  thresholds: N per channel when a batch norm is folded in, else N; every
  parameter of a float layer) and as single bits (the bases).
- ``packed_model_bytes``: an ABC layer stores its M bases in the packed
  format (``M * O * kh * kw * ceil(C / 64)`` uint64 words, tail bits
  included) plus its floats. A batch norm folded into the next ABC layer
  costs nothing; every other layer costs what it costs in the float model.
- ``packed_binary_macs``: xnor/popcount multiply-accumulates,
  ``M * N * K * O * Ho * Wo`` for an ABC layer (K = C*kh*kw).
- ``packed_float_macs``: float multiply-accumulates left in the packed
  model: the alpha*beta combination of eq. (12) (``M*N*O*Ho*Wo``), the
  float layers, and for weight-only ABC (N = None) the ``M*K*O*Ho*Wo``
  multiplication-free additions of eq. (6).
- ``packed_fixed_point_macs``: k-bit activation MACs (below).
- ``note``: for a batch norm that :func:`~abcref.compiler.compile_model`
  folds into thresholds, ``"folded into <convs>"``; for each ABC conv it is
  folded into, ``"folds <batch norm>"`` (:func:`~abcref.compiler.fold_plan`:
  inside residual blocks too, and one batch norm into two convs when a
  binary projection shortcut reads it as well).

A compiled model (:func:`~abcref.compiler.compile_model`) can be
summarised too: its ``BitABCConv2d`` layers exist only in packed form, so
their float-model columns describe that form as stored (no float MACs of
their own), and its plain thresholds (one per activation and channel) are
counted as stored.

The comparison systems (:mod:`abcref.nn.quantconv`) are counted with the
same columns: binary weights are packed (one bit per weight, plus their
scale), BNN and XNOR-Net convolutions are binary MACs (XNOR-Net's input
scale ``K`` and ``alpha`` are float work), BWN's are additions (float
MACs, as weight-only ABC). DoReFa and the K-bit layer of §5.2 have
fixed-point activations: their MACs go to ``packed_fixed_point_macs`` (a
k-bit activation times a 1-bit weight, see ``note``), neither float nor
binary.

Adding a layer type means adding one small counting function to
``_COUNTERS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from abcref._checks import check_int
from abcref.bitpack.pack import num_words
from abcref.compiler.compile import BitABCConv2d, FoldedBatchNorm, _fold_plan
from abcref.nn.abcconv import ABCConv2d
from abcref.nn.layers import BatchNorm2d, Conv2d, Linear
from abcref.nn.module import Module
from abcref.nn.quantconv import QuantConv2d, XNORConv2d


@dataclass
class LayerSummary:
    """One row of :func:`model_summary` (counts per example; module docstring)."""

    name: str
    kind: str
    output_shape: tuple
    float_model_params: int = 0  # parameters of the float model
    float_model_bytes: int = 0  # its memory
    float_model_macs: int = 0  # its multiply-accumulates
    packed_float_params: int = 0  # values the packed model keeps as floats
    packed_binary_params: int = 0  # values the packed model keeps as single bits
    packed_model_bytes: int = 0  # its memory
    packed_binary_macs: int = 0  # its xnor/popcount multiply-accumulates
    packed_float_macs: int = 0  # its float multiply-accumulates
    packed_fixed_point_macs: int = 0  # its k-bit activation MACs (DoReFa, K-bit)
    note: str = ""


def _nbytes(arrays) -> int:
    return int(sum(a.nbytes for a in arrays))


def _float_model_bytes(layer: Module) -> int:
    return _nbytes(layer.params.values()) + _nbytes(layer.buffers.values())


def _count_default(layer, in_shape, out_shape, ctx):
    """A float layer: the packed model keeps it as it is."""
    params = int(sum(p.size for p in layer.params.values()))
    nbytes = _float_model_bytes(layer)
    return {
        "float_model_params": params,
        "float_model_bytes": nbytes,
        "packed_float_params": params,
        "packed_model_bytes": nbytes,
    }


def _count_conv(layer, in_shape, out_shape, ctx):
    o, c, kh, kw = layer.params["weight"].shape
    macs = o * c * kh * kw * int(np.prod(out_shape[1:]))
    row = _count_default(layer, in_shape, out_shape, ctx)
    return {**row, "float_model_macs": macs, "packed_float_macs": macs}


def _count_linear(layer, in_shape, out_shape, ctx):
    macs = int(layer.params["weight"].size)
    row = _count_default(layer, in_shape, out_shape, ctx)
    return {**row, "float_model_macs": macs, "packed_float_macs": macs}


def _count_batchnorm(layer, in_shape, out_shape, ctx):
    macs = int(np.prod(out_shape))
    row = _count_default(layer, in_shape, out_shape, ctx)
    folded_into = ctx["folded"].get(id(layer))
    if folded_into is None:
        return {**row, "float_model_macs": macs, "packed_float_macs": macs}
    return {
        **row,
        "packed_float_params": 0,
        "packed_model_bytes": 0,
        "float_model_macs": macs,
        "packed_float_macs": 0,
        "note": f"folded into {folded_into}",
    }


def _count_abcconv(layer, in_shape, out_shape, ctx):
    o, c, kh, kw = layer.params["weight"].shape
    m, n = layer.M, layer.N
    k = c * kh * kw
    outputs = int(np.prod(out_shape))  # O * Ho * Wo
    itemsize = layer.params["weight"].itemsize
    alphas = o * m if layer.per_channel else m
    packed_bases = m * o * kh * kw * num_words(c) * 8
    row = {
        "float_model_params": int(sum(p.size for p in layer.params.values())),
        "float_model_bytes": _float_model_bytes(layer),
        "float_model_macs": k * outputs,
        "packed_binary_params": m * o * k,
    }
    if n is None:  # weight-only ABC: float input, additions only (eq. 6)
        floats = alphas
        row.update(packed_float_macs=m * k * outputs, note="weight-only (float activations)")
    else:
        folded = ctx["folds_into"].get(id(layer))
        thresholds = n * c if folded else n
        floats = alphas + n + thresholds
        row.update(packed_binary_macs=m * n * k * outputs, packed_float_macs=m * n * outputs)
        notes = [f"folds {folded}"] if folded else []
        if layer.train_shifts:
            notes.append("trained shifts u are not needed at inference")
        row["note"] = "; ".join(notes)
    row.update(packed_float_params=floats, packed_model_bytes=packed_bases + floats * itemsize)
    return row


def _count_bit_abcconv(layer, in_shape, out_shape, ctx):
    """A layer of a compiled model: only the packed form exists (no float weights)."""
    c = layer.compiled
    m, n, k = c.num_bases, c.num_activations, c.reduction_size
    outputs = int(np.prod(out_shape))
    itemsize = c.alphas.itemsize
    floats = c.alphas.size + c.betas.size + c.comparator.thresholds.size
    bits = m * c.out_channels * k
    packed = c.base_words.nbytes + floats * itemsize
    note = f"folds {layer.folded_batchnorm}" if layer.folded_batchnorm else ""
    return {
        "float_model_params": floats + bits,  # the model as stored: its packed form
        "float_model_bytes": packed,
        "packed_float_params": floats,
        "packed_binary_params": bits,
        "packed_model_bytes": packed,
        "packed_binary_macs": m * n * k * outputs,
        "packed_float_macs": m * n * outputs,
        "note": note,
    }


def _count_folded_batchnorm(layer, in_shape, out_shape, ctx):
    """The place of a batch norm a compiled model folded into thresholds: nothing left."""
    return {"note": f"folded into {', '.join(layer.folded_into)}"}


def quantizer_bits(layer) -> tuple[int | None, int | None]:
    """(weight bits, activation bits) of a QuantConv2d or XNORConv2d; None means float."""
    if isinstance(layer, XNORConv2d):
        return 1, 1
    options = layer.resolved_options
    w_bits = {"fp": None, "bwn": 1, "sign": 1}.get(layer.weights, options.get("weight_bits"))
    a_bits = {"fp": None, "sign": 1}.get(layer.activations, options.get("bits"))
    return w_bits, a_bits


def _count_quantconv(layer, in_shape, out_shape, ctx):
    """BWN, BNN, DoReFa, K-bit and FP quantized convs (packed weights, see docstring)."""
    o, c, kh, kw = layer.params["weight"].shape
    k, outputs = c * kh * kw, int(np.prod(out_shape))
    row = _count_default(layer, in_shape, out_shape, ctx)
    row["float_model_macs"] = k * outputs
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
    itemsize = layer.params["weight"].itemsize
    row.update(
        packed_float_params=scales,
        packed_binary_params=w_bits * o * k,
        packed_model_bytes=w_bits * o * kh * kw * num_words(c) * 8 + scales * itemsize,
    )
    scale_macs = outputs if scales else 0
    if a_bits is None:  # BWN: +-1 weights on float inputs are additions
        row.update(packed_float_macs=k * outputs + scale_macs, note="additions (float inputs)")
    elif a_bits == 1 and w_bits == 1:
        row.update(packed_binary_macs=k * outputs, packed_float_macs=scale_macs)
    else:
        row.update(
            packed_fixed_point_macs=k * outputs,
            packed_float_macs=scale_macs,
            note=f"{a_bits}-bit activations x {w_bits}-bit weights (fixed point)",
        )
    return row


def _count_xnorconv(layer, in_shape, out_shape, ctx):
    """XNOR-Net: binary MACs, plus K (channel mean of |x|, box filter) and alpha*K."""
    o, c, kh, kw = layer.params["weight"].shape
    k, outputs = c * kh * kw, int(np.prod(out_shape))
    row = _count_default(layer, in_shape, out_shape, ctx)
    itemsize = layer.params["weight"].itemsize
    scale_work = outputs + int(np.prod(in_shape)) + kh * kw * int(np.prod(out_shape[1:]))
    if not layer.scale_input:
        scale_work = outputs
    row.update(
        packed_float_params=o,
        packed_binary_params=o * k,
        packed_model_bytes=o * kh * kw * num_words(c) * 8 + o * itemsize,
        float_model_macs=k * outputs,
        packed_binary_macs=k * outputs,
        packed_float_macs=scale_work,
    )
    return row


_COUNTERS: dict[type, Callable] = {
    BitABCConv2d: _count_bit_abcconv,
    FoldedBatchNorm: _count_folded_batchnorm,
    ABCConv2d: _count_abcconv,
    QuantConv2d: _count_quantconv,
    XNORConv2d: _count_xnorconv,
    Conv2d: _count_conv,
    Linear: _count_linear,
    BatchNorm2d: _count_batchnorm,
}


def _fold_pairs(model: Module) -> tuple[dict, dict]:
    """What compile_model folds: {id(bn): its ABC convs' names}, {id(abc): the bn's name}."""
    modules = dict(model.named_modules())
    folded, folds_into = {}, {}
    for bn, targets in _fold_plan(model).items():
        folded[id(modules[bn])] = ", ".join(targets)
        for target in targets:
            folds_into[id(modules[target])] = bn
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

    dtype = next((p.dtype for p in model.parameters()), np.dtype(np.float32))
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
            mod._cache = None  # a later backward must not run on the zero example
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
    modules = {id(mod): (name, mod) for name, mod in model.named_modules()}
    rows = []
    for key, (in_shape, out_shape) in shapes.items():  # dicts keep execution order
        name, mod = modules[key]
        counter = next((f for cls, f in _COUNTERS.items() if isinstance(mod, cls)), _count_default)
        counts = counter(mod, in_shape, out_shape, ctx)
        kind = type(mod).__name__
        rows.append(LayerSummary(name=name, kind=kind, output_shape=out_shape, **counts))
    return rows


def summary_totals(rows: list[LayerSummary]) -> dict:
    """Column sums of :func:`model_summary` rows, plus the headline ratios.

    Returns
    -------
    dict
        Every count of :class:`LayerSummary` summed, plus ``memory_ratio``
        (float-model bytes / packed-model bytes) and ``binary_fraction``
        (the packed model's binary MACs / all its MACs).
    """
    counts = [f.name for f in fields(LayerSummary) if f.type in ("int", int)]
    totals = {k: int(sum(getattr(r, k) for r in rows)) for k in counts}
    packed = totals["packed_model_bytes"]
    totals["memory_ratio"] = totals["float_model_bytes"] / packed if packed else float("nan")
    ops = sum(
        totals[k] for k in ("packed_binary_macs", "packed_float_macs", "packed_fixed_point_macs")
    )
    totals["binary_fraction"] = totals["packed_binary_macs"] / ops if ops else 0.0
    return totals


def _human(n: float, unit: str = "") -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{suffix}{unit}"
    return f"{n:g}{unit}"


# (group, column header, LayerSummary field, formatter); the groups name the model.
_COLUMNS = (
    ("", "layer", "name", str),
    ("", "type", "kind", str),
    ("", "output", "output_shape", lambda shape: "x".join(map(str, shape))),
    ("float model", "params", "float_model_params", str),
    ("float model", "memory", "float_model_bytes", lambda n: _human(n, "B")),
    ("float model", "MACs", "float_model_macs", _human),
    ("packed model", "float params", "packed_float_params", str),
    ("packed model", "1-bit params", "packed_binary_params", str),
    ("packed model", "memory", "packed_model_bytes", lambda n: _human(n, "B")),
    ("packed model", "binary MACs", "packed_binary_macs", _human),
    ("packed model", "float MACs", "packed_float_macs", _human),
)


def format_summary(rows: list[LayerSummary]) -> str:
    """Text table of :func:`model_summary` rows with totals (one example).

    The columns come in three groups: the layer, the **float model** (as
    trained) and the **packed model** (as compiled); the first header line
    names the groups, the second the columns.
    """
    t = summary_totals(rows)
    body = [[fmt(getattr(r, field)) for _, _, field, fmt in _COLUMNS] for r in rows]
    total = ["total", "", ""] + [fmt(t[field]) for _, _, field, fmt in _COLUMNS[3:]]
    headers = [header for _, header, _, _ in _COLUMNS]
    widths = [max(len(row[i]) for row in [headers, *body, total]) for i in range(len(_COLUMNS))]
    groups = [g for i, (g, *_rest) in enumerate(_COLUMNS) if i == 0 or g != _COLUMNS[i - 1][0]]
    members = {g: [i for i, c in enumerate(_COLUMNS) if c[0] == g] for g in groups}
    for g in groups[1:]:  # widen a group's last column until its title fits
        span = sum(widths[i] for i in members[g]) + 2 * (len(members[g]) - 1)
        widths[members[g][-1]] += max(0, len(g) - span)

    def line(cells, title_line=False) -> str:
        parts = []
        for g in groups:
            idx = members[g]
            if title_line and g:
                span = sum(widths[i] for i in idx) + 2 * (len(idx) - 1)
                parts.append(g.ljust(span))
                continue
            parts.append(
                "  ".join(
                    cells[i].ljust(widths[i]) if i < 3 else cells[i].rjust(widths[i]) for i in idx
                )
            )
        return " | ".join(parts).rstrip()

    blank_names = [""] * 3 + headers[3:]
    lines = [line(headers, title_line=True), line(blank_names)]
    rule = "-" * max(len(s) for s in lines)
    lines.append(rule)
    lines += [line(row) for row in body]
    lines += [rule, line(total)]
    notes = [f"  {r.name}: {r.note}" for r in rows if r.note]
    lines += [
        f"memory: float model {_human(t['float_model_bytes'], 'B')}, packed model "
        f"{_human(t['packed_model_bytes'], 'B')} ({t['memory_ratio']:.1f}x smaller)",
        f"operations per example: {100 * t['binary_fraction']:.1f}% of the packed model's "
        "MACs are binary (xnor/popcount)",
    ]
    if t["packed_fixed_point_macs"]:
        lines.append(
            "packed model's fixed-point MACs per example (k-bit activations): "
            f"{_human(t['packed_fixed_point_macs'])}"
        )
    if notes:
        lines += ["notes:", *notes]
    return "\n".join(lines)


def summary(model: Module, input_shape, *, print_fn: Callable[[str], object] = print) -> None:
    """Print a model's summary table, as Larq's ``larq.models.summary``.

    ``abcref.summary`` is this function.

    Parameters
    ----------
    model : Module
        A float model (its train/eval modes are left as they were) or a
        compiled one.
    input_shape : (C, H, W)
        Shape of one example (needed to count operations).
    print_fn : callable
        Receives the table as one string (default ``print``); pass e.g.
        ``lines.append`` to capture it.

    Examples
    --------
    >>> import abcref
    >>> from abcref.nn import small_cnn
    >>> abcref.summary(small_cnn(), (1, 8, 8))  # doctest: +SKIP

    See :func:`model_summary` for the rows as data and the module
    docstring for what each column counts.
    """
    print_fn(format_summary(model_summary(model, input_shape)))
