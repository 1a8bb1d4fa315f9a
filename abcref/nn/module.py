"""The base class of abcref's stateful layers.

A layer is deliberately thin: it holds parameters, their gradients,
buffers (such as running statistics) and a train/eval flag, and it calls
the pure ``*_forward`` / ``*_backward`` functions of :mod:`abcref.ops` and
:mod:`abcref.binarize`. There is no autograd: ``forward`` keeps the op's
cache, ``backward`` consumes it.

Conventions every layer follows
-------------------------------
- ``params[name]`` and ``grads[name]`` are arrays of identical shape and
  dtype. Optimizers update ``params`` **in place**, so array identity is
  stable for the life of the layer.
- ``backward`` **accumulates** into ``grads`` (``+=``); call
  :meth:`Module.zero_grad` before each step.
- ``buffers[name]`` hold state that is saved with the model but is not
  trained (BN running mean/var). Layers replace buffer entries through
  ``self.buffers[name] = ...`` only.
- Child modules assigned as attributes are registered in order, so the
  parameter names of a model are stable dotted paths (``"block1.conv.W"``)
  that checkpoints use.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class Module:
    """Base class: parameters, gradients, buffers, children, mode."""

    def __init__(self) -> None:
        object.__setattr__(self, "_modules", {})
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.training = True

    # -- registration ---------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, Module):
            if "_modules" not in self.__dict__:
                raise RuntimeError("call Module.__init__() before assigning child modules")
            self._modules[name] = value
        object.__setattr__(self, name, value)

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

    # -- traversal ------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """Yield ``(dotted_name, module)`` for self and all descendants."""
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def named_parameters(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """Yield ``(dotted_name, param, grad)`` over the whole tree."""
        for mod_name, mod in self.named_modules():
            for p_name, p in mod.params.items():
                full = f"{mod_name}.{p_name}" if mod_name else p_name
                yield full, p, mod.grads[p_name]

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        """Yield ``(dotted_name, buffer)`` over the whole tree."""
        for mod_name, mod in self.named_modules():
            for b_name, b in mod.buffers.items():
                yield (f"{mod_name}.{b_name}" if mod_name else b_name), b

    # -- state ----------------------------------------------------------
    def zero_grad(self) -> None:
        """Set every gradient to zero in place."""
        for _, _, g in self.named_parameters():
            g[...] = 0

    def train(self, mode: bool = True) -> Module:
        """Set training mode on self and all descendants; return self."""
        for _, mod in self.named_modules():
            mod.training = bool(mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (running statistics, no caches needed)."""
        return self.train(False)

    def num_parameters(self) -> int:
        """Total number of scalar parameters."""
        return int(sum(p.size for _, p, _ in self.named_parameters()))

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, keyed by dotted name."""
        state = {name: p.copy() for name, p, _ in self.named_parameters()}
        state.update({name: b.copy() for name, b in self.named_buffers()})
        return state

    def load_state_dict(self, state: dict[str, np.ndarray], *, strict: bool = True) -> None:
        """Copy arrays from ``state`` into this model's parameters and buffers.

        Parameters are written in place (optimizer references stay valid).

        Raises
        ------
        ValueError
            If, with ``strict``, a name is missing or unexpected, or if any
            shape differs.
        TypeError
            If a dtype differs (no silent casting).
        """
        targets: dict[str, tuple[Module, str, str]] = {}
        for mod_name, mod in self.named_modules():
            for kind in ("params", "buffers"):
                for key in getattr(mod, kind):
                    full = f"{mod_name}.{key}" if mod_name else key
                    targets[full] = (mod, kind, key)
        if strict:
            missing = sorted(set(targets) - set(state))
            unexpected = sorted(set(state) - set(targets))
            if missing or unexpected:
                raise ValueError(
                    f"state_dict does not match the model: missing {missing}, "
                    f"unexpected {unexpected}"
                )
        # Check every entry before writing any, so a bad state leaves the
        # model untouched instead of half loaded.
        updates = []
        for full, value in state.items():
            if full not in targets:
                continue
            mod, kind, key = targets[full]
            current = getattr(mod, kind)[key]
            value = np.asarray(value)
            if value.shape != current.shape:
                raise ValueError(
                    f"state_dict[{full!r}] has shape {value.shape}, "
                    f"the model expects {current.shape}"
                )
            if value.dtype != current.dtype:
                raise TypeError(
                    f"state_dict[{full!r}] has dtype {value.dtype}, "
                    f"the model expects {current.dtype}"
                )
            updates.append((mod, kind, key, current, value))
        for mod, kind, key, current, value in updates:
            if kind == "params":
                current[...] = value
            else:
                getattr(mod, kind)[key] = value.copy()


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
