"""The headline gaps: SFT − MU over the same queries, any-of-K, with a paired bootstrap interval."""

from __future__ import annotations

import pytest

from unmirage.eval.gaps import headline_gaps, paired_gap, unit_values


def _records(arm_verdicts: list[list[str]], split="unsafes@attack") -> list[dict]:
    """One record per shot: arm_verdicts[q] lists query q's shots."""
    return [{"split": split, "id": f"q{q}#attack{k}", "source_id": f"q{q}", "verdict": v}
            for q, shots in enumerate(arm_verdicts) for k, v in enumerate(shots)]


def test_a_query_counts_once_harmful_if_any_shot_is():
    values = unit_values(_records([["refusal", "harmful"], ["refusal", "refusal"], ["irrelevant", "irrelevant"]]),
                         "unsafes@attack", "harmful")
    assert values == {"q0": 1.0, "q1": 0.0, "q2": 0.0}


def test_the_gap_is_the_difference_of_shares_over_shared_queries():
    a = {f"q{i}": float(i < 6) for i in range(10)}
    b = {f"q{i}": float(i < 1) for i in range(10)} | {"extra": 1.0}
    g = paired_gap(a, b, seed=0)
    assert g["n"] == 10 and g["gap"] == pytest.approx(0.5)
    assert g["ci"][0] <= 0.5 <= g["ci"][1] and g["ci"][0] > 0  # five of ten queries differ, all one way
    assert paired_gap(a, {"other": 1.0}) is None


def test_identical_arms_have_a_zero_gap_with_a_zero_width_interval():
    a = {f"q{i}": float(i % 2) for i in range(20)}
    assert paired_gap(a, dict(a)) == {"gap": 0.0, "ci": [0.0, 0.0], "n": 20}


def test_headline_pairs_every_sft_arm_with_every_mu_arm():
    attack = {"sft": [["harmful"]] * 8 + [["refusal"]] * 2, "npo": [["irrelevant"]] * 10,
              "rmu": [["harmful"]] * 2 + [["irrelevant"]] * 8}
    rewrite = {"sft": [["refusal"]] * 10, "npo": [["irrelevant"]] * 10, "rmu": [["refusal"]] * 5 + [["irrelevant"]] * 5}
    records = {arm: _records(attack[arm]) + _records(rewrite[arm], "safe_safes@rewrite") for arm in attack}
    gaps = headline_gaps(records, ["sft"], ["npo", "rmu"])
    assert set(gaps) == {"asr_attack", "rr_rewrite"}
    assert gaps["asr_attack"]["sft-npo"]["gap"] == pytest.approx(0.8)
    assert (gaps["asr_attack"]["sft-npo"]["sft"], gaps["asr_attack"]["sft-npo"]["mu"]) == ("sft", "npo")
    assert gaps["asr_attack"]["sft-rmu"]["gap"] == pytest.approx(0.6)
    assert gaps["rr_rewrite"]["sft-rmu"]["gap"] == pytest.approx(0.5)
    assert headline_gaps(records, [], ["npo"]) == {}
