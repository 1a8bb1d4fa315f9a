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

from dataclasses import dataclass, field

import numpy as np

from abcref._checks import (
    check_array,
    check_choice,
    check_int,
    check_kernel_fits,
    check_pair,
    check_same_dtype,
    check_signs,
    output_size,
)
from abcref.bitpack.conv import _channel_sums, padding_correction_from_sums
from abcref.bitpack.thresholds import ActivationComparator, plain_comparator
from abcref.fast.xnor import (
    pack_bits_nchw,
    pack_conv_weights,
    packed_conv2d,
    subtract_border_correction,
)

__all__ = ["PackedABCConv2d", "pack_abc_conv"]

# -- the packed layer --------------------------------------------------------


@dataclass
class PackedABCConv2d:
    """An ABC convolution packed for bitwise inference (eq. 12).

    Build it from arrays with :func:`pack_abc_conv`, or from a trained
    ``ABCConv2d`` with :func:`abcref.compiler.compile_layer`.

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
        if num_threads is not None:
            check_int(num_threads, "num_threads", min_value=1)
        check_same_dtype(x=x, thresholds=self.comparator.thresholds)
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"x has {x.shape[1]} channels, the layer expects {self.in_channels} "
                f"(x shape {x.shape})"
            )
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        check_kernel_fits((x.shape[2] + 2 * ph, x.shape[3] + 2 * pw), (kh, kw), "padded input")
        ho, wo = output_size(x.shape[2], kh, sh, ph), output_size(x.shape[3], kw, sw, pw)
        bits = self.comparator._bits(x)  # x checked above
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


def pack_abc_conv(
    bases: np.ndarray,
    alphas: np.ndarray,
    v: np.ndarray,
    betas: np.ndarray,
    *,
    stride=1,
    padding=0,
    pad_value: int = 0,
    comparator: ActivationComparator | None = None,
) -> PackedABCConv2d:
    """Pack an ABC convolution given as arrays (bases, alphas, v, betas).

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
        (:func:`fold_batchnorm_exact`); default ``R >= 0.5 - v``.
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
    return PackedABCConv2d(
        base_words=pack_conv_weights(stacked),
        base_channel_sums=_channel_sums(stacked),
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
