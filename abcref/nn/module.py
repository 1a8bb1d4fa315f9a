"""The base class of abcref's stateful layers, with PyTorch's names.

A layer is deliberately thin: it holds parameters, their gradients,
buffers (such as running statistics) and a train/eval flag, and it calls
the pure ``*_forward`` / ``*_backward`` functions of :mod:`abcref.ops`,
:mod:`abcref.fast` and :mod:`abcref.quantize`. There is no autograd.

Conventions every layer follows
-------------------------------
- ``params[name]`` and ``grads[name]`` are arrays of identical shape and
  dtype; ``layer.weight`` reads ``layer.params["weight"]`` (and a buffer
  likewise), as in ``torch.nn``. Optimizers update parameters **in
  place**, so array identity is stable for the life of the layer.
- Parameter names follow PyTorch: ``weight`` and ``bias`` (convolutions,
  linear layers, and a batch norm's scale and shift), buffers
  ``running_mean`` and ``running_var``; the ABC convolution adds its
  activation shifts ``v``, scales ``beta`` and trained weight shifts ``u``.
- One cache policy: ``forward`` stores what its ``backward`` needs in
  ``self._cache``; ``backward`` consumes it (one backward per forward),
  and a backward without a preceding forward raises ``RuntimeError``
  naming the layer.
- ``backward`` **accumulates** into ``grads`` (``+=``); call
  :meth:`Module.zero_grad` before each step.
- ``buffers[name]`` hold state that is saved with the model but is not
  trained (BN running mean/var). Layers replace buffer entries through
  ``self.buffers[name] = ...`` only.
- Child modules assigned as attributes are registered in order, so the
  parameter names of a model are stable dotted paths
  (``"block1.conv.weight"``) that checkpoints use.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import NamedTuple

import numpy as np


class IncompatibleKeys(NamedTuple):
    """What :meth:`Module.load_state_dict` could not match (as PyTorch's)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class: parameters, gradients, buffers, children, mode."""

    def __init__(self) -> None:
        object.__setattr__(self, "_modules", {})
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.training = True
        self._cache = None

    # -- registration and attribute access --------------------------------
    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, Module):
            if "_modules" not in self.__dict__:
                raise RuntimeError("call Module.__init__() before assigning child modules")
            self._modules[name] = value
        elif name in self.__dict__.get("params", ()):
            # Rebinding would orphan the array the optimizer updates.
            raise AttributeError(
                f"cannot rebind parameter {name!r} of {type(self).__name__}; "
                f"write it in place: layer.{name}[...] = value"
            )
        elif name in self.__dict__.get("buffers", ()):
            self.buffers[name] = value
            return
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str):
        # Only called when ordinary lookup fails: parameters and buffers by
        # name, as torch.nn (``conv.weight``, ``bn.running_mean``).
        for store in ("params", "buffers"):
            values = self.__dict__.get(store, {})
            if name in values:
                return values[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def children(self) -> dict[str, Module]:
        """Direct child modules, in registration order."""
        return dict(self._modules)

    def add_param(self, name: str, value: np.ndarray) -> np.ndarray:
        """Register a parameter and a zero gradient of the same shape."""
        self.params[name] = value
        self.grads[name] = np.zeros_like(value)
        return value

    # -- computation ----------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__}.backward")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def _take_cache(self):
        """The cache of the last forward, consumed: one backward per forward."""
        cache = self.__dict__.get("_cache")
        if cache is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward called before forward "
                "(each forward allows one backward)"
            )
        self._cache = None
        return cache

    # -- traversal ------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """Yield ``(dotted_name, module)`` for self and all descendants."""
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def _named(self, store: str) -> Iterator[tuple[str, np.ndarray]]:
        for mod_name, mod in self.named_modules():
            for key, value in getattr(mod, store).items():
                yield (f"{mod_name}.{key}" if mod_name else key), value

    def named_parameters(self) -> Iterator[tuple[str, np.ndarray]]:
        """Yield ``(dotted_name, parameter)`` over the whole tree."""
        return self._named("params")

    def parameters(self) -> Iterator[np.ndarray]:
        """Yield every parameter array (in :meth:`named_parameters` order)."""
        return (p for _, p in self.named_parameters())

    def named_grads(self) -> Iterator[tuple[str, np.ndarray]]:
        """Yield ``(dotted_name, gradient)``, in :meth:`named_parameters` order."""
        return self._named("grads")

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        """Yield ``(dotted_name, buffer)`` over the whole tree."""
        return self._named("buffers")

    # -- state ----------------------------------------------------------
    def zero_grad(self) -> None:
        """Set every gradient to zero in place."""
        for _, g in self.named_grads():
            g[...] = 0

    def train(self, mode: bool = True) -> Module:
        """Set training mode on self and all descendants; return self."""
        for _, mod in self.named_modules():
            mod.training = bool(mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (batch norms use their running statistics)."""
        return self.train(False)

    def num_parameters(self) -> int:
        """Total number of scalar parameters."""
        return int(sum(p.size for p in self.parameters()))

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, keyed by dotted name.

        Each module contributes its parameters, then its buffers, in tree
        order, as PyTorch's ``state_dict``.
        """
        state = {}
        for mod_name, mod in self.named_modules():
            for key, value in (*mod.params.items(), *mod.buffers.items()):
                state[f"{mod_name}.{key}" if mod_name else key] = value.copy()
        return state

    def load_state_dict(self, state: Mapping, *, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays from ``state`` into this model's parameters and buffers.

        PyTorch's semantics: with ``strict`` every name must match;
        without, the names that match are loaded. Nothing is written
        unless every matched array fits (shape, dtype, finite values), so
        a bad state leaves the model untouched. Parameters are written in
        place (optimizer references stay valid).

        Parameters
        ----------
        state : mapping of str to ndarray
            E.g. another model's :meth:`state_dict`, a checkpoint's model
            state, or a PyTorch ``state_dict`` saved with NumPy.
        strict : bool

        Returns
        -------
        IncompatibleKeys
            ``(missing_keys, unexpected_keys)``: names of the model absent
            from ``state``, and names in ``state`` the model lacks.

        Raises
        ------
        ValueError
            If, with ``strict``, a name is missing or unexpected; if a
            shape differs; or if an array holds NaN or Inf.
        TypeError
            If ``state`` is not a mapping, or a dtype differs (no silent
            casting).
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a mapping of names to arrays, got {type(state)}")
        targets: dict[str, tuple[Module, str, str]] = {}
        for mod_name, mod in self.named_modules():
            for kind in ("params", "buffers"):
                for key in getattr(mod, kind):
                    targets[f"{mod_name}.{key}" if mod_name else key] = (mod, kind, key)
        keys = IncompatibleKeys(
            missing_keys=sorted(set(targets) - set(state)),
            unexpected_keys=sorted(set(state) - set(targets)),
        )
        if strict and (keys.missing_keys or keys.unexpected_keys):
            raise ValueError(
                f"state_dict does not match the model: missing {keys.missing_keys}, "
                f"unexpected {keys.unexpected_keys}"
            )
        updates = []
        for full, value in state.items():
            if full not in targets:
                continue
            mod, kind, key = targets[full]
            updates.append((mod, kind, key, _checked_entry(full, value, getattr(mod, kind)[key])))
        for mod, kind, key, value in updates:
            if kind == "params":
                mod.params[key][...] = value
            else:
                mod.buffers[key] = value.copy()
        return keys

    # -- printing -------------------------------------------------------
    def extra_repr(self) -> str:
        """The layer's settings, shown inside its ``repr`` (as torch.nn)."""
        return ""

    def __repr__(self) -> str:
        lines = self.extra_repr().splitlines()
        for name, child in self._modules.items():
            lines += f"({name}): {child!r}".splitlines()
        if not lines:
            return f"{type(self).__name__}()"
        if len(lines) == 1 and not self._modules:
            return f"{type(self).__name__}({lines[0]})"
        body = "\n".join("  " + line for line in "\n".join(lines).splitlines())
        return f"{type(self).__name__}(\n{body}\n)"


def _checked_entry(name: str, value, current: np.ndarray) -> np.ndarray:
    """``value`` as an array that may replace ``current``, or a clear error."""
    value = np.asarray(value)
    if value.shape != current.shape:
        raise ValueError(
            f"state_dict[{name!r}] has shape {value.shape}, the model expects {current.shape}"
        )
    if value.dtype != current.dtype:
        raise TypeError(
            f"state_dict[{name!r}] has dtype {value.dtype}, the model expects {current.dtype}"
        )
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        bad = int(value.size - np.count_nonzero(np.isfinite(value)))
        raise ValueError(
            f"state_dict[{name!r}] holds {bad} NaN or Inf value(s); only finite arrays load"
        )
    return value


class Sequential(Module):
    """Apply child modules in order; backward runs them in reverse.

    Children are named ``"0"``, ``"1"``, ... unless given as keywords.
    """

    def __init__(self, *layers: Module, **named_layers: Module) -> None:
        super().__init__()
        for i, layer in enumerate(layers):
            setattr(self, str(i), layer)
        for name, layer in named_layers.items():
            setattr(self, name, layer)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self._modules.values():
            x = layer.forward(x)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        for layer in reversed(list(self._modules.values())):
            dout = layer.backward(dout)
        return dout
