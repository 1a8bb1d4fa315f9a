"""Hints for a whole-model check: the op-level hints, recast on one layer, and layer order.

Used by :mod:`abcref.oracle.modelcheck`. An ABC convolution that differs
is recast as an ``abc_conv2d_forward`` case (its output) or an
``abc_conv2d_backward`` case (its gradients, at the other model's forward
point, with abcref's upstream gradient) and explained by
:func:`abcref.oracle.hints.explain`. A layer whose output matches the
next layer applied first is a layer-order mistake; a batch norm that
matches the other mode normalises with the wrong statistics.
"""

from __future__ import annotations

import copy

import numpy as np

from abcref.nn.abcconv import ABCConv2d
from abcref.nn.layers import BatchNorm2d, MaxPool2d
from abcref.nn.module import Module
from abcref.oracle.compare import OutputResult, compare_output
from abcref.oracle.hints import explain
from abcref.oracle.tolerance import FLOAT_TOLERANCES


# -- comparing --------------------------------------------------------------------------------
def tolerance_of(ref: np.ndarray, scale: float | None = None) -> tuple[float, float]:
    """The oracle's ``(atol, rtol)`` for ``ref``'s dtype (exact for integers).

    ``atol`` scales with ``scale``, by default the largest finite ``|ref|``.
    """
    if ref.dtype.name not in FLOAT_TOLERANCES:
        return 0.0, 0.0
    atol_scale, rtol = FLOAT_TOLERANCES[ref.dtype.name]
    if scale is None:
        scale = float(np.abs(ref[np.isfinite(ref)]).max(initial=0.0))
    return atol_scale * (scale or 1.0), rtol


def compare_arrays(name, ref, other) -> OutputResult:
    """:func:`~abcref.oracle.compare.compare_output` with :func:`tolerance_of` ``ref``."""
    ref = np.asarray(ref)
    return compare_output(name, ref, other, *tolerance_of(ref))


def rerun(module: Module, x, mode) -> np.ndarray | None:
    """A copy of ``module`` run on ``x`` (None if it refuses that input)."""
    clone = copy.deepcopy(module)
    clone.train(mode == "train")
    try:
        with np.errstate(all="ignore"):
            return clone.forward(x)
    except (ValueError, TypeError, RuntimeError):
        return None


def _abc_case(layer: ABCConv2d, function: str, inputs: dict, outputs: dict) -> tuple[dict, dict]:
    """An op-level case (manifest entry, reference arrays) for one ABC layer."""
    kwargs = {
        "M": layer.M,
        "stride": list(layer.stride),
        "padding": list(layer.padding),
        "shifts": [float(u) for u in layer.shifts],
        "ddof": layer.ddof,
        "ridge": layer.ridge,
        "per_channel": layer.per_channel,
        "weight_ste": layer.weight_ste,
        "pad_value": layer.pad_value,
    }
    case = {
        "name": "layer",
        "function": function,
        "kwargs": kwargs,
        "inputs": {k: {} for k in inputs},
        "outputs": {},
    }
    for key, ref in outputs.items():
        atol, rtol = tolerance_of(ref)
        case["outputs"][key] = {"atol": atol, "rtol": rtol}
    return case, {**inputs, **outputs}


def _abc_params(layer: ABCConv2d) -> dict:
    params = {"W": layer.params["weight"]}
    if "v" in layer.params:
        params.update(v=layer.params["v"], beta=layer.params["beta"])
    return params


def abc_forward_hints(layer, x, ours, theirs) -> list[str]:
    inputs = {"x": x, **_abc_params(layer)}
    case, ref = _abc_case(layer, "abcref.binarize.abc_conv2d_forward", inputs, {"out": ours})
    return explain(case, ref, {"out": theirs}, ["out"], pairs=False)


_SECTION_33 = (
    " (section 3.3: max-pool before batch norm and binarization, because max-pooling binary "
    "values gives mostly +1; conventions.md #11)"
)


def order_hint(name, modules, x, theirs, mode) -> list[str]:
    """The layer's output matches the next layer applied first: a swapped order."""
    parent_name, _, child = name.rpartition(".")
    siblings = [k for k in modules[parent_name].children() if k != "shortcut"]
    if child not in siblings or siblings.index(child) + 1 >= len(siblings):
        return []
    after = siblings[siblings.index(child) + 1]
    after_name = f"{parent_name}.{after}" if parent_name else after
    first = rerun(modules[after_name], x, mode)
    swapped = None if first is None else rerun(modules[name], first, mode)
    if (
        swapped is None
        or swapped.shape != theirs.shape
        or not compare_arrays(name, swapped, theirs).ok
    ):
        return []
    kinds = {type(modules[name]), type(modules[after_name])}
    why = _SECTION_33 if kinds == {BatchNorm2d, MaxPool2d} else ""
    return [
        f"layer order: your {name} output matches {after_name} applied before {name}; your "
        f"model runs {after_name} -> {name}, abcref runs {name} -> {after_name}{why}"
    ]


def bn_mode_hint(name, module, x, theirs, mode) -> list[str]:
    other = "eval" if mode == "train" else "train"
    out = rerun(module, x, other)
    if out is None or not compare_arrays(name, out, theirs).ok:
        return []
    stats = (
        "running statistics (eval mode)" if other == "eval" else "batch statistics (train mode)"
    )
    return [f"{name} matches batch norm with its {stats}; this run is in {mode} mode"]


def abc_gradient_hints(name, layer, trace, run) -> list[str]:
    """Hints for an ABC layer's gradients, recast as an abc_conv2d_backward case."""
    inputs = {"x": trace.inputs[name], **_abc_params(layer), "dout": trace.douts[name]}
    ours, theirs = {}, {}
    for key, param in (("dW", "weight"), ("dv", "v"), ("dbeta", "beta")):
        full = f"{name}.{param}"
        if full in run.gradients and full in trace.gradients:
            ours[key], theirs[key] = trace.gradients[full], run.gradients[full]
    if name in run.outputs:
        ours["out"], theirs["out"] = trace.outputs[name], run.outputs[name]
    case, ref = _abc_case(layer, "abcref.binarize.abc_conv2d_backward", inputs, ours)
    failing = [k for k in ours if not compare_arrays(k, ours[k], theirs[k]).ok]
    return explain(case, ref, theirs, failing, pairs=False)
