"""The functions a golden-vector case may name, and how to run each.

A case's ``"function"`` is the dotted name of a public abcref function.
For each one this module records which arrays go in and come out (their
names inside the ``.npz``), which keyword arguments the case may set, the
fixed rules in force (recorded in the manifest as ``conventions``), how
to run abcref on the inputs, and how to run the convention-switchable
reference of :mod:`abcref.oracle.variants` (used by the checker's hints).

Gradient names: :func:`abcref.binarize.abc_conv2d_backward` returns a
dict keyed ``"R", "W", "v", "beta"``; in a suite they are the arrays
``dx, dW, dv, dbeta`` (the input ``R`` is the array ``x``), and the
upstream gradient is the input ``dout``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from abcref.oracle import variants

# Rules that are not parameters but that an implementation must follow.
SIGN_RULE = "B = +1 where (W - mean) + u*std > 0, else -1 (sign(0) = -1)"
ALPHA_RULE = (
    "alpha = scipy.linalg.lstsq([B; sqrt(ridge) I], [w; 0]) in float64, no intercept, "
    "cast to W.dtype; one fit per output channel when per_channel"
)
ACT_RULE = "A_n = +1 where R >= 0.5 - v_n (computed in R's dtype), else -1 (ties -> +1)"
HV_RULE = (
    "H_v(R) is the comparator R >= fl(0.5 - v): the threshold 0.5 - v is rounded once to R's "
    "dtype, then compared (section 5.3). It equals eq. (9) in exact arithmetic but not eq. (9) "
    "taken literally in floating point: within an ulp of the threshold the two can differ, "
    "e.g. H_v([0.7], -0.2) = +1 in float64 although 0.7 + (-0.2) < 0.5 exactly (and "
    "fl(0.7 + (-0.2)) < 0.5)"
)
ACT_STE_RULE = "dR = sum_n dA_n * 1[0 <= R + v_n <= 1], dv_n = sum(dA_n * 1[0 <= R + v_n <= 1])"
ABC_RULE = (
    "out = sum_n beta_n conv(A_n, sum_m alpha_m B_m); no bias; the border of every A_n "
    "holds pad_value (of x itself without v/beta); alpha constant in backward"
)
BN_FOLD_RULE = (
    "H_v(a R + b) by comparators on R: a > 0: +1 iff R >= R*; a < 0: +1 iff R <= R*; "
    "a = 0: constant (b >= 0.5 - v); R* the exact float boundary of fl(a R + b) >= 0.5 - v"
)
WEIGHT_STE_RULES = {
    "paper": "dW = (sum_m alpha_m^2) * G, G = dc/dW_tilde (eq. 7 literally)",
    "sum": "dW = (sum_m alpha_m) * G",
    "identity": "dW = G",
}


@dataclass(frozen=True)
class FunctionSpec:
    """What a case of one function holds and how to compute it.

    ``run(inputs, kwargs) -> outputs`` calls abcref;
    ``variant(inputs, kwargs, switches) -> outputs`` calls the
    convention-switchable reference (``switches`` may also override
    kwargs such as ``ddof``).
    """

    name: str
    inputs: tuple[str, ...]
    required_inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    kwargs: tuple[str, ...]
    run: Callable[[dict, dict], dict]
    variant: Callable[[dict, dict, dict], dict]
    rules: Callable[[dict], dict]
    bit_outputs: tuple[str, ...] = ()  # +-1 / integer valued: compared exactly


# -- weights --------------------------------------------------------------------------
def _run_weights(inp, kw):
    from abcref.binarize import approximate_weights

    B, alphas = approximate_weights(inp["W"], **kw)
    return {"B": B, "alphas": alphas}


def _variant_weights(inp, kw, sw):
    kw = {**kw, **{k: v for k, v in sw.items() if k in kw}}
    extra = {k: v for k, v in sw.items() if k in ("sign_of_zero", "alpha_fit")}
    B, alphas = variants.approximate_weights(inp["W"], **kw, **extra)
    return {"B": B, "alphas": alphas}


def _weight_rules(kw):
    M = kw["M"]
    shifts = kw.get("shifts")
    resolved = variants.even_shifts(M).tolist() if shifts is None else list(shifts)
    return {
        "shifts_resolved": resolved,
        "sign_of_zero": -1,
        "bases": SIGN_RULE,
        "alphas": ALPHA_RULE,
    }


# -- activations -------------------------------------------------------------------------
def _run_acts(inp, kw):
    from abcref.binarize import binarize_activations

    return {"A": binarize_activations(inp["R"], inp["v"], **kw)}


def _variant_acts(inp, kw, sw):
    extra = {k: v for k, v in sw.items() if k in ("activation_tie", "threshold_form")}
    return {"A": variants.binarize_activations(inp["R"], inp["v"], **extra)}


def _act_rules(kw):
    return {"activation_tie": "+1", "activations": ACT_RULE, "H_v": HV_RULE}


# -- the ABC convolution -------------------------------------------------------------------
ABC_KWARGS = (
    "M",
    "stride",
    "padding",
    "shifts",
    "ddof",
    "ridge",
    "per_channel",
    "weight_ste",
    "pad_value",
)
_GRAD_NAMES = {"R": "dx", "W": "dW", "v": "dv", "beta": "dbeta"}


def _abc_args(inp):
    return inp["x"], inp["W"], inp.get("v"), inp.get("beta")


def _run_abc_forward(inp, kw):
    from abcref.binarize import abc_conv2d_forward

    out, _ = abc_conv2d_forward(*_abc_args(inp), **kw)
    return {"out": out}


def _run_abc_backward(inp, kw):
    from abcref.binarize import abc_conv2d_backward, abc_conv2d_forward

    out, cache = abc_conv2d_forward(*_abc_args(inp), **kw)
    grads = abc_conv2d_backward(inp["dout"], cache)
    result = {"out": out}
    for key, name in _GRAD_NAMES.items():
        if grads.get(key) is not None:
            result[name] = grads[key]
    return result


def _variant_abc(inp, kw, sw, *, backward):
    kw = {**kw, **{k: v for k, v in sw.items() if k in kw}}
    extra = {k: v for k, v in sw.items() if k in variants.SWITCH_DEFAULTS}
    dout = inp["dout"] if backward else None
    return variants.abc_conv2d(*_abc_args(inp), dout, **kw, **extra)


def _abc_rules(kw):
    rules = _weight_rules(kw)
    rules.update(
        {
            "activation_tie": "+1",
            "activations": ACT_RULE,
            "H_v": HV_RULE,
            "activation_ste": ACT_STE_RULE,
            "abc_conv": ABC_RULE,
            "weight_ste_rule": WEIGHT_STE_RULES[kw.get("weight_ste", "paper")],
        }
    )
    return rules


# -- bit-level ------------------------------------------------------------------------------
def _run_xnor(inp, kw):
    from abcref.bitpack import xnor_conv2d

    return {"out": xnor_conv2d(inp["a"], inp["b"], **kw)}


def _variant_xnor(inp, kw, sw):
    kw = {**kw, **{k: v for k, v in sw.items() if k in kw}}
    return {"out": variants.xnor_conv2d(inp["a"], inp["b"], **kw)}


def _xnor_rules(kw):
    return {
        "xnor_conv2d": "integer cross-correlation of +-1 arrays (PyTorch conv2d layout), "
        "border holding pad_value (0 = ordinary zero padding)",
    }


def _run_fold(inp, kw):
    from abcref.bitpack.thresholds import fold_batchnorm_exact

    comp = fold_batchnorm_exact(inp["a"], inp["b"], inp["v"], **kw)
    return {
        "direction": comp.direction,
        "thresholds": comp.thresholds,
        "constant": comp.constant,
        "A": comp.signs(inp["R"]).astype(np.int8),
    }


def _variant_fold(inp, kw, sw):
    flip = sw.get("flip_negative_scale", True)
    return variants.fold_batchnorm(
        inp["R"], inp["a"], inp["b"], inp["v"], flip_negative_scale=flip
    )


FUNCTIONS: dict[str, FunctionSpec] = {
    spec.name: spec
    for spec in (
        FunctionSpec(
            name="abcref.binarize.approximate_weights",
            inputs=("W",),
            required_inputs=("W",),
            outputs=("B", "alphas"),
            kwargs=("M", "shifts", "ddof", "ridge", "per_channel"),
            run=_run_weights,
            variant=_variant_weights,
            rules=_weight_rules,
            bit_outputs=("B",),
        ),
        FunctionSpec(
            name="abcref.binarize.binarize_activations",
            inputs=("R", "v"),
            required_inputs=("R", "v"),
            outputs=("A",),
            kwargs=(),
            run=_run_acts,
            variant=_variant_acts,
            rules=_act_rules,
            bit_outputs=("A",),
        ),
        FunctionSpec(
            name="abcref.binarize.abc_conv2d_forward",
            inputs=("x", "W", "v", "beta"),
            required_inputs=("x", "W"),
            outputs=("out",),
            kwargs=ABC_KWARGS,
            run=_run_abc_forward,
            variant=lambda i, k, s: _variant_abc(i, k, s, backward=False),
            rules=_abc_rules,
        ),
        FunctionSpec(
            name="abcref.binarize.abc_conv2d_backward",
            inputs=("x", "W", "v", "beta", "dout"),
            required_inputs=("x", "W", "dout"),
            outputs=("out", "dx", "dW", "dv", "dbeta"),
            kwargs=ABC_KWARGS,
            run=_run_abc_backward,
            variant=lambda i, k, s: _variant_abc(i, k, s, backward=True),
            rules=_abc_rules,
        ),
        FunctionSpec(
            name="abcref.bitpack.xnor_conv2d",
            inputs=("a", "b"),
            required_inputs=("a", "b"),
            outputs=("out",),
            kwargs=("stride", "padding", "pad_value"),
            run=_run_xnor,
            variant=_variant_xnor,
            rules=_xnor_rules,
            bit_outputs=("out",),
        ),
        FunctionSpec(
            name="abcref.bitpack.thresholds.fold_batchnorm_exact",
            inputs=("a", "b", "v", "R"),
            required_inputs=("a", "b", "v", "R"),
            outputs=("direction", "thresholds", "constant", "A"),
            kwargs=(),
            run=_run_fold,
            variant=_variant_fold,
            rules=lambda kw: {"bn_folding": BN_FOLD_RULE, "activations": ACT_RULE, "H_v": HV_RULE},
            bit_outputs=("direction", "constant", "A"),
        ),
    )
}


def conventions_for(function: str, kwargs: dict) -> dict:
    """Every convention in force for a call: the kwargs plus the fixed rules."""
    spec = FUNCTIONS[function]
    return {**kwargs, **spec.rules(kwargs)}


def as_json_value(value):
    """kwargs as JSON: tuples to lists, numpy scalars to Python numbers."""
    if isinstance(value, (tuple, list, np.ndarray)):
        return [as_json_value(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
