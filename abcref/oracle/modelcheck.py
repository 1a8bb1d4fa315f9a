"""Check another implementation's whole model against abcref, layer by layer.

:func:`check_model` reads a run directory (:mod:`abcref.oracle.modelrun`),
builds the abcref model of its config, loads the run's parameters, runs
the same batch in the same mode (and one backward of the mean
cross-entropy when gradients are given) and compares:

1. every layer output the run exports, in execution order. A layer that
   differs is rerun alone on the input the other model gave it (the
   other's output of the layer that feeds it): if it still differs, the
   layer itself diverges, and the first such layer is the **first
   divergence**; if it agrees, its difference was inherited from before;
2. the logits and the loss;
3. every exported parameter gradient, in backward order (last layer
   first): the first that differs is where backpropagation diverges.

A diverging layer is explained with the same hints as the op-level cases
(:mod:`abcref.oracle.hints`): an ABC convolution is recast as an
``abc_conv2d_forward`` (or, for its gradients, ``abc_conv2d_backward``)
case on the layer's own inputs and parameters; a layer whose output
matches the next layer applied first is named as a layer-order mistake;
a batch norm that matches the other mode is named too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from abcref.nn.abcconv import ABCConv2d
from abcref.nn.layers import BatchNorm2d
from abcref.oracle.compare import OutputResult, compare_output, describe_mismatch
from abcref.oracle.format import OracleFormatError
from abcref.oracle.modelhints import (
    abc_forward_hints,
    abc_gradient_hints,
    bn_mode_hint,
    compare_arrays,
    order_hint,
    tolerance_of,
)
from abcref.oracle.modelrun import Run, Trace, load_run, trace_model

#: Layers explained with hints, at most (each hint recomputes the layer a few times).
MAX_EXPLAINED = 6


@dataclass
class LayerResult:
    """How one exported array (a layer output or a gradient) compares."""

    name: str
    kind: str
    result: OutputResult
    own_input: str | None = None  # what the layer was rerun on, when it differed
    own_input_ok: bool | None = None  # None: not rerun (agreed, or no input to rerun on)
    hints: list[str] = field(default_factory=list)

    @property
    def diverges(self) -> bool:
        """Differs on its own input (or could not be rerun on it)."""
        return not self.result.ok and self.own_input_ok is not True


@dataclass
class ModelReport:
    """Result of :func:`check_model`; ``report.ok`` and ``report.format()``."""

    directory: str
    description: str
    layers: list[LayerResult]
    logits: OutputResult
    loss: OutputResult | None
    gradients: list[LayerResult]
    not_exported: list[str]
    warnings: list[str] = field(default_factory=list)

    @property
    def first_divergence(self) -> LayerResult | None:
        return next((layer for layer in self.layers if layer.diverges), None)

    @property
    def first_gradient_divergence(self) -> LayerResult | None:
        return next((g for g in self.gradients if not g.result.ok), None)

    @property
    def ok(self) -> bool:
        arrays = [self.logits, *(x.result for x in self.layers + self.gradients)]
        arrays += [self.loss] if self.loss is not None else []
        return all(a.ok for a in arrays)

    def format(self, *, verbose: bool = False) -> str:
        """Readable report: every differing array in full, agreeing ones counted."""
        lines = [f"abcref oracle check-model: {self.directory}", f"model: {self.description}"]
        lines.append(
            f"layers (forward, in execution order): {len(self.layers)} exported, "
            f"{sum(x.result.ok for x in self.layers)} agree"
        )
        lines += _format_results(self.layers, verbose)
        lines += _format_output("logits", self.logits, verbose)
        if self.loss is not None:
            lines += _format_output("loss", self.loss, verbose)
        if self.gradients:
            lines.append(
                f"gradients (of the mean cross-entropy, in backward order): "
                f"{len(self.gradients)} exported, {sum(g.result.ok for g in self.gradients)} "
                "agree"
            )
            # After a forward divergence every gradient follows from it: counted, not listed.
            # Otherwise the first gradient that differs (and any with hints) in full, the
            # rest (whose upstream gradient differs too) on one line each.
            if verbose or not (self.first_divergence or not self.logits.ok):
                first = self.first_gradient_divergence
                brief = {g.name for g in self.gradients if g is not first and not g.hints}
                lines += _format_results(self.gradients, verbose, brief=brief)
        lines += _verdict_lines(self)
        lines += [f"WARNING {w}" for w in self.warnings]
        lines.append("-> OK" if self.ok else "-> NOT OK")
        return "\n".join(lines)


def _format_output(name, result: OutputResult, verbose) -> list[str]:
    if result.ok and not verbose:
        return [f"{name}: ok"]
    first, *rest = describe_mismatch(result, indent="  ").split("\n")
    return [f"{name}: {'ok' if result.ok else 'MISMATCH'}  {first.strip()}", *rest]


def _format_results(results: list[LayerResult], verbose: bool, brief=()) -> list[str]:
    """Differing arrays in full; inherited differences (and those in ``brief``) on one line."""
    lines = []
    for x in results:
        if x.result.ok:
            if verbose:
                lines.append(f"  ok        {x.name}  ({x.kind})")
            continue
        head = f"  MISMATCH  {x.name}  ({x.kind})"
        errors = describe_mismatch(x.result).split("\n")[0]
        if x.own_input_ok is True and not verbose:
            lines.append(f"{head}: {errors}; agrees when rerun alone on {x.own_input}")
            continue
        if x.name in brief and not verbose:
            lines.append(f"{head}: {errors}")
            continue
        lines.append(head)
        lines.append(describe_mismatch(x.result, indent="            "))
        if x.own_input_ok is True:
            lines.append(
                f"            rerun alone on {x.own_input}: agrees, so the difference comes "
                "from an earlier layer"
            )
        elif x.own_input_ok is False:
            lines.append(f"            rerun alone on {x.own_input}: still differs")
        elif x.own_input is not None:
            lines.append(f"            not rerun on your input: compared on {x.own_input}")
        lines += [f"            HINT: {h}" for h in x.hints]
    return lines


def _verdict_lines(report: ModelReport) -> list[str]:
    lines = []
    first = report.first_divergence
    if first is not None:
        where = "" if first.own_input_ok is False else f" (compared on {first.own_input})"
        lines.append(f"first divergence: {first.name} ({first.kind}){where}")
    elif not report.logits.ok:
        lines.append(
            "first divergence: not located: every exported layer agrees on its own input; "
            "export more layer outputs (or check in float64, where rounding cannot flip a "
            "binarization)"
        )
    grad = report.first_gradient_divergence
    if grad is not None:
        note = " (the forward already differs)" if not report.logits.ok or first else ""
        lines.append(f"first gradient divergence (backward order): {grad.name}{note}")
    if report.not_exported:
        shown = ", ".join(report.not_exported[:8]) + (
            " ..." if len(report.not_exported) > 8 else ""
        )
        lines.append(f"gradients not exported: {shown}")
    return lines


# -- comparing -------------------------------------------------------------------------------
def _feeder(free: Trace, run: Run):
    """``feed`` for :func:`trace_model`: each layer gets the other model's input of it."""

    def feed(name, inp):
        for producer in free.producers.get(name, []):
            if producer == "input":
                return inp, "input"
            theirs = run.outputs.get(producer)
            usable = (
                theirs is not None
                and theirs.shape == inp.shape
                and theirs.dtype == inp.dtype
                and bool(np.isfinite(theirs).all())  # a NaN output is a mismatch, not an input
            )
            if usable:
                return theirs.copy(), producer
        return inp, None

    return feed


def _source(free: Trace, forced: Trace, run: Run, name: str) -> str:
    """What layer ``name`` was rerun on, in words."""
    source = forced.fed.get(name)
    if source == "input":
        return "the batch x"
    if source is not None:
        return f"your {source} output"
    mine = free.inputs[name]
    for producer in free.producers.get(name, []):
        theirs = run.outputs.get(producer)
        if theirs is None:
            continue
        if theirs.shape != mine.shape:
            why = f"has shape {list(theirs.shape)}, abcref's {list(mine.shape)}"
        elif theirs.dtype != mine.dtype:
            why = f"has dtype {theirs.dtype}, abcref's {mine.dtype}"
        else:
            why = "holds NaN or Inf"
        return f"abcref's input (your {producer} output {why})"
    return "abcref's input (the layer feeding it is not exported)"


def _layers(model, free: Trace, forced: Trace, run: Run) -> list[LayerResult]:
    modules = dict(model.named_modules())
    results = []
    for name in free.order:
        if name not in run.outputs:
            continue
        theirs = run.outputs[name]
        kind = type(modules[name]).__name__
        res = LayerResult(name, kind, compare_arrays(name, free.outputs[name], theirs))
        if not res.result.ok and res.result.problem is None:
            res.own_input = _source(free, forced, run, name)
            if name in forced.fed:
                res.own_input_ok = compare_arrays(name, forced.outputs[name], theirs).ok
        results.append(res)
    return results


def _layer_hints(model, forced: Trace, run, layers: list[LayerResult]) -> None:
    modules = dict(model.named_modules())
    explained = 0
    for res in layers:
        if not res.diverges or res.result.problem or explained >= MAX_EXPLAINED:
            continue
        explained += 1
        module, theirs = modules[res.name], run.outputs[res.name]
        x = forced.inputs[res.name]
        if isinstance(module, ABCConv2d):
            res.hints += abc_forward_hints(module, x, forced.outputs[res.name], theirs)
        if isinstance(module, BatchNorm2d):
            res.hints += bn_mode_hint(res.name, module, x, theirs, run.mode)
        res.hints += order_hint(res.name, modules, x, theirs, run.mode)


def _gradients(
    model, trace: Trace, run: Run, forward_ok: bool
) -> tuple[list[LayerResult], list[str]]:
    modules = dict(model.named_modules())
    names = [n for n, _ in model.named_parameters()]
    rank = {m: i for i, m in enumerate(trace.order)}
    owner = {n: n.rpartition(".")[0] for n in names}
    ordered = sorted(names, key=lambda n: -rank.get(owner[n], -1))
    # atol scales with the largest gradient of the same layer, not of the array itself: a
    # gradient that is 0 in exact arithmetic (a BN shift followed by a training-mode BN) is
    # rounding noise on both sides, which its own scale would judge as a mismatch.
    scale: dict[str, float] = {}
    for name in names:
        top = float(np.max(np.abs(trace.gradients[name]), initial=0.0))
        scale[owner[name]] = max(scale.get(owner[name], 0.0), top)
    results = []
    for name in ordered:
        if name in run.gradients:
            ref = trace.gradients[name]
            atol, rtol = tolerance_of(ref, scale=scale[owner[name]])
            result = compare_output(name, ref, run.gradients[name], atol, rtol)
            results.append(LayerResult(name, type(modules[owner[name]]).__name__, result))
    # Only the first differing gradient is explained: below it the upstream gradient
    # differs too, and after a forward divergence every gradient follows from the forward.
    first = next((res for res in results if not res.result.ok), None)
    if first is not None and forward_ok and isinstance(modules[owner[first.name]], ABCConv2d):
        first.hints += abc_gradient_hints(
            owner[first.name], modules[owner[first.name]], trace, run
        )
    return results, [n for n in ordered if n not in run.gradients]


def _describe(config: dict, run: Run) -> str:
    conv = config["conv"]
    if conv["kind"] == "abc":
        what = f"ABC M={conv['M']}, N={conv['N']}" + (
            ", channel-wise" if conv["per_channel"] else ""
        )
    else:
        what = f"conv kind {conv['kind']}"
    if "widths" in config:
        shape = f"widths {config['widths']}"
    else:
        shape = f"depth {config.get('depth')}, width {config.get('width')}"
    return (
        f"{config['arch']} ({shape}), {what}, {config['dtype']}; {run.mode} mode, "
        f"batch of {run.x.shape[0]}"
    )


def check_model(directory) -> ModelReport:
    """Check the run in ``directory`` against abcref's model of its config.

    Parameters
    ----------
    directory : path
        A run directory (format in :mod:`abcref.oracle.modelrun`).

    Returns
    -------
    ModelReport
        ``report.ok`` is True when the logits, the loss and every exported
        layer output and gradient agree within the oracle's tolerances;
        ``report.first_divergence`` is the first layer that differs on its
        own input; ``report.format()`` is the printable text.

    Raises
    ------
    OracleFormatError
        If the run directory is malformed or does not fit the model of its
        config: the check cannot run.
    """
    run, model = load_run(directory)
    try:
        free = trace_model(model, run.x, run.y, mode=run.mode, backward=False)
        # Second pass: each layer on the other model's input of it, then one backward, so
        # that a layer is judged on its own and the backward runs at the other model's
        # forward point (which max-pool entry won, which activation crossed a threshold).
        model.load_state_dict(run.parameters)  # the first pass moved BN's running statistics
        backward = run.gradients is not None
        forced = trace_model(
            model, run.x, run.y, mode=run.mode, backward=backward, feed=_feeder(free, run)
        )
        model.load_state_dict(run.parameters)  # hints rerun layers from the run's state
    except (ValueError, TypeError) as err:
        raise OracleFormatError(f"abcref's model cannot run on batch.npz: {err}") from None
    layers = _layers(model, free, forced, run)
    _layer_hints(model, forced, run, layers)
    known = set(free.order) | {"logits", "loss"}
    warnings = list(run.warnings)
    for key in sorted(set(run.outputs) - known):
        warnings.append(f"outputs.npz: {key!r} names no layer of the model (ignored)")
    logits = compare_arrays("logits", free.logits, run.outputs["logits"])
    gradients, not_exported = [], []
    if run.gradients is not None:
        forward_ok = all(not x.diverges for x in layers) and logits.ok
        gradients, not_exported = _gradients(model, forced, run, forward_ok)
        params = {n for n, _ in model.named_parameters()}
        for key in sorted(set(run.gradients) - params):
            warnings.append(f"gradients.npz: {key!r} names no parameter of the model (ignored)")
    loss = None
    if "loss" in run.outputs:
        loss = compare_arrays("loss", free.loss, run.outputs["loss"])
    report = ModelReport(
        str(Path(directory)),
        _describe(model.config, run),
        layers,
        logits,
        loss,
        gradients,
        not_exported,
        warnings,
    )
    return report
