"""Optimizers that update a model's parameters in place from its gradients.

An optimizer holds a reference to a :class:`~abcref.nn.module.Module` and
walks ``model.named_parameters()`` on every step, so parameter names (the
dotted paths checkpoints use) key its per-parameter state.

Learning rate
-------------
The optimizer owns the learning rate: ``lr`` is fixed at construction
(and restored from a checkpoint), and a schedule only sets the factor
``lr_scale`` (1 by default), as PyTorch's schedulers scale each group's
initial rate. A step uses ``current_lr = lr * lr_scale``.

Weight decay
------------
Both optimizers implement **coupled** L2 weight decay by default, exactly
as PyTorch's ``torch.optim.SGD`` / ``torch.optim.Adam``: the decay term
``weight_decay * p`` is added to the gradient before momentum / moments.
``decoupled_weight_decay=True`` gives AdamW and SGDW (Loshchilov &
Hutter): ``p <- p * (1 - current_lr * weight_decay)`` before the update,
whatever the gradient.

Coupled decay assumes the gradient has its natural size. The literal
reading of eq. (7), ``weight_ste="paper"``, multiplies the gradient of an
ABC layer's latent weights by ``sum(alpha_m ** 2)``, about 1e-3 on
``small_cnn``: there an L2 term such as 5e-4 * W is larger than the data
gradient and decides where the weights go. Decay is right for such
weights only when it does not compete with the gradient's size:
decoupled decay under Adam, whose update ignores the gradient's scale.
So both optimizers refuse coupled decay, and SGD refuses any decay, of
the latent weights of an ``ABCConv2d`` with ``weight_ste="paper"``
(:func:`check_decay_with_weight_ste`; tutorial 3 measures the effect);
exclude them with ``decay_filter``, train them with
``weight_ste="identity"``, or use ``Adam(..., decoupled_weight_decay=True)``.

Which parameters are decayed is decided by ``decay_filter(name, param)``.
The default, :func:`decay_weights_only`, decays conv and linear weights
(parameters named ``weight`` with at least two dimensions) and nothing
else: decaying a batch norm's scale and shift (its 1-D ``weight`` and
``bias``), biases, or ABC-Net's activation coefficients beta_n and
thresholds v_n pulls them towards 0, which has no regularising meaning
for them.

State
-----
``state_dict()`` returns ``{"type", "hyper", "step", "arrays"}``: a
JSON-serialisable part (type name, hyper-parameters, step count) and a
flat dict of arrays keyed ``"<slot>/<param name>"``; ``load_state_dict``
restores it bitwise, which checkpoint resumption relies on.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from abcref._checks import check_bool, check_real
from abcref.nn.abcconv import ABCConv2d
from abcref.nn.module import Module

#: The default initial learning rate of each optimizer: ``Adam``'s own default,
#: ``fit``'s default ``Adam(model)``, and ``abcref train``'s ``--lr`` for each
#: ``--optimizer`` (SGD with momentum 0.9 takes a larger rate than Adam).
DEFAULT_LRS = {"adam": 3e-3, "sgd": 0.05}


def decay_weights_only(name: str, param: np.ndarray) -> bool:
    """Default ``decay_filter``: conv and linear weights only.

    That is, parameters whose own name is ``"weight"`` and that have at
    least two dimensions: a batch norm's ``weight`` (its 1-D scale) is not
    decayed.
    """
    return name.rsplit(".", 1)[-1] == "weight" and param.ndim >= 2


def decay_all(name: str, param: np.ndarray) -> bool:
    """``decay_filter`` that decays every parameter (PyTorch's default)."""
    return True


class Optimizer:
    """Base class: holds the model, the learning rate and per-slot state.

    Parameters
    ----------
    model : Module
        The model whose ``params`` are updated in place.
    lr : float
        Base learning rate (> 0), owned by the optimizer: a schedule
        scales it through ``lr_scale`` and never changes it.
    weight_decay : float
        L2 coefficient (>= 0), applied to parameters selected by
        ``decay_filter``.
    decoupled_weight_decay : bool
        False: coupled L2, ``g <- g + weight_decay * p``. True: decoupled
        (AdamW / SGDW), ``p <- p * (1 - current_lr * weight_decay)``.
    decay_filter : callable, optional
        ``decay_filter(name, param) -> bool``; default
        :func:`decay_weights_only`.

    Attributes
    ----------
    lr_scale : float
        The schedule's factor (1 until a schedule sets it; :func:`fit`
        sets it before every step).
    current_lr : float
        ``lr * lr_scale``, the rate of the next step.

    Raises
    ------
    ValueError
        For decay the latent weights' STE reading makes wrong (module
        docstring, :func:`check_decay_with_weight_ste`).
    """

    slots: tuple[str, ...] = ()
    #: Whether the update is invariant to the gradient's scale (Adam is).
    scale_invariant = False

    def __init__(
        self,
        model: Module,
        *,
        lr: float,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
        decay_filter: Callable[[str, np.ndarray], bool] | None = None,
    ) -> None:
        if not isinstance(model, Module):
            raise TypeError(f"model must be an abcref.nn.Module, got {type(model).__name__}")
        self.model = model
        self.lr = _positive(lr, "lr")
        self.lr_scale = 1.0
        self.weight_decay = _nonnegative(weight_decay, "weight_decay")
        self.decoupled_weight_decay = check_bool(decoupled_weight_decay, "decoupled_weight_decay")
        self.decay_filter = decay_weights_only if decay_filter is None else decay_filter
        check_decay_with_weight_ste(self)
        self.step_count = 0
        self.state: dict[str, dict[str, np.ndarray]] = {
            slot: {name: np.zeros_like(p) for name, p in model.named_parameters()}
            for slot in self.slots
        }

    @property
    def current_lr(self) -> float:
        """The learning rate of the next step: ``lr * lr_scale``."""
        return self.lr * self.lr_scale

    # -- the update -----------------------------------------------------
    def step(self) -> None:
        """Update every parameter in place from its gradient."""
        self.step_count += 1
        lr = self.current_lr
        grads = self.model.named_grads()
        for (name, p), (_, g) in zip(self.model.named_parameters(), grads, strict=True):
            decay = self.weight_decay if self.decay_filter(name, p) else 0.0
            if decay and self.decoupled_weight_decay:
                p *= 1.0 - lr * decay
                decay = 0.0
            self._update(name, p, g, decay, lr)

    def _update(self, name: str, p: np.ndarray, g: np.ndarray, decay: float, lr: float) -> None:
        """One parameter's step; ``decay`` is the coupled L2 coefficient (0 if none)."""
        raise NotImplementedError

    def zero_grad(self) -> None:
        """Zero the model's gradients (same as ``model.zero_grad()``)."""
        self.model.zero_grad()

    # -- state ----------------------------------------------------------
    def hyper(self) -> dict:
        """JSON-serialisable hyper-parameters (``lr`` is the base rate)."""
        return {
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "decoupled_weight_decay": self.decoupled_weight_decay,
        }

    def state_dict(self) -> dict:
        """Everything needed to continue bitwise-identically.

        Returns
        -------
        dict
            ``{"type": str, "hyper": dict, "step": int, "arrays":
            {"<slot>/<param name>": ndarray}}``. Arrays are copies.
        """
        arrays = {
            f"{slot}/{name}": a.copy()
            for slot, per_param in self.state.items()
            for name, a in per_param.items()
        }
        return {
            "type": type(self).__name__,
            "hyper": self.hyper(),
            "step": self.step_count,
            "arrays": arrays,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` (type, step, lr and every slot array).

        Raises
        ------
        ValueError
            If the type differs, or an array is missing, unexpected, of
            the wrong shape, or holds NaN or Inf.
        TypeError
            If an array's dtype differs from the parameter's.
        """
        if state.get("type") != type(self).__name__:
            raise ValueError(
                f"optimizer state is for {state.get('type')!r}, "
                f"this optimizer is {type(self).__name__!r}"
            )
        arrays = state["arrays"]
        expected = {
            f"{slot}/{name}": a for slot, per in self.state.items() for name, a in per.items()
        }
        missing = sorted(set(expected) - set(arrays))
        unexpected = sorted(set(arrays) - set(expected))
        if missing or unexpected:
            raise ValueError(
                f"optimizer state does not match the model: missing {missing}, "
                f"unexpected {unexpected}"
            )
        # Check everything before writing anything (no half-restored state).
        values = {key: np.asarray(arrays[key]) for key in expected}
        for key, target in expected.items():
            value = values[key]
            if value.shape != target.shape:
                raise ValueError(
                    f"optimizer state[{key!r}] has shape {value.shape}, expected {target.shape}"
                )
            if value.dtype != target.dtype:
                raise TypeError(
                    f"optimizer state[{key!r}] has dtype {value.dtype}, expected {target.dtype}"
                )
            if not np.isfinite(value).all():
                raise ValueError(f"optimizer state[{key!r}] holds NaN or Inf")
        step_count = int(state["step"])
        lr = _positive(state["hyper"]["lr"], "lr")
        for key, target in expected.items():
            target[...] = values[key]
        self.step_count = step_count
        self.lr = lr


class SGD(Optimizer):
    """Stochastic gradient descent with (Nesterov) momentum, as PyTorch.

    Parameters
    ----------
    model : Module
    lr : float
    momentum : float
        In [0, 1). 0 gives plain SGD.
    nesterov : bool
        Nesterov momentum (requires ``momentum > 0``).
    weight_decay : float
        L2 coefficient, coupled or decoupled.
    decoupled_weight_decay : bool
        False (default): ``g <- grad + wd * p``. True (SGDW): ``p <- p *
        (1 - lr * wd)`` before the update, and ``g = grad``.
    decay_filter : callable, optional

    Notes
    -----
    With ``lr`` the current rate and ``g = grad + weight_decay * p``
    (coupled decay)::

        buf <- momentum * buf + g          (buf starts at 0)
        d   <- g + momentum * buf  if nesterov else  buf
        p   <- p - lr * d

    identical to ``torch.optim.SGD`` with ``dampening=0`` (PyTorch sets
    ``buf = g`` on the first step, which equals the update above from 0).
    Decoupled decay keeps the decay out of the momentum buffer.
    """

    slots = ("momentum_buffer",)

    def __init__(
        self,
        model: Module,
        *,
        lr: float,
        momentum: float = 0.9,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
        decay_filter: Callable[[str, np.ndarray], bool] | None = None,
    ) -> None:
        momentum = check_real(momentum, "momentum")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if not isinstance(nesterov, bool):
            raise TypeError(f"nesterov must be a bool, got {nesterov!r}")
        if nesterov and momentum == 0.0:
            raise ValueError("nesterov=True requires momentum > 0, got momentum=0.0")
        self.momentum = momentum
        self.nesterov = nesterov
        super().__init__(
            model,
            lr=lr,
            weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            decay_filter=decay_filter,
        )

    def hyper(self) -> dict:
        return {**super().hyper(), "momentum": self.momentum, "nesterov": self.nesterov}

    def _update(self, name, p, g, decay, lr):
        d = g + decay * p if decay else g
        if self.momentum:
            buf = self.state["momentum_buffer"][name]
            buf *= self.momentum
            buf += d
            d = d + self.momentum * buf if self.nesterov else buf
        p -= lr * d


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), as ``torch.optim.Adam``; AdamW optional.

    Parameters
    ----------
    model : Module
    lr : float
        Initial learning rate (default ``DEFAULT_LRS["adam"]``, 3e-3).
    betas : (float, float)
        Decay rates of the first and second moment, each in [0, 1).
    eps : float
        Added to the square root of the second moment (> 0).
    weight_decay : float
        Coupled L2 (Adam) or decoupled (AdamW) coefficient.
    decoupled_weight_decay : bool
        False (default): ``g <- g + wd * p``. True: ``p <- p * (1 - lr *
        wd)`` before the update (AdamW).
    decay_filter : callable, optional

    Notes
    -----
    At step ``t`` (1-based)::

        m <- b1 * m + (1 - b1) * g
        v <- b2 * v + (1 - b2) * g**2
        p <- p - (lr / (1 - b1**t)) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)

    the same arithmetic order as PyTorch's single-tensor implementation.
    """

    slots = ("exp_avg", "exp_avg_sq")
    scale_invariant = True

    def __init__(
        self,
        model: Module,
        *,
        lr: float = DEFAULT_LRS["adam"],
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
        decay_filter: Callable[[str, np.ndarray], bool] | None = None,
    ) -> None:
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair of floats, got {betas!r}")
        b1, b2 = (check_real(b, f"betas[{i}]") for i, b in enumerate(betas))
        for i, b in enumerate((b1, b2)):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"betas[{i}] must be in [0, 1), got {b}")
        self.betas = (b1, b2)
        self.eps = _positive(eps, "eps")
        super().__init__(
            model,
            lr=lr,
            weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            decay_filter=decay_filter,
        )

    def hyper(self) -> dict:
        return {**super().hyper(), "betas": list(self.betas), "eps": self.eps}

    def _update(self, name, p, g, decay, lr):
        b1, b2 = self.betas
        t = self.step_count
        if decay:
            g = g + decay * p
        m = self.state["exp_avg"][name]
        v = self.state["exp_avg_sq"][name]
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * (g * g)
        bias1 = 1.0 - b1**t
        bias2 = 1.0 - b2**t
        # math.sqrt keeps a Python float, which never upcasts a float32 array
        denom = np.sqrt(v) / math.sqrt(bias2) + self.eps
        p -= (lr / bias1) * (m / denom)


OPTIMIZERS = {"sgd": SGD, "adam": Adam}


def check_decay_with_weight_ste(optimizer: Optimizer) -> None:
    """Refuse weight decay that the literal reading of eq. (7) makes wrong.

    Under ``weight_ste="paper"`` the gradient of an ABC layer's latent
    weights is scaled by ``sum(alpha_m ** 2)``, about 1e-3 on
    ``small_cnn``. Tutorial 3 (section 6) measures it on the default
    ``small_cnn`` at initialisation: RMS gradients of 3e-6 to 4e-6,
    against 5e-3 to 1e-2 under ``"identity"``, so that ``5e-4 * W`` is 3 to
    5 times the gradient (a few thousandths of it under ``"identity"``).
    Then coupled L2 decides where the weights go: under Adam, which
    normalises the gradient it is given, it shrinks them towards 0 (to 6 %
    of their norm in that tutorial's 80 steps). Under SGD the data barely
    move these weights, so any decay, coupled or decoupled, is about a
    hundred times stronger relative to them than under ``"identity"``.
    Only Adam, whose step ignores the gradient's scale, with decoupled
    decay (AdamW) decays them as under ``"identity"``.
    (``"sum"`` scales by ``sum(alpha_m)``; there ``5e-4 * W`` is a few
    hundredths of the gradient, and decay is allowed.)

    Raises
    ------
    ValueError
        Naming the first such weight and the remedies.
    """
    if not optimizer.weight_decay:
        return
    if optimizer.scale_invariant and optimizer.decoupled_weight_decay:
        return
    for name, module in optimizer.model.named_modules():
        if not isinstance(module, ABCConv2d) or module.weight_ste != "paper":
            continue
        weight = f"{name}.weight" if name else "weight"
        if not optimizer.decay_filter(weight, module.weight):
            continue
        how = "decay under SGD" if optimizer.decoupled_weight_decay else "coupled L2 decay"
        raise ValueError(
            f"weight_decay on {weight!r} refused: weight_ste='paper' scales this ABC weight's "
            f"gradient by sum(alpha^2) (~1e-3), so {how} would outweigh it; use Adam with "
            "decoupled_weight_decay=True, weight_ste='identity', or a decay_filter"
        )


def make_optimizer(name: str, model: Module, **options) -> Optimizer:
    """Build an optimizer by name (``"sgd"`` or ``"adam"``) with keyword options."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[name](model, **options)


def _positive(value, name: str) -> float:
    value = check_real(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def _nonnegative(value, name: str) -> float:
    value = check_real(value, name)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value
