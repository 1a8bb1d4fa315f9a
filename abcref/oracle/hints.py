"""Explain a mismatch by a known convention difference.

Implementations of ABC-Net disagree on a handful of points the paper
leaves open (``docs/conventions.md``). When another implementation's
output fails, :func:`explain` recomputes the case under each alternative
reading with :mod:`abcref.oracle.variants` and reports those whose
result the other arrays match, within the case's tolerance. Readings
that explain nothing alone are also tried in pairs, because a port
often carries two such differences.

Three hints need no recomputation: a ``+-1`` output holding zeros
(``sign(0) = 0``), one holding only 0 and 1 (bits stored instead of
signs), and weight bases that are abcref's in another order.
"""

from __future__ import annotations

import itertools

import numpy as np

from abcref.oracle.functions import FUNCTIONS
from abcref.oracle.tolerance import within_tolerance

_WEIGHT_FUNCS = (
    "abcref.binarize.approximate_weights",
    "abcref.binarize.abc_conv2d_forward",
    "abcref.binarize.abc_conv2d_backward",
)
_ABC_FUNCS = _WEIGHT_FUNCS[1:]
_SIGN_OUTPUTS = ("B", "A")  # outputs that hold only +1 / -1


def _signed(value: int) -> str:
    return "0" if value == 0 else f"{value:+d}"


def _alternatives(case: dict) -> list[tuple[str, str, dict]]:
    """``(family, text, overrides)`` for every alternative that applies to ``case``."""
    fn, kw = case["function"], case["kwargs"]
    binary_acts = fn == "abcref.binarize.binarize_activations" or (
        fn in _ABC_FUNCS and "v" in case["inputs"]
    )
    alts = []
    if fn in _WEIGHT_FUNCS:
        ddof = kw.get("ddof", 0)
        alt = 1 if ddof == 0 else 0
        why = "Bessel's correction, torch.std's default" if alt else "population std"
        alts.append(
            (
                "ddof",
                f"matches ddof={alt} (std(W) with {why}; this case uses "
                f"ddof={ddof}, conventions.md #3)",
                {"ddof": alt},
            )
        )
        alts.append(
            (
                "sign0",
                "sign(0) = 0 somewhere (zeros in bases): np.sign/torch.sign map 0 to 0; abcref's "
                "bases are +1 where W - mean + u*std > 0, else -1 (conventions.md #1)",
                {"sign_of_zero": 0},
            )
        )
        ridge = kw.get("ridge", 0.0)
        if ridge > 0:
            alts.append(
                (
                    "ridge",
                    "matches ordinary least squares without ridge (ridge=0); "
                    f"this case solves eq. (3) with ridge={ridge:g} (conventions.md #5)",
                    {"ridge": 0.0},
                )
            )
        else:
            from abcref.binarize.weights import DEFAULT_RIDGE

            alts.append(
                (
                    "ridge",
                    f"matches ridge={DEFAULT_RIDGE:g} (abcref's default); this "
                    "case solves plain least squares, ridge=0 (conventions.md #5)",
                    {"ridge": DEFAULT_RIDGE},
                )
            )
        alts.append(
            (
                "intercept",
                "α differs by a constant intercept: matches a fit w ≈ Bα + c with an extra "
                "constant column (e.g. fit_intercept=True in a regression library); "
                "eq. (3) has none",
                {"alpha_fit": "intercept"},
            )
        )
    if fn == "abcref.binarize.abc_conv2d_backward":
        current = kw.get("weight_ste", "paper")
        formulas = {"paper": "(Σ α_m²)·G", "sum": "(Σ α_m)·G", "identity": "G"}
        for alt in ("paper", "sum", "identity"):
            if alt != current:
                alts.append(
                    (
                        "weight_ste",
                        f"matches weight_ste='{alt}' (dW = {formulas[alt]}; "
                        f"this case uses weight_ste='{current}', dW = {formulas[current]}, "
                        "conventions.md #7)",
                        {"weight_ste": alt},
                    )
                )
        if binary_acts:
            alts.append(
                (
                    "ste_mask",
                    "matches the STE mask 1[0 <= R - v <= 1] (eq. 10 as printed); abcref uses "
                    "1[0 <= R + v <= 1], where h_v(R) = clip(R + v, 0, 1) is not saturated "
                    "(conventions.md #8)",
                    {"ste_mask": "R - v"},
                )
            )
    if binary_acts:
        alts.append(
            (
                "tie",
                "matches ties going to −1 at the activation threshold (R > 0.5 - v); "
                "eq. (9) gives +1 at R = 0.5 - v (conventions.md #2)",
                {"activation_tie": "-1"},
            )
        )
        alts.append(
            (
                "threshold_form",
                "matches deciding by clip(R + v, 0, 1) >= 0.5 in floating point: R + v is "
                "rounded, so near the threshold it differs from abcref's R >= 0.5 - v",
                {"threshold_form": "clip(R + v, 0, 1) >= 0.5"},
            )
        )
    if fn in _ABC_FUNCS and binary_acts:
        current = int(kw.get("pad_value", 0))
        for pad in (0, -1, 1):
            if pad != current and (kw.get("padding", 0) not in (0, [0, 0])):
                alts.append(
                    (
                        "pad",
                        f"matches padding with {_signed(pad)} instead of {_signed(current)} (the "
                        "border of the binary activations, pad_value; conventions.md #10)",
                        {"pad_value": pad},
                    )
                )
    if fn == "abcref.bitpack.thresholds.fold_batchnorm_exact":
        alts.append(
            (
                "bn_flip",
                "matches the section 5.3 rule as printed, +1 iff R >= (0.5 - v - b)/a, for a < 0 "
                "too: dividing by a < 0 flips the comparison to R <= (0.5 - v - b)/a "
                "(conventions.md #12)",
                {"flip_negative_scale": False},
            )
        )
    if fn == "abcref.bitpack.xnor_conv2d" and kw.get("padding", 0) not in (0, [0, 0]):
        current = int(kw.get("pad_value", 0))
        for pad in (0, -1, 1):
            if pad != current:
                alts.append(
                    (
                        "pad",
                        f"matches padding with {_signed(pad)} instead of {_signed(current)} "
                        "(pad_value, conventions.md #10)",
                        {"pad_value": pad},
                    )
                )
    return alts


def _base_order(ref: dict, other: dict, failing: list[str]) -> list[str]:
    """Hint when the other bases are abcref's bases in another order."""
    if "B" not in failing or "B" not in other or other["B"].shape != ref["B"].shape:
        return []
    mine, theirs = ref["B"], other["B"]
    order = []
    for m in range(theirs.shape[0]):
        same = [k for k in range(mine.shape[0]) if np.array_equal(theirs[m], mine[k])]
        if not same:
            return []
        order.append(same[0])
    if sorted(order) != list(range(mine.shape[0])):
        return []
    return [
        f"B holds abcref's bases in another order (yours[m] = abcref's[{order}[m]]): abcref "
        "orders B_i by increasing shift u_i = -1 ... +1, and alphas follow the same order"
    ]


def _structural(case, other: dict, failing: list[str]) -> list[str]:
    hints = []
    for name in failing:
        if name not in _SIGN_OUTPUTS or name not in other:
            continue
        values = np.unique(other[name])
        zeros = int(np.count_nonzero(other[name] == 0))
        if set(values.tolist()) <= {0, 1}:
            hints.append(f"{name} holds only 0 and 1: store signs as -1/+1, not bits")
        elif zeros:
            hints.append(
                f"sign(0) = 0 somewhere (zeros in bases): {name} holds 0 at {zeros} "
                "position(s); abcref's values are only +1 and -1 (conventions.md #1)"
            )
    return hints


def _matching(case, inputs, other, failing, overrides) -> list[str]:
    """Names of failing outputs that the variant with ``overrides`` reproduces."""
    spec = FUNCTIONS[case["function"]]
    try:
        alt = spec.variant(inputs, dict(case["kwargs"]), overrides)
    except (ValueError, TypeError, ArithmeticError, np.linalg.LinAlgError):
        return []  # this reading cannot even be computed on these inputs
    names = []
    for name in failing:
        if name not in other or name not in alt:
            continue
        a, o = np.asarray(alt[name]), other[name]
        tol = case["outputs"][name]
        if a.shape == o.shape and within_tolerance(a, o, tol["atol"], tol["rtol"]).all():
            names.append(name)
    return names


def explain(case: dict, ref: dict, other: dict, failing: list[str]) -> list[str]:
    """Hints for the ``failing`` outputs of ``case``.

    Parameters
    ----------
    case : dict
        The case's manifest entry.
    ref : dict
        The reference arrays (inputs and outputs).
    other : dict
        The other implementation's output arrays (only those with the
        right shape).
    failing : list of str
        Names of the outputs out of tolerance.

    Returns
    -------
    list of str
        Human-readable hints; empty when nothing known explains it.
    """
    failing = [n for n in failing if n in other]
    hints = _structural(case, other, failing) + _base_order(ref, other, failing)
    inputs = {k: ref[k] for k in case["inputs"]}
    alts = _alternatives(case)
    explained: set[str] = set()
    for _, text, overrides in alts:
        names = _matching(case, inputs, other, failing, overrides)
        if names:
            explained.update(names)
            hints.append(f"{text} [outputs: {', '.join(names)}]")
    rest = [n for n in failing if n not in explained]
    if rest:
        for (fam1, text1, ov1), (fam2, text2, ov2) in itertools.combinations(alts, 2):
            if fam1 == fam2:
                continue
            names = _matching(case, inputs, other, rest, {**ov1, **ov2})
            if names:
                hints.append(f"{text1}; together with: {text2} [outputs: {', '.join(names)}]")
    return hints
