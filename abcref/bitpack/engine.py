"""ABC-Net inference with bits: comparators, M x N popcount convolutions, eq. (12).

A trained ABC convolution computes (eq. 12)::

    out = sum_m sum_n alpha_m * beta_n * Conv(B_m, A_n),
    A_n = H_{v_n}(R) = +1 if R >= 0.5 - v_n else -1.

At inference the bases ``B_m`` are fixed +-1 tensors, packed once into
words; each ``A_n`` comes out of a comparator (section 5.3 (1): no
addition for the shift) as bits; ``Conv(B_m, A_n)`` is an exact integer
from :mod:`abcref.bitpack.conv`; only the final combination with
``alpha_m * beta_n`` is floating point. The M bases are stacked along
the output channels, so each of the N activations needs one popcount
convolution against ``M * O`` filters.

Batch norm folded into the comparator (section 5.3 (2))
-------------------------------------------------------
With ``BN(R) = a R + b`` per channel and ``t = 0.5 - v``, the paper writes
``H_v(BN(R)) = +1 iff R >= (t - b) / a``. That holds for ``a > 0`` only:

- ``a > 0``: ``+1 iff R >= (t - b) / a``;
- ``a < 0``: dividing by a negative number flips the comparison,
  ``+1 iff R <= (t - b) / a``;
- ``a = 0``: ``BN(R) = b`` for every R, so the output is the constant
  ``+1 if b >= t else -1``.

Ties and float rounding. The float model evaluates ``fl(BN(R)) >= t``;
the quotient ``(t - b) / a`` is itself rounded, so for an R within an
ulp or two of it the two comparisons can disagree. abcref therefore
does not use the quotient as is: it finds, per channel and activation,
the exact boundary of the float predicate. ``fl(BN(.))`` is monotone
(each rounded step ``x - mean``, ``/ s``, ``* gamma``, ``+ beta`` is
monotone), so ``{R : fl(BN(R)) >= t}`` is a ray of floats,
``[R*, inf)`` for ``a > 0`` or ``(-inf, R*]`` for ``a < 0``; a bisection
over the ordered bit patterns of the dtype's finite floats finds ``R*``
exactly (at most 64 steps). The comparator ``R >= R*`` (or ``R <= R*``)
then agrees with ``H_v(fl(BN(R)))`` for **every** finite float R, ties
included (tested on the boundary values and their neighbours).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from abcref._checks import check_array, check_choice, check_pair, check_same_dtype
from abcref.binarize.activations import activation_thresholds
from abcref.bitpack.conv import (
    conv_output_size,
    pack_bits_nchw,
    pack_conv_weights,
    packed_conv2d,
    padding_correction_from_sums,
    subtract_border_correction,
)
from abcref.bitpack.pack import check_signs
from abcref.nn.abcconv import ABCConv2d
from abcref.nn.layers import BatchNorm2d
from abcref.nn.module import Module, Sequential
from abcref.ops import batchnorm2d_forward

# -- comparators -------------------------------------------------------------


@dataclass(frozen=True)
class ActivationComparator:
    """Binarizes each channel of R with N comparators.

    Attributes
    ----------
    direction : ndarray of int8, shape (C,)
        +1: output +1 iff ``R >= thresholds``; -1: iff ``R <= thresholds``;
        0: constant ``constant`` (batch-norm scale 0).
    thresholds : ndarray of shape (N, C)
    constant : ndarray of bool, shape (N, C)
        The output (True = +1) of channels whose direction is 0.
    """

    direction: np.ndarray
    thresholds: np.ndarray
    constant: np.ndarray

    @property
    def num_activations(self) -> int:
        return self.thresholds.shape[0]

    def bits(self, x: np.ndarray) -> np.ndarray:
        """Bits of ``A_n`` (True = +1), shape (N, batch, C, H, W), for x (batch, C, H, W)."""
        t = self.thresholds[:, None, :, None, None]
        bits = x[None] >= t
        flipped = self.direction < 0
        if flipped.any():  # batch-norm scale a < 0: the comparison flips
            bits[:, :, flipped] = x[None][:, :, flipped] <= t[:, :, flipped]
        constant = self.direction == 0
        if constant.any():  # batch-norm scale a = 0: constant output
            bits[:, :, constant] = self.constant[:, None, constant, None, None]
        return bits

    def signs(self, x: np.ndarray) -> np.ndarray:
        """``A_n`` as +-1 in the dtype of x, shape (N, batch, C, H, W)."""
        return np.where(self.bits(x), 1, -1).astype(x.dtype)


def plain_comparator(v: np.ndarray, channels: int) -> ActivationComparator:
    """Comparators ``R >= 0.5 - v_n`` for every channel (no batch norm folded)."""
    t = activation_thresholds(v)
    return ActivationComparator(
        direction=np.ones(channels, dtype=np.int8),
        thresholds=np.repeat(t[:, None], channels, axis=1),
        constant=np.zeros((v.shape[0], channels), dtype=bool),
    )


def _ordered_keys(x: np.ndarray) -> np.ndarray:
    """Map floats to signed integers in the same order (an involution on bit patterns)."""
    ints = x.view(np.int64 if x.dtype == np.float64 else np.int32)
    bits = 63 if x.dtype == np.float64 else 31
    return ints ^ ((ints >> bits) & np.array(2**bits - 1, dtype=ints.dtype))


def _from_keys(keys: np.ndarray, dtype) -> np.ndarray:
    bits = 63 if np.dtype(dtype) == np.float64 else 31
    ints = keys ^ ((keys >> bits) & np.array(2**bits - 1, dtype=keys.dtype))
    return ints.view(dtype)


def _boundary(predicate, shape, dtype, upward: bool) -> np.ndarray:
    """Exact float boundary of a monotone predicate, elementwise.

    ``upward``: the predicate is true on ``[R*, inf)``; returns the
    smallest finite float R* where it holds (+inf if nowhere, -inf if
    everywhere). Otherwise true on ``(-inf, R*]``: returns the largest
    (-inf if nowhere, +inf if everywhere).
    """
    finfo = np.finfo(dtype)
    lo = _ordered_keys(np.full(shape, -finfo.max, dtype=dtype))
    hi = _ordered_keys(np.full(shape, finfo.max, dtype=dtype))
    at_lo = predicate(_from_keys(lo, dtype))
    at_hi = predicate(_from_keys(hi, dtype))
    one = np.array(1, dtype=lo.dtype)
    if upward:
        # Keys are float bit patterns in float order; the first true key lies in [lo, hi].
        while True:
            active = lo < hi
            if not active.any():
                break
            mid = (lo & hi) + ((lo ^ hi) >> one)  # floor((lo + hi) / 2), no overflow
            ok = predicate(_from_keys(mid, dtype))
            hi = np.where(active & ok, mid, hi)
            lo = np.where(active & ~ok, mid + one, lo)
        out = _from_keys(hi, dtype).copy()
        out[~at_hi] = np.inf
        out[at_lo] = -np.inf
        return out
    while True:
        active = lo < hi
        if not active.any():
            break
        mid = (lo | hi) - ((lo ^ hi) >> one)  # ceil((lo + hi) / 2), no overflow
        ok = predicate(_from_keys(mid, dtype))
        lo = np.where(active & ok, mid, lo)
        hi = np.where(active & ~ok, mid - one, hi)
    out = _from_keys(lo, dtype).copy()
    out[~at_lo] = -np.inf
    out[at_hi] = np.inf
    return out


def fold_batchnorm_into_thresholds(
    a: np.ndarray,
    b: np.ndarray,
    v: np.ndarray,
    *,
    batchnorm: Callable[[np.ndarray], np.ndarray] | None = None,
) -> ActivationComparator:
    """Fold an eval-mode batch norm ``BN(R) = a R + b`` into the comparators of H_v.

    Parameters
    ----------
    a, b : ndarray of shape (C,)
        Per-channel scale and shift of the batch norm at run time
        (``a = gamma / sqrt(var + eps)``, ``b = beta - a * mean``).
    v : ndarray of shape (N,)
        Activation shifts; thresholds ``t_n = 0.5 - v_n``.
    batchnorm : callable, optional
        The float batch norm whose rounding the comparators must match
        exactly: maps an array of shape (C,) (one R per channel) to
        BN(R) of shape (C,). Default ``a * R + b`` in the dtype of a.
        Pass the model's own ``batchnorm2d_forward`` (eval) to get bit
        agreement with the float model.

    Returns
    -------
    ActivationComparator
        ``direction = sign(a)``; thresholds ``R*`` with
        ``+1 iff R >= R*`` (a > 0), ``+1 iff R <= R*`` (a < 0); for
        ``a = 0`` the constant ``b >= t_n``.

    Notes
    -----
    Section 5.3 (2) of the paper gives ``R >= (0.5 - v - b) / a``,
    correct for a > 0 only (conventions.md row 12). The returned
    threshold is the exact float boundary of ``fl(BN(R)) >= t_n``, not
    the rounded quotient (module docstring), so ties at the threshold
    go exactly as in the float model.
    """
    dtype = check_same_dtype(a=check_array(a, "a", ndim=1), b=check_array(b, "b", ndim=1))
    check_same_dtype(a=a, v=check_array(v, "v", ndim=1))
    if b.shape != a.shape:
        raise ValueError(f"b must have shape {a.shape} like a, got shape {b.shape}")
    if batchnorm is None:

        def batchnorm(r):
            return a * r + b

    t = activation_thresholds(v)  # (N,)
    n_act, channels = v.shape[0], a.shape[0]

    def predicate(r):  # r: (N, C) -> H_v(BN(r)) == +1
        # The bisection probes +-max float, where BN may overflow to +-inf: harmless.
        with np.errstate(over="ignore", invalid="ignore"):
            return np.stack([batchnorm(r[n]) >= t[n] for n in range(n_act)])

    direction = np.sign(a).astype(np.int8)
    shape = (n_act, channels)
    up = _boundary(predicate, shape, dtype, upward=True)
    down = _boundary(predicate, shape, dtype, upward=False)
    thresholds = np.where(direction[None] > 0, up, np.where(direction[None] < 0, down, 0))
    constant = predicate(np.zeros(shape, dtype=dtype)) & (direction[None] == 0)
    return ActivationComparator(direction, thresholds.astype(dtype), constant)


# -- the compiled layer ------------------------------------------------------


@dataclass
class CompiledABCConv2d:
    """An ABC convolution ready for bitwise inference (eq. 12).

    Build it with :func:`compile_abc_conv` or :func:`compile_abcconv`.

    Attributes
    ----------
    base_words : ndarray of uint64, shape (M * O, kh, kw, ceil(C / 64))
        The M packed bases stacked along output channels (base m holds
        rows ``m*O .. (m+1)*O - 1``).
    base_channel_sums : ndarray of int64, shape (M * O, kh, kw)
        ``sum_c B_m[o, c, i, j]``, for the zero-padding correction.
    alphas : ndarray, shape (M,) or (O, M)
    betas : ndarray, shape (N,)
    comparator : ActivationComparator
    """

    base_words: np.ndarray
    base_channel_sums: np.ndarray
    alphas: np.ndarray
    betas: np.ndarray
    comparator: ActivationComparator
    in_channels: int
    out_channels: int
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    pad_value: int
    _corrections: dict = field(default_factory=dict, repr=False)

    @property
    def num_bases(self) -> int:
        return self.base_words.shape[0] // self.out_channels

    @property
    def num_activations(self) -> int:
        return self.betas.shape[0]

    @property
    def reduction_size(self) -> int:
        """K = C * kh * kw, the length of one xnor/popcount dot product."""
        return self.in_channels * self.kernel_size[0] * self.kernel_size[1]

    def _correction(self, in_hw) -> np.ndarray:
        key = tuple(in_hw)
        if key not in self._corrections:
            self._corrections[key] = padding_correction_from_sums(
                self.base_channel_sums, key, stride=self.stride, padding=self.padding
            )
        return self._corrections[key]

    def _dots(self, x: np.ndarray, num_threads):
        """Yield ``(n, dots_n)``: ``Conv(B_m, A_n)`` as int64 of shape (batch, M, O, Ho, Wo)."""
        check_array(x, "x", ndim=4)
        check_same_dtype(x=x, thresholds=self.comparator.thresholds)
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"x has {x.shape[1]} channels, the layer expects {self.in_channels} "
                f"(x shape {x.shape})"
            )
        ho, wo = conv_output_size(x.shape[2:], self.kernel_size, self.stride, self.padding)
        bits = self.comparator.bits(x)
        for n in range(self.num_activations):
            a_words = pack_bits_nchw(bits[n], padding=self.padding, fill_bit=self.pad_value >= 0)
            dot = packed_conv2d(
                a_words,
                self.base_words,
                stride=self.stride,
                num_threads=num_threads,
                dot_length=self.reduction_size,
            )  # (batch, M*O, Ho, Wo): K - 2 popcount(B_m XOR A_n), all m at once
            if self.pad_value == 0 and any(self.padding):
                corr = self._correction(x.shape[2:])
                subtract_border_correction(
                    dot, corr, x.shape[2:], self.kernel_size, self.stride, self.padding
                )
            yield n, dot.reshape(x.shape[0], self.num_bases, self.out_channels, ho, wo)

    def integer_convolutions(self, x: np.ndarray, *, num_threads=None) -> np.ndarray:
        """The M x N integer convolutions ``Conv(B_m, A_n)`` of eq. (12).

        Parameters
        ----------
        x : ndarray of shape (batch, C, H, W)
            Real-valued input R of the layer (before binarization).

        Returns
        -------
        dots : ndarray of int64, shape (M, N, batch, O, Ho, Wo)
            Exactly the float convolutions of the same +-1 tensors.
        """
        per_n = dict(self._dots(x, num_threads))
        return np.stack([per_n[n].transpose(1, 0, 2, 3, 4) for n in sorted(per_n)], axis=1)

    def forward(self, x: np.ndarray, *, num_threads=None) -> np.ndarray:
        """Layer output ``sum_{m,n} alpha_m beta_n Conv(B_m, A_n)`` in the dtype of x.

        The integer convolutions are exact; the combination is summed in
        float64 and rounded once to x's dtype.
        """
        alphas = self.alphas.astype(np.float64)
        if alphas.ndim == 1:  # whole-layer alpha_m
            alphas = np.broadcast_to(alphas[None, :], (self.out_channels, self.num_bases))
        betas = self.betas.astype(np.float64)
        out = None
        for n, dots in self._dots(x, num_threads):  # dots: (batch, M, O, Ho, Wo)
            for m in range(self.num_bases):
                term = (alphas[:, m] * betas[n])[None, :, None, None] * dots[:, m]
                out = term if out is None else out.__iadd__(term)
        return out.astype(x.dtype)

    __call__ = forward


def compile_abc_conv(
    bases: np.ndarray,
    alphas: np.ndarray,
    v: np.ndarray,
    betas: np.ndarray,
    *,
    stride=1,
    padding=0,
    pad_value: int = 0,
    comparator: ActivationComparator | None = None,
) -> CompiledABCConv2d:
    """Pack an ABC convolution given as arrays.

    Parameters
    ----------
    bases : ndarray of shape (M, O, C, kh, kw)
        The +-1 weight bases B_m (eq. 2).
    alphas : ndarray of shape (M,) or (O, M)
        Base coefficients (eq. 3), whole-layer or channel-wise.
    v : ndarray of shape (N,)
        Activation shifts (eq. 8); ignored when ``comparator`` is given.
    betas : ndarray of shape (N,)
        Activation coefficients (eq. 11).
    stride, padding : int or (int, int)
    pad_value : {0, 1, -1}
        Border value of the binary activations (conventions.md row 10).
    comparator : ActivationComparator, optional
        Thresholds with a batch norm folded in
        (:func:`fold_batchnorm_into_thresholds`); default ``R >= 0.5 - v``.
    """
    check_signs(bases, "bases")
    if bases.ndim != 5:
        raise ValueError(f"bases must have shape (M, O, C, kh, kw), got shape {bases.shape}")
    m, o, c, kh, kw = bases.shape
    check_array(alphas, "alphas")
    if alphas.shape not in ((m,), (o, m)):
        raise ValueError(f"alphas must have shape ({m},) or ({o}, {m}), got shape {alphas.shape}")
    check_array(betas, "betas", ndim=1)
    if comparator is None:
        check_array(v, "v", ndim=1)
        comparator = plain_comparator(v, c)
    check_same_dtype(alphas=alphas, betas=betas, thresholds=comparator.thresholds)
    if betas.shape[0] != comparator.num_activations:
        raise ValueError(
            f"betas must have shape ({comparator.num_activations},), got shape {betas.shape}"
        )
    if comparator.thresholds.shape[1] != c:
        raise ValueError(
            f"comparator has {comparator.thresholds.shape[1]} channels, the bases {c}"
        )
    check_choice(pad_value, "pad_value", (0, 1, -1))
    stacked = bases.reshape(m * o, c, kh, kw)
    return CompiledABCConv2d(
        base_words=pack_conv_weights(stacked),
        base_channel_sums=2 * np.count_nonzero(stacked > 0, axis=1).astype(np.int64) - c,
        alphas=alphas.copy(),
        betas=betas.copy(),
        comparator=comparator,
        in_channels=c,
        out_channels=o,
        kernel_size=(kh, kw),
        stride=check_pair(stride, "stride", min_value=1),
        padding=check_pair(padding, "padding", min_value=0),
        pad_value=int(pad_value),
    )


# -- from layers and models --------------------------------------------------


def batchnorm_affine(bn) -> tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Run-time affine form of an eval-mode ``abcref.nn.layers.BatchNorm2d``.

    Returns
    -------
    a, b : ndarray of shape (C,)
        ``a = gamma / sqrt(running_var + eps)``, ``b = beta - a * running_mean``
        (computed in float64, returned in the layer's dtype; ``sign(a)`` is
        ``sign(gamma)``).
    batchnorm : callable
        (C,) -> (C,): the layer's own float computation
        (``abcref.ops.batchnorm2d_forward`` in eval mode), whose rounding
        the folded comparators reproduce exactly.
    """
    gamma, beta = bn.params["gamma"], bn.params["beta"]
    mean, var = bn.buffers["running_mean"], bn.buffers["running_var"]
    a64 = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + bn.eps)
    b64 = beta.astype(np.float64) - a64 * mean.astype(np.float64)
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

    return a64.astype(gamma.dtype), b64.astype(gamma.dtype), batchnorm


def compile_abcconv(layer, *, batchnorm=None) -> CompiledABCConv2d:
    """Compile an ``abcref.nn.abcconv.ABCConv2d`` for bitwise inference.

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
    CompiledABCConv2d

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
        comparator = fold_batchnorm_into_thresholds(a, b, v, batchnorm=bn_fn)
    pad_value = layer.pad_value
    if pad_value not in (0.0, 1.0, -1.0):
        raise ValueError(f"layer.pad_value must be 0, +1 or -1, got {pad_value}")
    return compile_abc_conv(
        bases,
        alphas,
        v,
        beta,
        stride=layer.stride,
        padding=layer.padding,
        pad_value=int(pad_value),
        comparator=comparator,
    )


class BitABCConv2d(Module):
    """Inference-only layer that runs a :class:`CompiledABCConv2d`.

    It takes the place of an ``ABCConv2d`` (and of the batch norm folded
    into it, named by ``folded_batchnorm``) in a compiled model. There
    is no backward: the packed bases are a snapshot of trained weights.
    """

    def __init__(self, compiled: CompiledABCConv2d, *, folded_batchnorm: str | None = None):
        super().__init__()
        self.compiled = compiled
        self.folded_batchnorm = folded_batchnorm
        self.training = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.compiled.forward(x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise RuntimeError("BitABCConv2d is inference-only: train the float model instead")

    def __repr__(self) -> str:
        c = self.compiled
        fold = f", folded {self.folded_batchnorm}" if self.folded_batchnorm else ""
        return (
            f"BitABCConv2d({c.in_channels}, {c.out_channels}, kernel_size={c.kernel_size}, "
            f"M={c.num_bases}, N={c.num_activations}{fold})"
        )


def _binary_abc(module) -> bool:
    return isinstance(module, ABCConv2d) and module.N is not None


def _compile_sequential(seq: Sequential) -> Sequential:
    items = list(seq.children().items())
    layers: dict[str, Module] = {}
    i = 0
    while i < len(items):
        name, child = items[i]
        following = items[i + 1][1] if i + 1 < len(items) else None
        if isinstance(child, BatchNorm2d) and _binary_abc(following):
            # BN output feeds only the next layer's comparators: fold it (section 5.3).
            next_name = items[i + 1][0]
            compiled = compile_abcconv(following, batchnorm=child)
            layers[next_name] = BitABCConv2d(compiled, folded_batchnorm=name)
            i += 2
            continue
        layers[name] = _compile_module(child)
        i += 1
    return Sequential(**layers)


def _compile_module(module: Module) -> Module:
    if _binary_abc(module):
        return BitABCConv2d(compile_abcconv(module))
    if isinstance(module, Sequential):
        return _compile_sequential(module)
    children = module.children()
    if not children:
        return copy.deepcopy(module)  # a float layer: snapshot it like the packed ones
    # Any other container (e.g. a residual block): copy it, compile its children,
    # and re-point attributes and lists of children at the compiled ones.
    new = copy.copy(module)
    object.__setattr__(new, "_modules", {})
    replaced = {}
    for name, child in children.items():
        compiled = _compile_module(child)
        replaced[id(child)] = compiled
        setattr(new, name, compiled)
    for attr, value in list(vars(new).items()):
        if isinstance(value, list) and value and all(isinstance(m, Module) for m in value):
            object.__setattr__(new, attr, [replaced.get(id(m), m) for m in value])
    new.params, new.grads = dict(module.params), dict(module.grads)
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
        beta, comparators), and every ``BatchNorm2d`` directly followed
        by such a layer inside a ``Sequential`` is folded into its
        comparators (section 5.3). Other layers (full-precision first
        and last layers, pooling, weight-only ABC layers, batch norms
        feeding a residual shortcut) are copied and run in float.
        Inference only (no backward).

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
    compiled = _compile_module(model)
    compiled.eval()
    return compiled
