"""The other readings of the paper a hint can name, one per classic porting mistake.

A :class:`Reading` is a convention difference the checker can recompute:
its ``overrides`` go to the case's ``variant`` (kwargs such as ``ddof``
or ``per_channel``, or switches of :mod:`abcref.oracle.variants` such as
``sign_of_zero``), and its ``text`` names the mistake and the convention
it breaks (``docs/conventions.md`` numbers). :func:`readings_for` lists
those that apply to a case; :mod:`abcref.oracle.hints` tries them.

``PRECISION`` is special: it recomputes the case in float32 and compares
with float32 tolerances (a float32 port of a float64 case).
"""

from __future__ import annotations

from typing import NamedTuple

_WEIGHT_FUNCS = (
    "abcref.binarize.approximate_weights",
    "abcref.binarize.abc_conv2d_forward",
    "abcref.binarize.abc_conv2d_backward",
)
_ABC_FUNCS = _WEIGHT_FUNCS[1:]
_ACT_FUNC = "abcref.binarize.binarize_activations"
_FOLD_FUNC = "abcref.bitpack.thresholds.fold_batchnorm_exact"
_XNOR_FUNC = "abcref.bitpack.xnor_conv2d"

#: The override key of the float32 reading.
PRECISION = "compute_dtype"

HV_EXAMPLE = "H_v([0.7], -0.2) = +1 in float64 although 0.7 + (-0.2) < 0.5 exactly"


class Reading(NamedTuple):
    """One alternative reading: its family (readings of one family are never paired)."""

    family: str
    text: str
    overrides: dict


def _signed(value: int) -> str:
    return "0" if value == 0 else f"{value:+d}"


def _weight_readings(kw) -> list[Reading]:
    ddof = kw.get("ddof", 0)
    alt = 1 if ddof == 0 else 0
    why = "Bessel's correction, torch.std's default" if alt else "population std"
    out = [
        Reading(
            "ddof",
            f"matches ddof={alt} (std(W) with {why}; this case uses ddof={ddof}, "
            "conventions.md #3)",
            {"ddof": alt},
        ),
        Reading(
            "sign0",
            "sign(0) = 0 somewhere (zeros in bases): np.sign/torch.sign map 0 to 0; abcref's "
            "bases are +1 where W - mean + u*std > 0, else -1 (conventions.md #1)",
            {"sign_of_zero": 0},
        ),
        Reading(
            "sign0",
            "matches sign(0) = +1 (bases +1 where W - mean + u*std >= 0, e.g. "
            "where(z >= 0, 1, -1)); abcref's sign(0) is -1: a base is +1 only where "
            "W - mean + u*std > 0, otherwise -1 (section 5.1, conventions.md #1)",
            {"sign_of_zero": 1},
        ),
    ]
    if kw.get("M") == 1 and kw.get("shifts") is None:
        tail = (
            "; eq. (2)'s evenly spaced shifts u_i = -1 + 2(i - 1)/(M - 1) divide by M - 1, and "
            "for M = 1 the shift is u = [0], the plain sign(W - mean) base (conventions.md #4)"
        )
        out += [
            Reading(
                "shift_m1",
                "matches the M = 1 shift u = [-1], what linspace(-1, 1, 1) returns" + tail,
                {"shifts": [-1.0]},
            ),
            Reading(
                "shift_m1",
                "matches the M = 1 shift u = [NaN], what -1 + 2(i - 1)/(M - 1) gives (0/0): "
                "every comparison with NaN is false, so every base entry is -1" + tail,
                {"shifts": [float("nan")]},
            ),
        ]
    per_channel = bool(kw.get("per_channel", False))
    if per_channel:
        scope = (
            "matches whole-layer alphas (per_channel=False: one mean, std and alpha set for the "
            "layer, section 3.1.1); this case is channel-wise, per_channel=True (section 3.1.2, "
            "conventions.md #6)"
        )
    else:
        scope = (
            "matches channel-wise alphas (per_channel=True: mean, std and alphas per output "
            "channel, section 3.1.2); this case is whole-layer, per_channel=False "
            "(section 3.1.1, conventions.md #6)"
        )
    out.append(Reading("scope", scope, {"per_channel": not per_channel}))
    ridge = kw.get("ridge", 0.0)
    if ridge > 0:
        out.append(
            Reading(
                "ridge",
                "matches ordinary least squares without ridge (ridge=0); "
                f"this case solves eq. (3) with ridge={ridge:g} (conventions.md #5)",
                {"ridge": 0.0},
            )
        )
    else:
        from abcref.oracle.cases import DEFAULT_RIDGE

        out.append(
            Reading(
                "ridge",
                f"matches ridge={DEFAULT_RIDGE:g} (abcref's default); this "
                "case solves plain least squares, ridge=0 (conventions.md #5)",
                {"ridge": DEFAULT_RIDGE},
            )
        )
    out.append(
        Reading(
            "intercept",
            "α differs by a constant intercept: matches a fit w ≈ Bα + c with an extra "
            "constant column (e.g. fit_intercept=True in a regression library); "
            "eq. (3) has none, w ≈ Σ α_m B_m (conventions.md #5)",
            {"alpha_fit": "intercept"},
        )
    )
    return out


def _weight_ste_readings(kw) -> list[Reading]:
    current = kw.get("weight_ste", "paper")
    formulas = {"paper": "(Σ α_m²)·G", "sum": "(Σ α_m)·G", "identity": "G"}
    return [
        Reading(
            "weight_ste",
            f"matches weight_ste='{alt}' (dW = {formulas[alt]}; this case uses "
            f"weight_ste='{current}', dW = {formulas[current]}, conventions.md #7)",
            {"weight_ste": alt},
        )
        for alt in ("paper", "sum", "identity")
        if alt != current
    ]


def _activation_readings() -> list[Reading]:
    return [
        Reading(
            "tie",
            "matches ties going to −1 at the activation threshold (R > 0.5 - v); "
            "eq. (9) gives +1 at R = 0.5 - v (conventions.md #2)",
            {"activation_tie": "-1"},
        ),
        Reading(
            "threshold_form",
            "matches deciding by clip(R + v, 0, 1) >= 0.5 in floating point: R + v is "
            "rounded, so near the threshold it differs from abcref's comparator "
            "R >= fl(0.5 - v) (section 5.3, conventions.md #2)",
            {"threshold_form": "clip(R + v, 0, 1) >= 0.5"},
        ),
        Reading(
            "threshold_form",
            "matches eq. (9) in exact arithmetic (+1 iff R + v >= 0.5 exactly); abcref's H_v is "
            "the comparator R >= fl(0.5 - v) (section 5.3), which differs within an ulp of the "
            f"threshold: {HV_EXAMPLE} (conventions.md #2)",
            {"threshold_form": "exact"},
        ),
    ]


def _pad_readings(kw, *, binary: bool) -> list[Reading]:
    if kw.get("padding", 0) in (0, [0, 0]):
        return []
    current = int(kw.get("pad_value", 0))
    where = "the border of the binary activations, pad_value" if binary else "pad_value"
    return [
        Reading(
            "pad",
            f"matches padding with {_signed(pad)} instead of {_signed(current)} ({where}; "
            "conventions.md #10)",
            {"pad_value": pad},
        )
        for pad in (0, -1, 1)
        if pad != current
    ]


def readings_for(case: dict, *, float64_inputs: bool) -> list[Reading]:
    """Every reading that applies to ``case`` (its manifest entry).

    ``float64_inputs``: the case's float inputs are float64, so that a
    float32 computation is a distinct reading.
    """
    fn, kw = case["function"], case["kwargs"]
    binary_acts = fn == _ACT_FUNC or (fn in _ABC_FUNCS and "v" in case["inputs"])
    out = []
    if fn in _WEIGHT_FUNCS:
        out += _weight_readings(kw)
    if fn == "abcref.binarize.abc_conv2d_backward":
        out += _weight_ste_readings(kw)
        if binary_acts:
            out.append(
                Reading(
                    "ste_mask",
                    "matches the STE mask 1[0 <= R - v <= 1] (eq. 10 as printed); abcref uses "
                    "1[0 <= R + v <= 1], where h_v(R) = clip(R + v, 0, 1) is not saturated "
                    "(conventions.md #8)",
                    {"ste_mask": "R - v"},
                )
            )
    if binary_acts:
        out += _activation_readings()
    if fn in _ABC_FUNCS and binary_acts:
        out += _pad_readings(kw, binary=True)
    if fn == _XNOR_FUNC:
        out += _pad_readings(kw, binary=False)
    if fn == _FOLD_FUNC:
        out.append(
            Reading(
                "bn_flip",
                "matches the section 5.3 rule as printed, +1 iff R >= (0.5 - v - b)/a, for a < 0 "
                "too: dividing by a < 0 flips the comparison to R <= (0.5 - v - b)/a "
                "(conventions.md #12)",
                {"flip_negative_scale": False},
            )
        )
    if float64_inputs and fn != _XNOR_FUNC:
        out.append(
            Reading(
                "precision",
                "matches a float32 computation: your outputs agree with this case computed in "
                "float32 (within float32 tolerances), not with its float64 result; compute in "
                "the dtype of the inputs (float64)",
                {PRECISION: "float32"},
            )
        )
    return out
