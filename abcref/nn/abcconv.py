"""``ABCConv2d``: the ABC-Net convolution layer (paper section 3).

A thin stateful layer over the ABC convolution of eq. (12): it holds the
latent float weights ``weight``, the activation shifts ``v`` and scales
``beta`` (and trainable weight shifts ``u``), and accumulates their
gradients. Every forward recomputes the binary bases and alphas from the
latent weights, as in training. The reference equations are
:func:`abcref.binarize.abc_conv2d_forward` / ``abc_conv2d_backward``;
the layer runs the same computation through the fast tier
(:mod:`abcref.fast.abcconv`), after validating its input once.
"""

from __future__ import annotations

import numpy as np

from abcref._checks import (
    check_bool,
    check_choice,
    check_conv_args,
    check_dout,
    check_float_dtype,
    check_int,
    check_pair,
    check_real,
    check_rng,
)
from abcref.binarize.activations import default_activation_params
from abcref.binarize.weights import (
    DEFAULT_RIDGE,
    WEIGHT_STE_READINGS,
    approximate_weights,
    check_shifts,
    weight_shifts,
)
from abcref.fast.abcconv import abc_conv2d_backward, abc_conv2d_forward
from abcref.nn.module import Module


class ABCConv2d(Module):
    """Convolution with M binary weight bases and N binary activations.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    M : int
        Number of binary weight bases (``M >= 1``).
    N : int or None
        Number of binary activations; None keeps the input full precision
        (weight-only ABC, paper Table 1).
    stride, padding : int or (int, int)
    per_channel : bool
        Channel-wise weight approximation (section 3.1.2).
    shifts : array_like of shape (M,), optional
        Weight shifts ``u`` (default evenly spaced in [-1, 1]).
    train_shifts : bool
        Make ``u`` a trained parameter ``params["u"]``.
    ddof : int
        Delta degrees of freedom of ``std(W)`` (default 0).
    ridge : float
        Ridge strength of the alpha regression (default 1e-6).
    weight_ste : {"paper", "sum", "identity"}
        Reading of eq. (7) for the latent weight gradient.
    pad_value : float
        Value of the padded binary activations (0, +1 or -1).
    rng : numpy.random.Generator, optional
        For the weight initialisation (default ``default_rng(0)``).
    dtype : {numpy.float32, numpy.float64}

    Attributes
    ----------
    params : dict
        ``"weight"`` (C_out, C_in, KH, KW), the latent weights W of the
        paper; ``"v"``, ``"beta"`` (N,) unless N is None; ``"u"`` (M,)
        when ``train_shifts``.

    Notes
    -----
    Initialisation: ``weight ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))``,
    PyTorch's default ``Conv2d`` init (kaiming-uniform with a = sqrt(5)),
    so a PyTorch port starts from the same distribution; the scale of W only
    scales alpha, and BN follows. ``v`` and ``beta`` come from
    :func:`abcref.binarize.default_activation_params` (thresholds at the
    Gaussian quantiles ``n/(N+1)``, beta the least-squares fit of the
    hard tanh): distinct thresholds break the symmetry between the N
    bases (conventions row 9). No bias (conventions row 14).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        *,
        M: int,
        N: int | None,
        stride=1,
        padding=0,
        per_channel: bool = False,
        shifts=None,
        train_shifts: bool = False,
        ddof: int = 0,
        ridge: float = DEFAULT_RIDGE,
        weight_ste: str = "paper",
        pad_value: float = 0.0,
        rng: np.random.Generator | None = None,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        dtype = check_float_dtype(dtype)
        self.in_channels = check_int(in_channels, "in_channels", min_value=1)
        self.out_channels = check_int(out_channels, "out_channels", min_value=1)
        self.kernel_size = check_pair(kernel_size, "kernel_size", min_value=1)
        self.M = check_int(M, "M", min_value=1)
        self.N = None if N is None else check_int(N, "N", min_value=1)
        self.stride = check_pair(stride, "stride", min_value=1)
        self.padding = check_pair(padding, "padding", min_value=0)
        self.per_channel = check_bool(per_channel, "per_channel")
        self.train_shifts = check_bool(train_shifts, "train_shifts")
        self.ddof = check_int(ddof, "ddof", min_value=0)
        self.ridge = check_real(ridge, "ridge")
        if self.ridge < 0:
            raise ValueError(f"ridge must be >= 0, got {ridge}")
        self.weight_ste = check_choice(weight_ste, "weight_ste", WEIGHT_STE_READINGS)
        self.pad_value = check_real(pad_value, "pad_value")
        if self.N is not None and self.pad_value not in (0.0, 1.0, -1.0):
            # A padded binary activation is a bit: 0 (zero padding) or a sign.
            raise ValueError(
                f"pad_value must be 0, +1 or -1 with binary activations, got {self.pad_value:g}"
            )
        self.dtype = dtype
        u = check_shifts(shifts, self.M, dtype) if shifts is not None else weight_shifts(M, dtype)
        rng = check_rng(rng)
        kh, kw = self.kernel_size
        bound = 1.0 / np.sqrt(self.in_channels * kh * kw)
        shape = (self.out_channels, self.in_channels, kh, kw)
        self.add_param("weight", rng.uniform(-bound, bound, size=shape).astype(dtype))
        if self.N is not None:
            v, beta = default_activation_params(self.N, dtype)
            self.add_param("v", v)
            self.add_param("beta", beta)
        if self.train_shifts:
            self.add_param("u", u.copy())
            self._fixed_shifts = None
        else:
            self._fixed_shifts = u.copy()

    @property
    def shifts(self) -> np.ndarray:
        """Current weight shifts ``u`` (the parameter when trained)."""
        return self.params["u"] if self.train_shifts else self._fixed_shifts

    def _op_kwargs(self) -> dict:
        return {
            "M": self.M,
            "shifts": self.shifts,
            "ddof": self.ddof,
            "ridge": self.ridge,
            "per_channel": self.per_channel,
        }

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``x`` (B, C_in, H, W) -> (B, C_out, H_out, W_out), eq. (12)."""
        weight = self.params["weight"]
        names = ("x", "weight", "bias")
        check_conv_args(x, weight, stride=self.stride, padding=self.padding, names=names)
        out, cache = abc_conv2d_forward(
            x,
            weight,
            self.params.get("v"),
            self.params.get("beta"),
            stride=self.stride,
            padding=self.padding,
            weight_ste=self.weight_ste,
            pad_value=self.pad_value,
            train_shifts=self.train_shifts,
            **self._op_kwargs(),
        )
        self._cache = (cache, out.shape)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Accumulate parameter gradients; return ``dc/dx``."""
        cache, out_shape = self._take_cache()
        check_dout(dout, out_shape, self.dtype)
        grads = abc_conv2d_backward(dout, cache)
        grads["weight"] = grads.pop("W")
        for name in self.params:
            self.grads[name] += grads[name]
        return grads["R"]

    def weight_bases(self) -> tuple[np.ndarray, np.ndarray]:
        """Current ``(B, alphas)`` of the latent weights, for compilation.

        ``B`` has shape (M, C_out, C_in, KH, KW) and holds only +-1;
        ``alphas`` is (M,) or (C_out, M) when ``per_channel``.
        """
        return approximate_weights(self.params["weight"], **self._op_kwargs())

    def extra_repr(self) -> str:
        kh, kw = self.kernel_size
        parts = [
            f"{self.in_channels}, {self.out_channels}, kernel_size=({kh}, {kw})",
            f"M={self.M}, N={self.N}",
            f"stride={self.stride}, padding={self.padding}",
        ]
        if self.pad_value != 0:
            parts.append(f"pad_value={self.pad_value:g}")
        if self.per_channel:
            parts.append("per_channel=True")
        if self.train_shifts:
            parts.append("train_shifts=True")
        if self.ddof:
            parts.append(f"ddof={self.ddof}")
        if self.ridge != DEFAULT_RIDGE:
            parts.append(f"ridge={self.ridge:g}")
        parts.append(f"weight_ste={self.weight_ste!r}, dtype={self.dtype.name}")
        return ", ".join(parts)
