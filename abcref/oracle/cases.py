"""The golden-vector suite: small cases that pin every convention down.

Each case is a :class:`CaseDef`: a function of :mod:`abcref.oracle.functions`,
its keyword arguments (all of them, explicitly), a seed and an input
generator. The inputs are built to make convention differences *visible*:

- weights whose bases change between ``ddof=0`` and ``ddof=1`` (an entry
  lies between the two thresholds), so a wrong ddof cannot pass by luck;
- weights made of symmetric multiples of 1/8, whose mean is exactly 0, so
  the middle base (``u = 0``) meets ``sign(0)`` exactly;
- activations exactly at ``0.5 - v`` and one ulp either side, and at thresholds
  where the comparator ``R >= fl(0.5 - v)`` and eq. (9) taken literally disagree
  (``H_v(0.7, -0.2) = +1`` in float64);
- rank-deficient fits: constant W, tiny W with large M.

Cases are small (the whole suite is a few hundred KB): tiny tensors are
enough to tell implementations apart and keep the files readable.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from abcref.oracle import variants

DEFAULT_RIDGE = 1e-6  # abcref.binarize.DEFAULT_RIDGE; tests check they agree


@dataclass(frozen=True)
class CaseDef:
    """One golden-vector case before it is computed."""

    name: str
    function: str
    description: str
    seed: int
    make_inputs: Callable[[np.random.Generator], dict]
    kwargs: dict = field(default_factory=dict)


# -- input builders ------------------------------------------------------------------------
def ddof_sensitive_weights(rng, shape, M, *, per_channel=False, dtype=np.float64, scale=0.1):
    """Gaussian weights whose bases differ between ddof=0 and ddof=1.

    Draws until at least one base entry flips (deterministic for a seed).
    With M = 1 (shift 0) ddof cannot matter, and the first draw is used.
    """
    for _ in range(1000):
        W = (scale * rng.standard_normal(shape)).astype(dtype)
        b0 = variants.weight_bases(W, M, ddof=0, per_channel=per_channel)
        b1 = variants.weight_bases(W, M, ddof=1, per_channel=per_channel)
        if M == 1 or (b0 != b1).any():
            return W
    raise RuntimeError(f"no ddof-sensitive weights of shape {shape} found")  # pragma: no cover


def symmetric_dyadic_weights(rng, shape, *, per_channel=False, dtype=np.float64):
    """Multiples of 1/8 in +-pairs, zeros included: mean exactly 0.

    Then ``W - mean + 0 * std`` is exactly 0 where W is 0, so the base with
    shift 0 meets sign(0). Per channel each output channel is symmetric.
    """
    groups = shape[0] if per_channel else 1
    size = int(np.prod(shape)) // groups
    if size % 2:
        raise ValueError(f"need an even number of weights per group, got {size}")
    out = []
    for _ in range(groups):
        half = rng.integers(-8, 9, size=size // 2) / 8.0
        half[:2] = 0.0
        out.append(rng.permutation(np.concatenate([half, -half])))
    return np.concatenate(out).reshape(shape).astype(dtype)


def threshold_values(v, dtype):
    """``0.5 - v_n`` in ``dtype`` and its two neighbouring floats, for each n."""
    t = np.asarray(0.5, dtype=dtype) - np.asarray(v, dtype=dtype)
    return np.concatenate([np.nextafter(t, -np.inf), t, np.nextafter(t, np.inf)])


def _with_values(base, values):
    """Write ``values`` into the first entries of ``base`` (flat order)."""
    flat = base.ravel().copy()
    flat[: len(values)] = values
    return flat.reshape(base.shape)


def _signs(rng, shape):
    return np.where(rng.random(shape) < 0.5, -1, 1).astype(np.int8)


def _conv_out(hw, k, stride, padding):
    s = stride if isinstance(stride, (tuple, list)) else (stride, stride)
    p = padding if isinstance(padding, (tuple, list)) else (padding, padding)
    return tuple((hw[i] + 2 * p[i] - k[i]) // s[i] + 1 for i in range(2))


# -- case families ----------------------------------------------------------------------------
_W = "abcref.binarize.approximate_weights"
_ACT = "abcref.binarize.binarize_activations"
_ABC_F = "abcref.binarize.abc_conv2d_forward"
_ABC_B = "abcref.binarize.abc_conv2d_backward"
_XNOR = "abcref.bitpack.xnor_conv2d"
_FOLD = "abcref.bitpack.thresholds.fold_batchnorm_exact"


def _weights_kwargs(M, *, shifts=None, ddof=0, ridge=DEFAULT_RIDGE, per_channel=False):
    return {"M": M, "shifts": shifts, "ddof": ddof, "ridge": ridge, "per_channel": per_channel}


def _weight_cases():
    cases = []
    shape = (4, 2, 3, 3)
    for per_channel in (False, True):
        scope = "channel" if per_channel else "whole"
        for ddof in (0, 1):
            cases.append(
                CaseDef(
                    f"weights_{scope}_M3_ddof{ddof}",
                    _W,
                    f"{scope}-layer bases and alphas, M=3, ddof={ddof}; W chosen so that ddof "
                    "changes a base",
                    100 + ddof + 10 * per_channel,
                    lambda rng, pc=per_channel: {
                        "W": ddof_sensitive_weights(rng, shape, 3, per_channel=pc)
                    },
                    _weights_kwargs(3, ddof=ddof, per_channel=per_channel),
                )
            )
        for ridge in (0.0, 1.0):
            cases.append(
                CaseDef(
                    f"weights_{scope}_M5_ridge{ridge:g}",
                    _W,
                    f"{scope}-layer, M=5, ridge={ridge:g} (0 = plain least squares)",
                    120 + int(ridge) + 10 * per_channel,
                    lambda rng, pc=per_channel: {
                        "W": ddof_sensitive_weights(rng, shape, 5, per_channel=pc)
                    },
                    _weights_kwargs(5, ridge=ridge, per_channel=per_channel),
                )
            )
        cases.append(
            CaseDef(
                f"weights_{scope}_sign0",
                _W,
                f"{scope}-layer, M=3: W of symmetric multiples of 1/8 with zeros, mean exactly 0, "
                "so the u=0 base meets sign(0) (must give -1)",
                140 + 10 * per_channel,
                lambda rng, pc=per_channel: {
                    "W": symmetric_dyadic_weights(rng, shape, per_channel=pc)
                },
                _weights_kwargs(3, per_channel=per_channel),
            )
        )
        cases.append(
            CaseDef(
                f"weights_{scope}_constant",
                _W,
                f"{scope}-layer, constant W (std 0): every base is -1, rank 1 of M=3; the "
                "ridge term makes alpha unique",
                160 + 10 * per_channel,
                lambda rng: {"W": np.full(shape, 0.3)},
                _weights_kwargs(3, per_channel=per_channel),
            )
        )
        # Without ridge the rank-1 system has infinitely many minimisers;
        # abcref returns the minimum-norm one (alpha_i = c / M each, with
        # NumPy's rank cutoff eps * max(rows, cols)), as numpy/torch lstsq do.
        cases.append(
            CaseDef(
                f"weights_{scope}_constant_ridge0",
                _W,
                f"{scope}-layer, constant W, M=3, ridge=0: the minimum-norm least-squares "
                "alpha (-c/M each for bases of all -1)",
                161 + 10 * per_channel,
                lambda rng: {"W": np.full(shape, 0.3)},
                _weights_kwargs(3, ridge=0.0, per_channel=per_channel),
            )
        )
    cases += [
        CaseDef(
            "weights_whole_tiny_M8",
            _W,
            "4 weights, M=8: many coinciding bases (rank deficient)",
            170,
            lambda rng: {"W": rng.standard_normal((1, 1, 2, 2))},
            _weights_kwargs(8),
        ),
        CaseDef(
            "weights_channel_tiny_M6",
            _W,
            "2 channels of 2 weights, M=6 per channel (rank deficient)",
            171,
            lambda rng: {"W": rng.standard_normal((2, 1, 1, 2))},
            _weights_kwargs(6, per_channel=True),
        ),
        CaseDef(
            "weights_whole_M1",
            _W,
            "M=1: u=[0], one base sign(W - mean)",
            172,
            lambda rng: {"W": rng.standard_normal(shape)},
            _weights_kwargs(1),
        ),
        CaseDef(
            "weights_whole_custom_shifts",
            _W,
            "M=3 with shifts [-1.5, 0.25, 0.5]",
            173,
            lambda rng: {"W": rng.standard_normal(shape)},
            _weights_kwargs(3, shifts=[-1.5, 0.25, 0.5]),
        ),
        CaseDef(
            "weights_whole_M3_float32",
            _W,
            "float32 W, M=3, ddof-sensitive",
            174,
            lambda rng: {"W": ddof_sensitive_weights(rng, shape, 3, dtype=np.float32)},
            _weights_kwargs(3),
        ),
    ]
    return cases


def _act_inputs(v, dtype):
    def make(rng):
        R = rng.standard_normal((2, 3, 4, 4)).astype(dtype)
        R = _with_values(R, threshold_values(v, dtype))
        return {"R": R, "v": np.asarray(v, dtype=dtype)}

    return make


def _act_cases():
    cases = []
    for label, v in (("dyadic", [-0.25, 0.0, 0.25, 0.625]), ("decimal", [0.1, -0.3, 0.7])):
        for dtype in (np.float32, np.float64):
            cases.append(
                CaseDef(
                    f"activations_{label}_{np.dtype(dtype).name}",
                    _ACT,
                    f"N={len(v)} binary activations, v={v}; R holds every threshold 0.5 - v_n "
                    "exactly and one ulp either side (ties give +1)",
                    200 + len(cases),
                    _act_inputs(v, dtype),
                )
            )
    # H_v's convention: v where the comparator R >= fl(0.5 - v) and eq. (9) in exact
    # arithmetic (R + v >= 0.5) disagree at R = fl(0.5 - v), with fl(R + v) >= 0.5 siding with
    # one or the other, plus an exact tie (v = -0.25) that sets exact arithmetic apart from
    # ties going to -1.
    for dtype, v in (
        (np.float64, [-0.2, -0.1, -0.45, -0.25]),
        (np.float32, [-0.2, -0.4, 0.05, -0.25]),
    ):
        cases.append(
            CaseDef(
                f"activations_comparator_{np.dtype(dtype).name}",
                _ACT,
                f"H_v is the comparator R >= fl(0.5 - v), v={v}: at R = fl(0.5 - v_n) it gives "
                "+1 although R + v_n < 0.5 exactly (H_v(0.7, -0.2) = +1)",
                210 + len(cases),
                _act_inputs(v, dtype),
            )
        )
    return cases


def _abc_inputs(
    *,
    x_shape=(2, 3, 5, 5),
    w_shape=(4, 3, 3, 3),
    M=3,
    v=(-0.3, 0.5, 1.1),
    beta=(0.6, 0.4, 0.3),
    stride=1,
    padding=1,
    per_channel=False,
    dtype=np.float64,
    weights="ddof",
    ties=False,
    backward=True,
):
    def make(rng):
        if weights == "ddof":
            W = ddof_sensitive_weights(rng, w_shape, M, per_channel=per_channel, dtype=dtype)
        else:
            W = symmetric_dyadic_weights(rng, w_shape, per_channel=per_channel, dtype=dtype)
        x = rng.standard_normal(x_shape).astype(dtype)
        if ties:
            x = _with_values(x, threshold_values(v, dtype))
        inputs = {"x": x, "W": W}
        if v is not None:
            inputs["v"] = np.asarray(v, dtype=dtype)
            inputs["beta"] = np.asarray(beta, dtype=dtype)
        if backward:
            ho, wo = _conv_out(x_shape[2:], w_shape[2:], stride, padding)
            inputs["dout"] = rng.standard_normal((x_shape[0], w_shape[0], ho, wo)).astype(dtype)
        return inputs

    return make


def _abc_case(
    name,
    description,
    seed,
    *,
    M=3,
    stride=1,
    padding=1,
    ddof=0,
    ridge=DEFAULT_RIDGE,
    per_channel=False,
    weight_ste="paper",
    pad_value=0.0,
    backward=True,
    **inputs,
):
    kwargs = {
        "M": M,
        "stride": stride,
        "padding": padding,
        "shifts": None,
        "ddof": ddof,
        "ridge": ridge,
        "per_channel": per_channel,
        "weight_ste": weight_ste,
        "pad_value": pad_value,
    }
    make = _abc_inputs(
        M=M, stride=stride, padding=padding, per_channel=per_channel, backward=backward, **inputs
    )
    return CaseDef(name, _ABC_B if backward else _ABC_F, description, seed, make, kwargs)


def _abc_cases():
    cases = [
        _abc_case(
            f"abc_{ste}_s1_p1",
            f"ABC conv M=3 N=3, forward and all gradients, "
            f"weight_ste={ste!r}, stride 1, padding 1",
            300 + i,
            weight_ste=ste,
        )
        for i, ste in enumerate(("paper", "sum", "identity"))
    ]
    cases += [
        _abc_case("abc_paper_s2_p0", "stride 2, no padding", 310, stride=2, padding=0),
        _abc_case(
            "abc_paper_s2x1_p1x0",
            "stride (2, 1), padding (1, 0)",
            311,
            stride=[2, 1],
            padding=[1, 0],
            x_shape=(2, 3, 6, 5),
        ),
        _abc_case("abc_paper_s1_p2", "padding 2 with a 3x3 kernel", 312, padding=2),
        _abc_case(
            "abc_channel_paper", "channel-wise alphas (section 3.1.2)", 313, per_channel=True
        ),
        _abc_case(
            "abc_channel_sum",
            "channel-wise alphas, weight_ste='sum'",
            314,
            per_channel=True,
            weight_ste="sum",
        ),
        _abc_case("abc_ddof1", "ddof=1", 315, ddof=1),
        _abc_case("abc_M5_ridge0", "M=5, ridge=0", 316, M=5, ridge=0.0),
        _abc_case("abc_M1_N1", "M=1, N=1", 317, M=1, v=(0.2,), beta=(0.9,)),
        _abc_case(
            "abc_fp_activations",
            "full-precision activations (v, beta absent): weight-only ABC, eq. (6)",
            318,
            v=None,
        ),
        _abc_case(
            "abc_sign0",
            "W of symmetric multiples of 1/8: sign(0) met by the u=0 base",
            319,
            weights="dyadic",
        ),
        _abc_case(
            "abc_ties",
            "x holds the thresholds 0.5 - v_n exactly and +-1 ulp",
            320,
            ties=True,
            v=(0.25, -0.5, 0.75),
        ),
        _abc_case("abc_pad_plus1", "binary activations padded with +1", 321, pad_value=1.0),
        _abc_case("abc_pad_minus1", "binary activations padded with -1", 322, pad_value=-1.0),
        _abc_case("abc_float32", "float32 throughout", 323, dtype=np.float32),
        _abc_case("abc_forward_s1_p1", "forward only", 324, backward=False),
        _abc_case(
            "abc_forward_channel_float32",
            "forward only, channel-wise, float32",
            325,
            backward=False,
            per_channel=True,
            dtype=np.float32,
        ),
    ]
    return cases


def _xnor_case(name, seed, *, c, stride=1, padding=1, pad_value=0, hw=(5, 5), o=3, k=3):
    def make(rng):
        return {"a": _signs(rng, (2, c, *hw)), "b": _signs(rng, (o, c, k, k))}

    desc = (
        f"xnor/popcount conv of +-1 int8 arrays, C={c}, stride {stride}, padding "
        f"{padding}, pad_value {pad_value:+d}"
    )
    return CaseDef(
        name,
        _XNOR,
        desc,
        seed,
        make,
        {"stride": stride, "padding": padding, "pad_value": pad_value},
    )


def _xnor_cases():
    return [
        _xnor_case("xnor_c3_p1_zero", 400, c=3),
        _xnor_case("xnor_c5_p1_plus1", 401, c=5, pad_value=1),
        _xnor_case("xnor_c7_s2_p2_minus1", 402, c=7, stride=2, padding=2, pad_value=-1),
        _xnor_case("xnor_c65_p1_zero", 403, c=65, hw=(4, 4), o=2),
        _xnor_case("xnor_c1_p0", 404, c=1, padding=0),
        _xnor_case("xnor_c9_s2x1_p1x2_zero", 405, c=9, stride=[2, 1], padding=[1, 2]),
    ]


def _fold_inputs(a, b, v, dtype):
    def make(rng):
        return {
            "a": np.asarray(a, dtype=dtype),
            "b": np.asarray(b, dtype=dtype),
            "v": np.asarray(v, dtype=dtype),
            "R": rng.standard_normal((2, len(a), 3, 3)).astype(dtype),
        }

    return make


def _fold_cases():
    return [
        CaseDef(
            "bn_fold_mixed_sign_float64",
            _FOLD,
            "BN a R + b folded into comparators, channels with a > 0, a < 0 and a = 0",
            500,
            _fold_inputs(
                [1.5, -0.8, 0.0, -2.0, 0.4], [0.1, 0.3, 0.7, -0.2, 0.0], [0.2, -0.4], np.float64
            ),
        ),
        CaseDef(
            "bn_fold_negative_float32",
            _FOLD,
            "every a < 0 (comparison flips)",
            501,
            _fold_inputs([-1.2, -0.5, -3.0], [0.2, -0.1, 0.5], [0.0, 0.6], np.float32),
        ),
        CaseDef(
            "bn_fold_positive_float32",
            _FOLD,
            "every a > 0 (the paper's formula)",
            502,
            _fold_inputs([0.9, 2.5, 0.3], [-0.3, 0.1, 0.0], [0.3], np.float32),
        ),
        CaseDef(
            "bn_fold_zero_scale_float64",
            _FOLD,
            "a = 0: constant output b >= 0.5 - v",
            503,
            _fold_inputs([0.0, 0.0], [0.9, -0.9], [0.1, 0.5], np.float64),
        ),
    ]


def all_cases() -> list[CaseDef]:
    """Every case of the suite, in export order."""
    return _weight_cases() + _act_cases() + _abc_cases() + _xnor_cases() + _fold_cases()


def select_cases(patterns=None) -> list[CaseDef]:
    """Cases whose names match any of ``patterns`` (exact names or shell globs).

    Raises
    ------
    ValueError
        If a pattern matches no case.
    """
    cases = all_cases()
    if patterns is None:
        return cases
    names = [c.name for c in cases]
    chosen = set()
    for pattern in patterns:
        hits = fnmatch.filter(names, pattern)
        if not hits:
            raise ValueError(f"no case matches {pattern!r}; cases are {names}")
        chosen.update(hits)
    return [c for c in cases if c.name in chosen]
