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

Batch norms are folded into the comparators by
:mod:`abcref.bitpack.thresholds` (section 5.3 (2), all three signs of the
scale, exact at ties).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from abcref._checks import check_array, check_choice, check_pair, check_same_dtype
from abcref.bitpack.conv import (
    conv_output_size,
    pack_bits_nchw,
    pack_conv_weights,
    packed_conv2d,
    padding_correction_from_sums,
    subtract_border_correction,
)
from abcref.bitpack.pack import check_signs
from abcref.bitpack.thresholds import (
    ActivationComparator,
    batchnorm_affine,
    fold_batchnorm_into_thresholds,
    plain_comparator,
)
from abcref.nn.abcconv import ABCConv2d
from abcref.nn.layers import BatchNorm2d
from abcref.nn.module import Module, Sequential

__all__ = [
    "ActivationComparator",
    "BitABCConv2d",
    "CompiledABCConv2d",
    "batchnorm_affine",
    "compile_abc_conv",
    "compile_abcconv",
    "compile_model",
    "fold_batchnorm_into_thresholds",
    "plain_comparator",
]

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
