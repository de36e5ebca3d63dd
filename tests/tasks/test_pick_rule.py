"""The pick rule: fastest arm within the margin of the reference mIoU, deterministic ties."""

from __future__ import annotations

import random

import pytest

from tasks.selection import Candidate, PickError, choose, render_decision
from tasks.specs import PickRule


def cand(arm: str, miou: float, latency: float, params: float = 3.0) -> Candidate:
    return Candidate(
        arm=arm, arch=arm.split("-")[0], run_id=f"run-{arm}", miou=miou,
        latency_ms=latency, params_m=params, lr=3e-4, epochs=13, version=str(len(arm)),
    )  # fmt: skip


ARMS = [
    cand("vit_t", 0.708, 30.0, 5.74),
    cand("resnet18", 0.693, 10.0, 14.78),
    cand("gmf_33124", 0.708, 25.0, 5.63),
    cand("gmf_2282", 0.703, 18.0, 3.58),
    cand("gmf_2282-lr1e-3", 0.705, 18.0, 3.58),
]


def test_fastest_within_margin_of_the_teacher() -> None:
    decision = choose(ARMS, PickRule(margin=0.015), teacher_miou=0.716)
    assert decision.reference == "teacher"
    assert set(decision.eligible) == {"vit_t", "gmf_33124", "gmf_2282", "gmf_2282-lr1e-3"}
    # gmf_2282 and gmf_2282-lr1e-3 are equally fast: the higher mIoU wins
    assert decision.chosen.arm == "gmf_2282-lr1e-3"
    assert decision.within_margin


def test_same_runs_in_any_order_give_the_same_choice() -> None:
    rule = PickRule(margin=0.02)
    expected = choose(ARMS, rule, 0.716)
    for seed in range(5):
        shuffled = ARMS[:]
        random.Random(seed).shuffle(shuffled)
        assert choose(shuffled, rule, 0.716) == expected


def test_full_ties_go_to_fewer_params_then_the_name() -> None:
    same = [cand("b_arm", 0.7, 10.0, 3.0), cand("a_arm", 0.7, 10.0, 3.0), cand("c", 0.7, 10.0, 2.0)]
    assert choose(same, PickRule(), None).chosen.arm == "c"
    assert choose(same[:2], PickRule(), None).chosen.arm == "a_arm"


def test_best_arm_is_the_reference_without_a_teacher_score() -> None:
    decision = choose(ARMS, PickRule(margin=0.004, reference="teacher"), teacher_miou=None)
    assert decision.reference == "best"
    assert decision.reference_miou == pytest.approx(0.708)
    assert decision.chosen.arm == "gmf_2282-lr1e-3"  # 0.705 >= 0.704, and fastest of those
    by_best = choose(ARMS, PickRule(margin=0.004, reference="best"), teacher_miou=0.716)
    assert by_best.reference == "best" and by_best.chosen.arm == "gmf_2282-lr1e-3"


def test_no_arm_within_margin_takes_the_most_accurate() -> None:
    decision = choose(ARMS, PickRule(margin=0.0), teacher_miou=0.9)
    assert not decision.within_margin and decision.eligible == []
    assert decision.chosen.arm == "gmf_33124"  # 0.708 like vit_t, but faster


def test_no_candidates_is_an_error() -> None:
    with pytest.raises(PickError, match="no candidate"):
        choose([], PickRule(), None)


def test_decision_lists_every_candidate_and_says_why() -> None:
    rule = PickRule(margin=0.015)
    decision = choose(ARMS, rule, 0.716)
    text = render_decision(decision, ARMS, rule, "gms-encoder", "parent123")
    assert "`gms-encoder@champion`" in text and "parent123" in text
    for arm in ARMS:
        assert f"| {arm.arm} |" in text
    assert "fastest of the 4 arm(s) within the margin" in text
    assert "| resnet18 | resnet18 | 3e-4 | 13 | 0.6930 | 10.00 | 14.78M | 8 | no |" in text
