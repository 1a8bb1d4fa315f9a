"""Tests of the computed sentences of the results blocks (apps.reporting, reproduce_report)."""

from __future__ import annotations

import numpy as np

from abcref.apps.compare.table3 import ordering_sentences
from abcref.apps.reporting import Gap, describe_machine, machine, took
from abcref.apps.reproduce_report import trend_sentences
from abcref.apps.results import MNGrid


def test_gap_says_who_is_higher_by_how_much_and_whether_the_seeds_explain_it():
    beyond = Gap("(1, 3)", 0.9639, 0.0121, "(3, 1)", 0.9454, 0.0098)
    assert round(100 * beyond.difference, 2) == 1.85 and round(100 * beyond.spread, 2) == 2.19
    assert beyond.within_spread and beyond.verdict() == "within the spread"
    assert (
        beyond.sentence()
        == "(1, 3) is 1.85 points above (3, 1) (96.39 vs 94.54, within the spread)"
    )
    below = Gap("a", 0.90, 0.001, "b", 0.95, 0.002)
    assert below.sentence() == "a is 5.00 points below b (90.00 vs 95.00, beyond the spread)"
    assert Gap("a", 0.5, 0.1, "b", 0.5, 0.2).sentence() == "a and b are level (50.00)"
    one_seed = Gap("a", 0.6, float("nan"), "b", 0.5, float("nan"))
    assert one_seed.verdict() == "one seed, no spread" and not one_seed.has_spread
    # the boundary: a difference equal to the summed spreads is within it
    assert Gap("a", 0.75, 0.125, "b", 0.5, 0.125).within_spread


def test_a_difference_below_one_test_image_is_never_beyond_the_spread():
    # 99.35 vs 99.17 on 360 images: 0.19 points, less than one image (0.28),
    # although the two seed spreads add up to only 0.16 points.
    gap = Gap("ABC (3, 3)", 0.99352, 0.0016, "FP", 0.99167, 0.0, 1 / 360)
    assert gap.within_spread and gap.spread == 1 / 360
    assert gap.sentence().endswith("(99.35 vs 99.17, within the spread)")
    assert not Gap("a", 0.99352, 0.0016, "b", 0.99167, 0.0).within_spread  # no floor given


def _grid(mean, std, fp=(0.95, 0.01)):
    mean, std = np.asarray(mean, float), np.asarray(std, float)
    return MNGrid([1, 3, 5], [1, 3, 5], mean, std, [[None] * 3] * 3, fp)


def test_trend_sentences_follow_the_numbers():
    std = np.full((3, 3), 0.001)
    rising = _grid([[0.80, 0.90, 0.93], [0.85, 0.92, 0.94], [0.86, 0.93, 0.95]], std)
    sentences = trend_sentences(rising)
    assert sentences[0] == "Accuracy rises with N at every M."
    assert sentences[1] == "Accuracy rises with M at every N."
    assert sentences[2] == (
        "(1, 3) is 5.00 points above (3, 1) (90.00 vs 85.00, beyond the spread); (1, 5) is "
        "7.00 points above (5, 1) (93.00 vs 86.00, beyond the spread): more binary activations "
        "help more than more weight bases."
    )
    assert sentences[3] == (
        "(5, 5), the largest and best ABC configuration, and full precision are level (95.00)."
    )
    # a dip, a reversed pair, and a best cell that is not the largest
    mixed = _grid([[0.80, 0.90, 0.93], [0.95, 0.96, 0.97], [0.86, 0.97, 0.96]], std)
    sentences = trend_sentences(mixed)
    assert sentences[0] == (
        "Accuracy rises with N at every M except at one of the 6 steps: (5, 5) is 1.00 points "
        "below (5, 3) (96.00 vs 97.00, beyond the spread)."
    )
    assert sentences[1].startswith("Accuracy rises with M at every N except at 2 of the 6 steps")
    assert sentences[2].endswith(
        "more binary activations do not always help more than more weight bases."
    )
    assert sentences[3].startswith("(5, 5), the largest ABC configuration, is 1.00 points above")
    assert sentences[4].startswith("(3, 5), the best ABC configuration, is 2.00 points above")


def _row(label, a, paper, mean, std):
    return {
        "label": label,
        "A": a,
        "paper_top1": paper,
        "test_top1_mean": mean,
        "test_top1_std": std,
    }


def test_ordering_sentences_count_agreements_and_name_disagreements():
    rows = [
        _row("FP", "32", 69.3, 0.99, 0.001),
        _row("XNOR-Net", "1", 51.2, 0.95, 0.001),
        _row("BNN", "1", 42.2, 0.96, 0.001),
        _row("ABC M=5, N=5", "1 (x5)", 65.0, 0.98, 0.001),
    ]
    sentences = ordering_sentences(rows)
    assert sentences[0] == (
        "Of the 6 pairs of systems the paper ranks, the measurement orders 5 as the paper does "
        "(5 of them beyond the spread) and 1 the other way or level (1 beyond the spread)."
    )
    assert sentences[1] == (
        "The paper has XNOR-Net above BNN (51.2 vs 42.2); here XNOR-Net is 1.00 points below BNN "
        "(95.00 vs 96.00, beyond the spread)."
    )
    assert sentences[2] == (
        "Several binary activations (ABC M=5, N=5) against one (XNOR-Net, BNN), the paper's "
        "central claim: the system with several is above in 2 of the 2 pairs, by 2.00 to 3.00 "
        "points, 2 of them beyond the spread."
    )


def test_the_run_record_names_the_machine():
    info = machine()
    assert info["cores"] >= 1 and info["numpy"] == np.__version__
    record = {"command": "abcref reproduce", "seconds": 81.6, "machine": info}
    assert (
        took(record) == f"`abcref reproduce` took 82 s on this machine ({describe_machine(info)})."
    )
    assert took({**record, "resumed": True}).startswith(
        "`abcref reproduce` continued an interrupted run; that part took 82 s"
    )
