"""Every classic porting mistake is named by its hint, and a correct port gets none.

tests/oracle/_port.py is an independent NumPy port of the suite's
functions; each mistake of its MISTAKES table is planted one at a time,
the port runs the whole suite, and every case it fails must carry the
hint that names that mistake, and no other hint (no false hints).
"""

import numpy as np
import pytest

from abcref.oracle import check_against, load_arrays, write_arrays
from tests.oracle._port import MISTAKES, Port
from tests.oracle._suite import case_of

#: mistake -> the start of the hint that must name it on every failing case.
HINTS = {
    "ddof1": "matches ddof=1 (std(W) with Bessel's correction, torch.std's default",
    "alpha_sum": "matches weight_ste='sum' (dW = (Σ α_m)·G; this case uses weight_ste='paper'",
    "printed_mask": "matches the STE mask 1[0 <= R - v <= 1] (eq. 10 as printed)",
    "intercept": "α differs by a constant intercept",
    "tie_minus": "matches ties going to −1 at the activation threshold (R > 0.5 - v)",
    "pad_minus1": "matches padding with -1 instead of ",
    "sign0_plus": "matches sign(0) = +1 (bases +1 where W - mean + u*std >= 0",
    "m1_nan": "matches the M = 1 shift u = [NaN], what -1 + 2(i - 1)/(M - 1) gives (0/0)",
    "m1_minus1": "matches the M = 1 shift u = [-1], what linspace(-1, 1, 1) returns",
    "float32": "matches a float32 computation: your outputs agree with this case computed in "
    "float32",
}
SCOPE = {
    False: "matches channel-wise alphas (per_channel=True: mean, std and alphas per output "
    "channel, section 3.1.2); this case is whole-layer",
    True: "matches whole-layer alphas (per_channel=False: one mean, std and alpha set for the "
    "layer, section 3.1.1); this case is channel-wise",
}


def _run(suite, tmp_path, mistake):
    out = tmp_path / (mistake or "correct")
    Port(mistake).run_suite(suite, out)
    return check_against(suite, out)


def test_correct_port_passes_every_case_with_no_hint(suite, tmp_path):
    report = _run(suite, tmp_path, None)
    assert report.ok, report.format()
    assert all(c.status == "PASS" and not c.hints for c in report.cases)
    assert report.warnings == [] and all(not c.warnings for c in report.cases)


@pytest.mark.parametrize("mistake", sorted(HINTS))
def test_each_mistake_is_named_on_every_case_it_fails(suite, tmp_path, mistake):
    report = _run(suite, tmp_path, mistake)
    failed = [c for c in report.cases if not c.ok]
    assert failed, f"{MISTAKES[mistake]} passed the whole suite"
    for case in failed:
        assert case.status == "FAIL", report.format()
        assert [h[: len(HINTS[mistake])] for h in case.hints] == [HINTS[mistake]], (
            case.name,
            case.hints,
        )


def test_scope_swap_is_named_by_values_and_by_shape(suite, tmp_path):
    report = _run(suite, tmp_path, "scope_swap")
    failed = {c.name: c for c in report.cases if not c.ok}
    assert any(n.startswith("abc_") for n in failed) and any(
        n.startswith("weights_") for n in failed
    )
    for name, case in failed.items():
        per_channel = case_of(suite, name)["kwargs"]["per_channel"]
        values = [h for h in case.hints if h.startswith(SCOPE[per_channel])]
        assert len(values) == 1, (name, case.hints)
        shape = [h for h in case.hints if h.startswith("alphas has shape")]
        assert len(values) + len(shape) == len(case.hints), (name, case.hints)
        assert len(shape) == (name.startswith("weights_"))
    assert failed["weights_whole_M3_ddof0"].hints[0] == (
        "alphas has shape [4, 3], (C_out, M): one alpha set per output channel, i.e. "
        "channel-wise (section 3.1.2); this case is whole-layer, alphas of shape (M,) = [3] "
        "(conventions.md #6)"
    )
    assert failed["weights_channel_M3_ddof0"].hints[0] == (
        "alphas has shape [3], (M,): one alpha set for the whole layer (section 3.1.1); this "
        "case is channel-wise, alphas of shape (C_out, M) = [4, 3] (conventions.md #6)"
    )


def test_sign_of_zero_plus_one_is_not_taken_for_bits(suite, tmp_path):
    """Constant W: every base is -1; with sign(0) = +1 every base is +1, which is not 'bits'."""
    report = _run(suite, tmp_path, "sign0_plus")
    case = next(c for c in report.cases if c.name == "weights_whole_constant")
    assert not any("0 and 1" in h for h in case.hints)
    assert case.hints[0].startswith(HINTS["sign0_plus"])
    assert case.hints[0].endswith("[outputs: B, alphas]")


def test_m1_nan_bases_are_named(suite, tmp_path):
    """A port whose sign keeps NaN (np.sign) writes NaN bases for M = 1: named too."""
    W = load_arrays(suite / "weights_whole_M1.npz")["W"]
    B = np.sign(W - W.mean() + np.nan * W.std())[None]
    write_arrays(tmp_path / "weights_whole_M1.npz", {"B": B, "alphas": np.full(1, np.nan)})
    (case,) = check_against(suite, tmp_path, cases=["weights_whole_M1"]).cases
    assert case.hints == [
        "NaN in B, alphas: for M = 1 the shift -1 + 2(i - 1)/(M - 1) is 0/0 = NaN; eq. (2)'s "
        "evenly spaced shifts give u = [0] for M = 1, the plain sign(W - mean) base "
        "(conventions.md #4)"
    ]


def test_float32_port_gets_no_ridge_hint(suite, tmp_path):
    report = _run(suite, tmp_path, "float32")
    assert not any("ridge" in h for c in report.cases for h in c.hints)
    # the float32 cases themselves are computed in float32 by abcref too: they pass
    assert all(c.ok for c in report.cases if "float32" in c.name)
