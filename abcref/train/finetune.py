"""Initialise an ABC model from a trained full-precision one (§3.3).

"Since our binarization scheme approximates full-precision weights, using
the full-precision pre-train model serves as a perfect initialization"
(§3.3). :func:`init_from_full_precision` copies a full-precision model's
weights into the ABC model's *latent* weights W (``weight``), from which every
forward recomputes the binary bases and alphas (eqs. 2-5).

Correspondence
--------------
The builders of :mod:`abcref.nn.models` give a full-precision model and
an ABC model built from configs that differ only in ``"conv"`` (and
``"seed"``) the same parameter names: a full-precision ``conv2.weight``
(an ``activation -> Conv2d``) and an ABC ``conv2.weight`` (an
``ABCConv2d``'s latent W) are the same OIHW tensor. Hence, name by name:

- conv and linear weights and biases, BN ``weight``/``bias`` (gamma and
  beta) and BN running statistics are copied (same name, shape and dtype);
- a full-precision linear classifier ``fc.weight`` (out, in) goes into an
  ABC 1x1 classifier ``fc.conv.weight`` (out, in, 1, 1) when
  ``first_last_fp=False``;
- ABC-only parameters (activation thresholds ``v``, scales ``beta``,
  trainable shifts ``u``) keep their initialisation;
- full-precision entries without an ABC counterpart (the classifier's
  bias when the ABC classifier has none) are reported as unused.
"""

from __future__ import annotations

import json
import os

import numpy as np

from abcref.nn.abcconv import ABCConv2d
from abcref.nn.module import Module
from abcref.nn.quantconv import QuantConv2d, XNORConv2d
from abcref.train.checkpoint import Checkpoint, load_checkpoint

# Config keys that may differ between the FP source and the ABC target.
_FREE_KEYS = {"conv", "seed", "binary_shortcut"}
# Layers that binarize (a model holding one is not full precision), and
# the array names only an ABC conv has (recognised in a config-less state).
_BINARY_LAYERS = (ABCConv2d, QuantConv2d, XNORConv2d)
_ABC_ONLY = {"v", "beta", "u"}


def init_from_full_precision(model: Module, source) -> dict:
    """Copy full-precision weights into ``model``'s corresponding entries.

    Parameters
    ----------
    model : Module
        The target (usually ABC) model, from ``build_model``. Written in
        place.
    source : Module, Checkpoint, str or Path
        The trained full-precision model, a loaded checkpoint of it, or
        the path of one.

    Returns
    -------
    dict
        ``{"copied": [names], "kept": [target names not in the source],
        "unused": [source names not in the target]}``.

    Raises
    ------
    ValueError
        If the source is not full precision (see
        :func:`check_full_precision_source`); if both carry configs and
        they differ in anything other than the conv kind, ``seed`` or
        ``binary_shortcut`` (the architectures do not correspond); or if a
        shared name has a different shape or a value is NaN or Inf.
    TypeError
        If a shared entry has a different dtype.
    FileNotFoundError, IsADirectoryError, CheckpointError
        If ``source`` is a path that cannot be read as a checkpoint.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be an abcref.nn.Module, got {type(model).__name__}")
    source = check_full_precision_source(source)
    if isinstance(source, Module):
        state, src_config = source.state_dict(), getattr(source, "config", None)
    else:
        state, src_config = source.model_state, source.model_config
    _check_correspondence(getattr(model, "config", None), src_config)

    target = model.state_dict()
    mapped = {}
    for name, value in state.items():
        if name in target:
            mapped[name] = value
            continue
        # FP linear classifier (out, in) -> ABC 1x1 conv classifier.
        prefix, _, leaf = name.rpartition(".")
        alt = f"{prefix}.conv.{leaf}" if prefix else f"conv.{leaf}"
        if leaf == "weight" and value.ndim == 2 and alt in target:
            mapped[alt] = value.reshape(*value.shape, 1, 1)
    for name, value in mapped.items():
        if value.shape != target[name].shape:
            raise ValueError(
                f"{name!r} has shape {value.shape} in the full-precision model, "
                f"{target[name].shape} in the target: the architectures do not correspond"
            )
        if value.dtype != target[name].dtype:
            raise TypeError(
                f"{name!r} has dtype {value.dtype} in the full-precision model, "
                f"{target[name].dtype} in the target"
            )
    model.load_state_dict({k: np.array(v) for k, v in mapped.items()}, strict=False)
    unused = sorted(n for n in state if n not in target and not _was_mapped(n, mapped))
    return {
        "copied": sorted(mapped),
        "kept": sorted(set(target) - set(mapped)),
        "unused": unused,
    }


def check_full_precision_source(source) -> Module | Checkpoint:
    """Check that ``source`` is a full-precision model; load it if it is a path.

    A source is full precision when its config's conv kind is ``"fp"``.
    Without a config (a hand-built module, a checkpoint saved without
    one), it must hold no binarizing layer: no ``ABCConv2d``,
    ``QuantConv2d`` or ``XNORConv2d`` module, and, in a checkpoint, no
    ABC-only array (a conv's ``v``, ``beta`` or ``u``).

    Parameters
    ----------
    source : Module, Checkpoint, str or Path

    Returns
    -------
    Module or Checkpoint
        ``source`` itself, or the checkpoint read from the path.

    Raises
    ------
    ValueError
        If the source is a binary (ABC or comparison-system) model:
        initialising from it would copy latent weights, not the trained
        full-precision weights §3.3 starts from.
    TypeError
        If ``source`` is none of the accepted types.
    FileNotFoundError, IsADirectoryError, CheckpointError
        If a path cannot be read as a checkpoint.
    """
    if isinstance(source, Module):
        where, config = f"source model {type(source).__name__}", getattr(source, "config", None)
        binary = [
            f"{name or 'the model itself'} ({type(m).__name__})"
            for name, m in source.named_modules()
            if isinstance(m, _BINARY_LAYERS)
        ]
    else:
        if isinstance(source, (str, os.PathLike)):
            source = load_checkpoint(source)
        elif not isinstance(source, Checkpoint):
            raise TypeError(
                "source must be an abcref.nn.Module, a Checkpoint or the path of one, "
                f"got {type(source).__name__}"
            )
        where, config = f"checkpoint {source.path!r}", source.model_config
        binary = [n for n in sorted(source.model_state) if n.rpartition(".")[2] in _ABC_ONLY]
    if config is not None:
        conv = config.get("conv")
        kind = conv.get("kind") if isinstance(conv, dict) else conv
        if kind != "fp":
            raise ValueError(
                f"{where} is not a full-precision model: its conv kind is {kind!r}, "
                "expected 'fp' (train the source with conv 'fp' first)"
            )
    elif binary:
        listed = ", ".join(binary[:3]) + (", ..." if len(binary) > 3 else "")
        raise ValueError(
            f"{where} is not a full-precision model: it has binarizing layers ({listed})"
        )
    return source


def _was_mapped(name: str, mapped: dict) -> bool:
    prefix, _, leaf = name.rpartition(".")
    alt = f"{prefix}.conv.{leaf}" if prefix else f"conv.{leaf}"
    return alt in mapped


def _check_correspondence(target_config, source_config) -> None:
    if target_config is None or source_config is None:
        return
    a = {k: v for k, v in target_config.items() if k not in _FREE_KEYS}
    b = {k: v for k, v in source_config.items() if k not in _FREE_KEYS}
    a, b = json.loads(json.dumps(a)), json.loads(json.dumps(b))
    if a != b:
        diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        raise ValueError(
            f"the full-precision source and the target model differ in {diff} "
            f"(source {[b.get(k) for k in diff]}, target {[a.get(k) for k in diff]}): "
            "only the conv kind, seed and binary_shortcut may differ"
        )
