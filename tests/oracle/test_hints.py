"""Tests of abcref.oracle.hints: each hint fires on outputs of that other convention.

The "other implementation" outputs are computed here either by abcref
with a different option or by a few explicit lines of NumPy, never by
abcref.oracle.variants (which the checker uses to find the hint).
"""

from fractions import Fraction

import numpy as np
import pytest
import scipy.linalg

from abcref.binarize import abc_conv2d_backward, abc_conv2d_forward, approximate_weights
from abcref.bitpack import xnor_conv2d
from abcref.ops import conv2d_backward, conv2d_forward
from abcref.oracle import check_against, export_suite, load_arrays, load_manifest, write_arrays

CASES = [
    "weights_whole_M3_ddof0",
    "weights_channel_M3_ddof0",
    "weights_whole_sign0",
    "weights_whole_M5_ridge1",
    "activations_dyadic_float32",
    "activations_decimal_float32",
    "abc_paper_s1_p1",
    "abc_channel_paper",
    "abc_sign0",
    "xnor_c3_p1_zero",
    "xnor_c5_p1_plus1",
    "bn_fold_mixed_sign_float64",
]


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    directory = tmp_path_factory.mktemp("hint_suite")
    export_suite(directory, cases=CASES)
    return directory


def _case(suite, name):
    case = next(c for c in load_manifest(suite)["cases"] if c["name"] == name)
    return case, load_arrays(suite / case["file"])


def _hints_for(suite, tmp_path, name, outputs):
    """Write ``outputs`` as the other implementation's file; return the case report."""
    write_arrays(tmp_path / f"{name}.npz", outputs)
    report = check_against(suite, tmp_path, cases=[name])
    (result,) = report.cases
    assert result.status == "FAIL", report.format()
    return result, "\n".join(result.hints), report.format()


def _abc(a, **overrides):
    kw = {k: v for k, v in a["kwargs"].items()}
    kw.update(overrides)
    inputs = a["arrays"]
    out, cache = abc_conv2d_forward(inputs["x"], inputs["W"], inputs["v"], inputs["beta"], **kw)
    g = abc_conv2d_backward(inputs["dout"], cache)
    return {"out": out, "dx": g["R"], "dW": g["W"], "dv": g["v"], "dbeta": g["beta"]}


def _abc_case(suite, name):
    case, arrays = _case(suite, name)
    return {"kwargs": case["kwargs"], "arrays": arrays}


# -- weights -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["weights_whole_M3_ddof0", "weights_channel_M3_ddof0"])
def test_ddof_hint(suite, tmp_path, name):
    case, a = _case(suite, name)
    B, alphas = approximate_weights(a["W"], 3, ddof=1, per_channel=case["kwargs"]["per_channel"])
    _, hints, text = _hints_for(suite, tmp_path, name, {"B": B, "alphas": alphas})
    assert "matches ddof=1" in hints
    assert f"FAIL    {name}" in text and "B: MISMATCH" in text


def test_sign_zero_hint(suite, tmp_path):
    _, a = _case(suite, "weights_whole_sign0")
    W = a["W"]
    z = np.stack([W - W.mean() + u * W.std() for u in (-1.0, 0.0, 1.0)])
    B = np.sign(z)  # the framework sign: 0 -> 0
    assert (B == 0).any()
    alphas = np.linalg.lstsq(B.reshape(3, -1).T, W.ravel(), rcond=None)[0]
    _, hints, _ = _hints_for(suite, tmp_path, "weights_whole_sign0", {"B": B, "alphas": alphas})
    assert "sign(0) = 0 somewhere (zeros in bases)" in hints
    assert "B holds 0 at" in hints


def test_ridge_hint(suite, tmp_path):
    _, a = _case(suite, "weights_whole_M5_ridge1")
    B, alphas = approximate_weights(a["W"], 5, ridge=0.0)
    _, hints, _ = _hints_for(
        suite, tmp_path, "weights_whole_M5_ridge1", {"B": B, "alphas": alphas}
    )
    assert "matches ordinary least squares without ridge" in hints


def test_intercept_hint(suite, tmp_path):
    _, a = _case(suite, "weights_whole_M3_ddof0")
    B = a["B"]
    design = np.hstack([B.reshape(3, -1).T, np.ones((B[0].size, 1))])
    alphas = scipy.linalg.lstsq(design, a["W"].ravel())[0][:3]
    result, hints, _ = _hints_for(
        suite, tmp_path, "weights_whole_M3_ddof0", {"B": B, "alphas": alphas}
    )
    assert "α differs by a constant intercept" in hints
    assert [o.name for o in result.outputs if not o.ok] == ["alphas"]


def test_base_order_hint(suite, tmp_path):
    _, a = _case(suite, "weights_whole_M3_ddof0")
    outputs = {"B": a["B"][::-1], "alphas": a["alphas"][::-1]}
    _, hints, _ = _hints_for(suite, tmp_path, "weights_whole_M3_ddof0", outputs)
    assert "B holds abcref's bases in another order (yours[m] = abcref's[[2, 1, 0][m]])" in hints


# -- activations -------------------------------------------------------------------------------
def test_tie_hint(suite, tmp_path):
    _, a = _case(suite, "activations_dyadic_float32")
    R, v = a["R"], a["v"]
    A = np.stack([np.where(R > np.float32(0.5) - vn, 1, -1) for vn in v]).astype(np.float32)
    _, hints, _ = _hints_for(suite, tmp_path, "activations_dyadic_float32", {"A": A})
    assert "matches ties going to −1 at the activation threshold" in hints


def test_clip_form_hint(suite, tmp_path):
    _, a = _case(suite, "activations_decimal_float32")
    R, v = a["R"], a["v"]
    A = np.stack([np.where(np.clip(R + vn, 0, 1) >= 0.5, 1, -1) for vn in v]).astype(np.float32)
    _, hints, _ = _hints_for(suite, tmp_path, "activations_decimal_float32", {"A": A})
    assert "clip(R + v, 0, 1) >= 0.5 in floating point" in hints


def test_bits_instead_of_signs_hint(suite, tmp_path):
    _, a = _case(suite, "activations_dyadic_float32")
    _, hints, _ = _hints_for(
        suite, tmp_path, "activations_dyadic_float32", {"A": (a["A"] > 0).astype(np.uint8)}
    )
    assert "A holds only 0 and 1" in hints


# -- the ABC convolution -----------------------------------------------------------------------
@pytest.mark.parametrize("ste", ["sum", "identity"])
def test_weight_ste_hint(suite, tmp_path, ste):
    outputs = _abc(_abc_case(suite, "abc_paper_s1_p1"), weight_ste=ste)
    result, hints, _ = _hints_for(suite, tmp_path, "abc_paper_s1_p1", outputs)
    assert f"matches weight_ste='{ste}'" in hints
    assert [o.name for o in result.outputs if not o.ok] == ["dW"]


def test_weight_ste_hint_channel_wise(suite, tmp_path):
    outputs = _abc(_abc_case(suite, "abc_channel_paper"), weight_ste="sum")
    _, hints, _ = _hints_for(suite, tmp_path, "abc_channel_paper", outputs)
    assert "matches weight_ste='sum'" in hints


def test_ddof_hint_on_conv(suite, tmp_path):
    outputs = _abc(_abc_case(suite, "abc_paper_s1_p1"), ddof=1)
    _, hints, _ = _hints_for(suite, tmp_path, "abc_paper_s1_p1", outputs)
    assert "matches ddof=1" in hints


def test_printed_ste_mask_hint(suite, tmp_path):
    """dx and dv with the mask 1[0 <= R - v <= 1] of eq. (10) as printed."""
    a = _abc_case(suite, "abc_paper_s1_p1")
    outputs = _abc(a)
    x, v, beta, dout = (a["arrays"][k] for k in ("x", "v", "beta", "dout"))
    # dc/dR_tilde through the conv with W_tilde, recomputed from abcref's ops.
    B, alphas = approximate_weights(a["arrays"]["W"], 3)
    W_tilde = np.tensordot(alphas, B, axes=(0, 0))
    R_tilde = sum(b * np.where(x >= 0.5 - vn, 1.0, -1.0) for vn, b in zip(v, beta, strict=True))
    _, cache = conv2d_forward(R_tilde, W_tilde, padding=1)
    dR_tilde, _, _ = conv2d_backward(dout, cache)
    masks = [(x - vn >= 0) & (x - vn <= 1) for vn in v]
    outputs["dx"] = sum(b * dR_tilde * m for b, m in zip(beta, masks, strict=True))
    outputs["dv"] = np.array([(b * dR_tilde * m).sum() for b, m in zip(beta, masks, strict=True)])
    result, hints, _ = _hints_for(suite, tmp_path, "abc_paper_s1_p1", outputs)
    assert "matches the STE mask 1[0 <= R - v <= 1] (eq. 10 as printed)" in hints
    assert sorted(o.name for o in result.outputs if not o.ok) == ["dv", "dx"]


@pytest.mark.parametrize("pad", [-1.0, 1.0])
def test_padding_hint_on_conv(suite, tmp_path, pad):
    outputs = _abc(_abc_case(suite, "abc_paper_s1_p1"), pad_value=pad)
    _, hints, _ = _hints_for(suite, tmp_path, "abc_paper_s1_p1", outputs)
    assert f"matches padding with {int(pad):+d} instead of 0" in hints


def test_sign_zero_hint_on_conv(suite, tmp_path):
    a = _abc_case(suite, "abc_sign0")
    x, W, v, beta = (a["arrays"][k] for k in ("x", "W", "v", "beta"))
    B = np.sign(np.stack([W - W.mean() + u * W.std() for u in (-1.0, 0.0, 1.0)]))
    alphas = scipy.linalg.lstsq(
        np.vstack([B.reshape(3, -1).T, 1e-3 * np.eye(3)]), np.r_[W.ravel(), np.zeros(3)]
    )[0]
    W_tilde = np.tensordot(alphas, B, axes=(0, 0))
    R_tilde = sum(b * np.where(x >= 0.5 - vn, 1.0, -1.0) for vn, b in zip(v, beta, strict=True))
    out, _ = conv2d_forward(R_tilde, W_tilde, padding=1)
    _, hints, _ = _hints_for(suite, tmp_path, "abc_sign0", {"out": out})
    assert "sign(0) = 0 somewhere" in hints


def test_two_differences_at_once(suite, tmp_path):
    outputs = _abc(_abc_case(suite, "abc_paper_s1_p1"), ddof=1, weight_ste="sum")
    result, hints, _ = _hints_for(suite, tmp_path, "abc_paper_s1_p1", outputs)
    # out, dx, dv, dbeta need only ddof=1; dW = (sum alpha) G needs both readings.
    single = [h for h in result.hints if "together with" not in h]
    assert any(h.startswith("matches ddof=1") and "dx" in h for h in single)
    paired = [h for h in result.hints if "together with" in h]
    assert any("ddof=1" in h and "weight_ste='sum'" in h and "[outputs: dW]" in h for h in paired)


def test_identity_ste_with_ddof_is_two_separate_hints(suite, tmp_path):
    # G = dc/dW_tilde does not depend on the bases, so dW alone shows identity.
    outputs = _abc(_abc_case(suite, "abc_paper_s1_p1"), ddof=1, weight_ste="identity")
    _, hints, _ = _hints_for(suite, tmp_path, "abc_paper_s1_p1", outputs)
    assert "matches ddof=1" in hints and "matches weight_ste='identity'" in hints


def test_unexplained_mismatch_has_no_hint(suite, tmp_path):
    outputs = _abc(_abc_case(suite, "abc_paper_s1_p1"))
    outputs["dbeta"] = outputs["dbeta"] * 1.01
    result, _, _ = _hints_for(suite, tmp_path, "abc_paper_s1_p1", outputs)
    assert result.hints == []


# -- bit level ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "pad", "text"),
    [
        ("xnor_c3_p1_zero", 1, "matches padding with +1 instead of 0"),
        ("xnor_c3_p1_zero", -1, "matches padding with -1 instead of 0"),
        ("xnor_c5_p1_plus1", 0, "matches padding with 0 instead of +1"),
    ],
)
def test_xnor_padding_hint(suite, tmp_path, name, pad, text):
    case, a = _case(suite, name)
    out = xnor_conv2d(
        a["a"],
        a["b"],
        stride=case["kwargs"]["stride"],
        padding=case["kwargs"]["padding"],
        pad_value=pad,
    )
    _, hints, _ = _hints_for(suite, tmp_path, name, {"out": out})
    assert text in hints


def test_bn_fold_negative_scale_hint(suite, tmp_path):
    _, a = _case(suite, "bn_fold_mixed_sign_float64")
    R, sa, sb, v = a["R"], a["a"], a["b"], a["v"]
    outputs = {k: a[k] for k in ("direction", "thresholds", "constant")}
    A = []
    for vn in v:
        with np.errstate(divide="ignore"):
            t = ((0.5 - vn - sb) / sa)[None, :, None, None]
        as_printed = np.where(
            sa[None, :, None, None] == 0, sb[None, :, None, None] >= 0.5 - vn, R >= t
        )
        A.append(np.where(as_printed, 1, -1))
    outputs["A"] = np.stack(A).astype(np.int8)
    result, hints, _ = _hints_for(suite, tmp_path, "bn_fold_mixed_sign_float64", outputs)
    assert "matches the section 5.3 rule as printed" in hints
    assert [o.name for o in result.outputs if not o.ok] == ["A"]


# -- H_v: the comparator, not eq. (9) taken literally ---------------------------------------
@pytest.fixture(scope="module")
def comparator_suite(tmp_path_factory):
    directory = tmp_path_factory.mktemp("comparator_suite")
    export_suite(directory, cases=["activations_comparator_*"])
    return directory


def _exact_eq9(R, v):
    """+1 iff R + v_n >= 0.5 in exact (rational) arithmetic."""
    half = Fraction(1, 2)
    return np.stack(
        [
            np.array(
                [Fraction(float(r)) + Fraction(float(vn)) >= half for r in R.ravel()]
            ).reshape(R.shape)
            for vn in v
        ]
    )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_eq9_in_exact_arithmetic_is_named(comparator_suite, tmp_path, dtype):
    name = f"activations_comparator_{dtype}"
    _, a = _case(comparator_suite, name)
    A = np.where(_exact_eq9(a["R"], a["v"]), 1, -1).astype(a["R"].dtype)
    result, _, _ = _hints_for(comparator_suite, tmp_path, name, {"A": A})
    assert len(result.hints) == 1
    assert result.hints[0].startswith(
        "matches eq. (9) in exact arithmetic (+1 iff R + v >= 0.5 exactly); abcref's H_v is the "
        "comparator R >= fl(0.5 - v) (section 5.3)"
    )
    assert (
        "H_v([0.7], -0.2) = +1 in float64 although 0.7 + (-0.2) < 0.5 exactly" in (result.hints[0])
    )


def test_the_documented_example_is_in_the_case(comparator_suite):
    case, a = _case(comparator_suite, "activations_comparator_float64")
    at = np.flatnonzero(a["R"].ravel() == 0.7)
    assert at.size and a["v"][0] == -0.2
    assert (a["A"][0].ravel()[at] == 1).all()  # H_v(0.7, -0.2) = +1 ...
    assert not _exact_eq9(np.array([0.7]), np.array([-0.2])).any()  # ... though 0.7 - 0.2 < 0.5
    assert "0.7 + (-0.2) < 0.5 exactly" in case["conventions"]["H_v"]
    assert case["conventions"]["H_v"].startswith("H_v(R) is the comparator R >= fl(0.5 - v)")
