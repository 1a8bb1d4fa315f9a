"""Compile a trained model for inference with bits.

:func:`compile_layer` packs one trained ``ABCConv2d`` (and the batch norm
feeding it) into a :class:`~abcref.compiler.packed.PackedABCConv2d`;
:func:`compile_model` replaces every ABC convolution that has binary
activations by a :class:`BitABCConv2d`, the layer that runs it, and folds
each batch norm that feeds only such layers into their comparators
(section 5.3, :mod:`abcref.bitpack.thresholds`), in a ``Sequential`` and
inside residual blocks alike (:func:`fold_plan`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np

from abcref.bitpack.thresholds import fold_batchnorm_exact
from abcref.compiler.packed import PackedABCConv2d, pack_abc_conv
from abcref.nn.abcconv import ABCConv2d
from abcref.nn.layers import BatchNorm2d, Identity
from abcref.nn.module import Module, Sequential
from abcref.ops import batchnorm2d_forward

__all__ = [
    "BitABCConv2d",
    "FoldedBatchNorm",
    "batchnorm_affine",
    "compile_layer",
    "compile_model",
    "fold_plan",
]


def compile_layer(layer, batchnorm=None) -> PackedABCConv2d:
    """Pack a trained ``abcref.nn.abcconv.ABCConv2d`` for bitwise inference.

    Parameters
    ----------
    layer : ABCConv2d
        A layer with binary activations (``N`` not None). Its current
        latent weights give the bases and alphas (``weight_bases()``).
    batchnorm : BatchNorm2d, optional
        An eval-mode batch norm whose output is this layer's input; it is
        folded into the comparator thresholds (section 5.3 (2)), so the
        compiled layer takes the batch norm's *input*.

    Returns
    -------
    PackedABCConv2d

    Raises
    ------
    ValueError
        If the layer keeps full-precision activations (N is None): an
        xnor/popcount engine needs binary inputs.
    """
    if getattr(layer, "N", None) is None:
        raise ValueError(
            f"layer {layer!r} has full-precision activations (N=None); "
            "only layers with N binary activations compile to xnor/popcount"
        )
    bases, alphas = layer.weight_bases()
    v, beta = layer.params["v"], layer.params["beta"]
    comparator = None
    if batchnorm is not None:
        a, b, bn_fn = batchnorm_affine(batchnorm)
        if a.shape[0] != layer.in_channels:
            raise ValueError(
                f"batchnorm has {a.shape[0]} channels, the layer expects {layer.in_channels}"
            )
        comparator = fold_batchnorm_exact(a, b, v, batchnorm=bn_fn)
    return pack_abc_conv(
        bases,
        alphas,
        v,
        beta,
        stride=layer.stride,
        padding=layer.padding,
        pad_value=layer.pad_value,  # pack_abc_conv checks it is 0, +1 or -1
        comparator=comparator,
    )


class BitABCConv2d(Module):
    """Inference-only layer that runs a :class:`PackedABCConv2d`.

    It takes the place of an ``ABCConv2d`` (and of the batch norm folded
    into it, named by ``folded_batchnorm``) in a compiled model. There
    is no backward: the packed bases are a snapshot of trained weights.
    """

    def __init__(self, compiled: PackedABCConv2d, *, folded_batchnorm: str | None = None):
        super().__init__()
        self.compiled = compiled
        self.folded_batchnorm = folded_batchnorm
        self.training = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.compiled.forward(x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise RuntimeError("BitABCConv2d is inference-only: train the float model instead")

    def extra_repr(self) -> str:
        c = self.compiled
        fold = f", folded_batchnorm={self.folded_batchnorm!r}" if self.folded_batchnorm else ""
        return (
            f"{c.in_channels}, {c.out_channels}, kernel_size={c.kernel_size}, "
            f"M={c.num_bases}, N={c.num_activations}, stride={c.stride}, "
            f"padding={c.padding}{fold}"
        )


class FoldedBatchNorm(Identity):
    """Where a batch norm stood that :func:`compile_model` folded into thresholds.

    Inside a residual block the compiled block keeps its wiring; the layers
    that read this position compare its input with thresholds that include
    the batch norm, so it passes its input on unchanged.
    """

    def __init__(self, folded_into: tuple[str, ...]) -> None:
        super().__init__()
        self.folded_into = tuple(folded_into)
        self.training = False

    def extra_repr(self) -> str:
        return "folded into " + ", ".join(self.folded_into)


def _binary_abc(module) -> bool:
    return isinstance(module, ABCConv2d) and module.N is not None


def _readers(container: Module) -> dict[str, list[str]]:
    """``{child: [children reading its output]}`` inside one container, as far as known.

    In a ``Sequential`` each child's output feeds only the next child; a
    container that defines ``readers()`` (a residual block) lists its own
    wiring. Any other container is opaque: nothing in it is folded.
    """
    if isinstance(container, Sequential):
        names = list(container.children())
        return {a: [b] for a, b in zip(names, names[1:], strict=False)}
    readers = getattr(container, "readers", None)
    return readers() if callable(readers) else {}


def fold_plan(model: Module) -> dict[str, tuple[str, ...]]:
    """The batch norms :func:`compile_model` folds, and the layers each is folded into.

    A ``BatchNorm2d`` is folded when every layer that reads its output is
    an ``ABCConv2d`` with binary activations: each of them then compares
    the batch norm's *input* with thresholds that include it (section
    5.3), and the batch norm itself is no longer computed. One batch norm
    may feed several such convs (a residual block's ``bn1`` feeds conv1 and,
    with ``binary_shortcut``, the projection); each gets its own fold.

    Parameters
    ----------
    model : Module

    Returns
    -------
    dict
        ``{batch norm name: (names of the ABC convs it is folded into)}``,
        dotted names as in ``model.named_modules()``.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be an abcref.nn Module, got {type(model).__name__}")
    return _fold_plan(model)


def _fold_plan(model: Module) -> dict[str, tuple[str, ...]]:
    modules = dict(model.named_modules())
    plan = {}
    for prefix, container in model.named_modules():
        for source, readers in _readers(container).items():
            name = f"{prefix}.{source}" if prefix else source
            targets = tuple(f"{prefix}.{r}" if prefix else r for r in readers)
            if (
                isinstance(modules.get(name), BatchNorm2d)
                and targets
                and all(_binary_abc(modules.get(t)) for t in targets)
            ):
                plan[name] = targets
    return plan


def _snapshot(module: Module) -> Module:
    """A copy of a float layer, without the cache of its last forward."""
    # The memo maps that cache to None instead of copying it.
    cache = module.__dict__.get("_cache")
    return copy.deepcopy(module, {} if cache is None else {id(cache): None})


def _compile_module(module: Module, folds: dict, folded: dict) -> Module:
    """Compile one module; ``folds``: {id(abc): (bn, bn name)}; ``folded``: {id(bn): readers}."""
    if _binary_abc(module):
        bn, bn_name = folds.get(id(module), (None, None))
        return BitABCConv2d(compile_layer(module, batchnorm=bn), folded_batchnorm=bn_name)
    if id(module) in folded:
        # Its readers compare its input with thresholds: the BN is not computed.
        return FoldedBatchNorm(folded[id(module)])
    children = module.children()
    if isinstance(module, Sequential):
        # A folded batch norm simply leaves the chain.
        return Sequential(
            **{
                name: _compile_module(child, folds, folded)
                for name, child in children.items()
                if id(child) not in folded
            }
        )
    if not children:
        return _snapshot(module)
    # Any other container (e.g. a residual block): copy it, compile its children,
    # and re-point attributes and lists of children at the compiled ones.
    new = copy.copy(module)
    object.__setattr__(new, "_modules", {})
    object.__setattr__(new, "_cache", None)
    replaced = {}
    for name, child in children.items():
        compiled = _compile_module(child, folds, folded)
        replaced[id(child)] = compiled
        setattr(new, name, compiled)
    for attr, value in list(vars(new).items()):
        if isinstance(value, list) and value and all(isinstance(m, Module) for m in value):
            object.__setattr__(new, attr, [replaced.get(id(m), m) for m in value])
    # Own copies, like every other compiled layer: later training of the float
    # model must not change the compiled snapshot.
    new.params = {k: p.copy() for k, p in module.params.items()}
    new.grads = {k: g.copy() for k, g in module.grads.items()}
    new.buffers = {k: b.copy() for k, b in module.buffers.items()}
    return new


def compile_model(model: Module) -> Module:
    """Compile every binary ABC layer of an eval-mode model for bitwise inference.

    Parameters
    ----------
    model : Module
        A trained model (e.g. from :func:`abcref.nn.models.build_model`)
        in eval mode.

    Returns
    -------
    compiled : Module
        A copy of the model in which every ``ABCConv2d`` with binary
        activations is a :class:`BitABCConv2d` (packed bases, alpha,
        beta, comparators), and every ``BatchNorm2d`` whose output only
        such layers read (:func:`fold_plan`: the next layer of a
        ``Sequential``, or the convs a residual block's ``readers()`` names)
        is folded into their comparators (section 5.3): it leaves a
        ``Sequential``, and inside a residual block a :class:`FoldedBatchNorm`
        (which passes its input on) takes its place.
        Other layers (full-precision first and last layers, pooling,
        weight-only ABC layers, batch norms feeding a float layer) are
        copied and run in float. Inference only (no backward).

    Raises
    ------
    ValueError
        If any module of the model is in training mode.

    Notes
    -----
    Integer accumulations are exact; the alpha/beta combination rounds
    differently from the float graph's single conv, so logits agree to
    float rounding and predictions agree unless an activation lies
    within rounding of a comparator threshold.
    """
    training = [name or "<model>" for name, mod in model.named_modules() if mod.training]
    if training:
        raise ValueError(
            f"model must be in eval mode (call model.eval()); in training mode: {training[:5]}"
        )
    modules = dict(model.named_modules())
    plan = _fold_plan(model)
    folds = {id(modules[t]): (modules[bn], bn) for bn, targets in plan.items() for t in targets}
    folded = {id(modules[bn]): targets for bn, targets in plan.items()}
    compiled = _compile_module(model, folds, folded)
    compiled.eval()
    return compiled


def batchnorm_affine(bn) -> tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Run-time affine form of an eval-mode ``abcref.nn.layers.BatchNorm2d``.

    Returns
    -------
    a, b : ndarray of shape (C,)
        ``a = gamma / sqrt(running_var + eps)``, ``b = beta - a * running_mean``
        with ``gamma = bn.weight``, ``beta = bn.bias`` (computed in float64,
        returned in the layer's dtype; ``sign(a)`` is ``sign(gamma)``, also
        when ``a`` would underflow to 0).
    batchnorm : callable
        (C,) -> (C,): the layer's own float computation
        (``abcref.ops.batchnorm2d_forward`` in eval mode), whose rounding
        the folded comparators reproduce exactly.
    """
    gamma, beta = bn.params["weight"], bn.params["bias"]
    mean, var = bn.buffers["running_mean"], bn.buffers["running_var"]
    a64 = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + bn.eps)
    b64 = beta.astype(np.float64) - a64 * mean.astype(np.float64)
    a = a64.astype(gamma.dtype)
    # The folded comparator takes its direction from sign(a), and the float
    # BN is monotone in the direction of sign(gamma). A subnormal gamma can
    # make a round to 0 (constant output) while gamma * xhat still moves BN(R)
    # across the threshold for large R: keep the sign of gamma.
    tiny = np.finfo(gamma.dtype).smallest_subnormal
    a = np.where((a == 0) & (gamma != 0), np.copysign(tiny, gamma), a).astype(gamma.dtype)
    channels = gamma.shape[0]

    def batchnorm(r):
        out, _ = batchnorm2d_forward(
            r.reshape(1, channels, 1, 1),
            gamma,
            beta,
            running_mean=mean,
            running_var=var,
            training=False,
            eps=bn.eps,
        )
        return out.reshape(channels)

    return a, b64.astype(gamma.dtype), batchnorm
