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

import numpy as np

from abcref.nn.module import Module
from abcref.train.checkpoint import Checkpoint, load_checkpoint

# Config keys that may differ between the FP source and the ABC target.
_FREE_KEYS = {"conv", "seed", "binary_shortcut"}


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
        If both carry configs and they differ in anything other than the
        conv kind, ``seed`` or ``binary_shortcut`` (the architectures do
        not correspond), or if a shared name has a different shape.
    TypeError
        If a shared entry has a different dtype.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be an abcref.nn.Module, got {type(model).__name__}")
    if isinstance(source, Module):
        state, src_config = source.state_dict(), getattr(source, "config", None)
    else:
        checkpoint = source if isinstance(source, Checkpoint) else load_checkpoint(source)
        state, src_config = checkpoint.model_state, checkpoint.model_config
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
