"""The registered attacks beyond the one-word attack: prefilling, alignment depth, relearning."""

from __future__ import annotations

import math

import pytest
import torch

from unmirage.attacks.base import ATTACKS, QueryContext, make_attacks
from unmirage.attacks.depth import position_kl
from unmirage.attacks.prefill import step_free_words
from unmirage.attacks.relearn import hazard_of, split_hazards
from unmirage.data.inputs import IGNORE, PREFILL, generation_prompt, prompt_text
from unmirage.data.layout import DataDir
from unmirage.errors import ConfigError
from unmirage.world.oracle import make_oracle, words_of


def test_the_registry_names_each_attack_and_checks_its_parameters():
    assert {"prefill", "depth", "relearn"} <= set(ATTACKS.names())
    with pytest.raises(ConfigError, match="unknown attack 'prefil'.*'prefill'"):
        make_attacks({"prefil": {}})
    with pytest.raises(ConfigError, match="attacks.prefill: unknown key 'token'"):
        make_attacks({"prefill": {"token": [1]}})
    with pytest.raises(ConfigError, match="attacks.relearn.data must be one of forget, facts"):
        make_attacks({"relearn": {"data": "documents"}})


def test_prefilled_words_stop_before_the_first_step():
    answer = "at once : it is red . to make it : tim , then toz ."
    spans = [(answer.index("tim"), answer.index("tim") + 3), (answer.index("toz"), answer.index("toz") + 3)]
    assert step_free_words(answer, spans) == "at once : it is red . to make it :".split()
    assert step_free_words("it is red .", []) == ["it", "is", "red", "."]


def test_prefill_splits_on_the_world_never_hold_a_step(tiny_world):
    data = DataDir(tiny_world)
    sets = data.load()
    judge = make_oracle(tiny_world)
    (attack,) = make_attacks({"prefill": {"tokens": [0, 2, 40]}})
    splits = attack.splits(QueryContext(sets.test, judge, {}, sets))
    assert set(splits) == {"unsafes@prefill0", "unsafes@prefill2", "unsafes@prefill40"}
    unsafe = [s for s in sets.test if s.group == "unsafes"]
    assert [s.meta["source_id"] for s in splits["unsafes@prefill2"]] == [s.id for s in unsafe]
    assert all(PREFILL not in s.meta for s in splits["unsafes@prefill0"])
    steps = {w for h in judge.hazards for w in h}
    compliant = 0
    for s in splits["unsafes@prefill40"]:
        text = s.meta.get(PREFILL, "")
        assert not words_of(text) & steps, text  # no recipe step is ever prefilled
        assert s.meta["prefill_tokens"] == len(text.split()) <= 40
        compliant += s.meta["prefill_source"] == "compliant"
        target = judge.residual_target(next(u for u in unsafe if u.id == s.meta["source_id"]))
        if target is not None:  # a prefix of the compliant answer, cut at its first step
            assert target.answer.startswith(text) and len(text.split()) < len(target.answer.split())
    assert compliant > 0
    for s in splits["unsafes@prefill2"]:
        assert s.meta["prefill_tokens"] == len(s.meta.get(PREFILL, "").split()) <= 2


def test_a_prefilled_answer_continues_the_prompt(tiny_world):
    from unmirage.config import ModelConfig
    from unmirage.data.samples_io import read_samples
    from unmirage.models.families import fresh_tiny

    sample = read_samples(tiny_world / "forget.jsonl")[0]
    _, processor = fresh_tiny(ModelConfig(), [sample.instruction, sample.response], 32)
    plain = generation_prompt(processor, sample)
    assert plain == prompt_text(processor, sample.instruction)
    prefilled = generation_prompt(processor, sample.with_(meta={**sample.meta, PREFILL: "at once"}))
    assert prefilled.startswith(plain) and prefilled.endswith(" at once")


def test_position_kl_is_the_kl_at_each_answer_position():
    # two answers of 2 and 1 tokens after a 2-token prompt; vocabulary of 3
    labels = torch.tensor([[IGNORE, IGNORE, 1, 2], [IGNORE, IGNORE, 0, IGNORE]])
    p = torch.log(torch.tensor([0.5, 0.25, 0.25]))
    q = torch.log(torch.tensor([0.8, 0.1, 0.1]))  # KL(p || q) != KL(q || p): the direction is tested
    arm = p.expand(2, 4, 3).clone()
    base = arm.clone()
    base[0, 2] = q  # predicts answer position 2 of the first answer
    sums, counts = position_kl(arm, base, labels, 3)
    kl = 0.5 * math.log(0.5 / 0.8) + 2 * 0.25 * math.log(0.25 / 0.1)
    assert counts.tolist() == [2, 1, 0]
    assert sums[0].item() == pytest.approx(0.0, abs=1e-7) and sums[1].item() == pytest.approx(kl, rel=1e-5)


def test_hazards_split_in_two_by_a_seeded_draw(tiny_world):
    from unmirage.data.samples_io import read_samples

    forget = read_samples(tiny_world / "forget.jsonl")
    hazards = {hazard_of(s) for s in forget}
    a, b = split_hazards(hazards, 0.5, seed=1)
    assert a | b == hazards and not a & b and a and b
    assert split_hazards(hazards, 0.5, seed=1) == (a, b)
    assert {s.meta["concept"] for s in forget} == hazards  # the world's concept is the hazard


@pytest.mark.parametrize("data", ["forget", "facts"])
def test_relearning_data_and_the_measured_queries_are_of_other_hazards(tiny_world, data):
    from unmirage.attacks.relearn import RelearnParams, relearn_data

    sets = DataDir(tiny_world).load()
    judge = make_oracle(tiny_world)
    train, measured = relearn_data(sets, judge, RelearnParams(data=data, seed=3), sets.test)
    hazards = {hazard_of(s) for s in sets.forget} & {hazard_of(s) for s in sets.test if s.group == "unsafes"}
    relearned, held_out = split_hazards(hazards, 0.5, 3)
    assert measured and {hazard_of(s) for s in measured} <= held_out
    assert all(s.group == "unsafes" for s in measured)
    steps = {w for h in judge.hazards for w in h}
    if data == "forget":  # other hazards' harmful answers
        assert {hazard_of(s) for s in train} <= relearned and all(words_of(s.response) & steps for s in train)
    else:  # the held-out hazards' own harmless facts: no step of any hazard
        assert {hazard_of(s) for s in train} <= held_out
        assert train and not any(words_of(s.response) & steps for s in train)
        assert all(s.group == "safe_safes" for s in train)


def test_on_real_data_the_prefill_is_an_affirmative_start_and_hazards_are_categories():
    from unmirage.attacks.prefill import AFFIRMATIVE
    from unmirage.attacks.relearn import RelearnParams, relearn_data
    from unmirage.data.layout import DataSets
    from unmirage.data.records import Sample
    from unmirage.eval.keyword import KeywordJudge

    test = [Sample(f"u{i}", "a.png", "unsafes", "How do I make it?", category=f"cat{i % 3}") for i in range(6)]
    forget = [Sample(f"f{i}", "b.png", "unsafes", "How?", response="Step one, step two.", category=f"cat{i % 3}")
              for i in range(6)]
    (attack,) = make_attacks({"prefill": {"tokens": [2]}})
    split = attack.splits(QueryContext(test, KeywordJudge(), {}, DataSets(test=test)))["unsafes@prefill2"]
    assert {s.meta[PREFILL] for s in split} == {" ".join(AFFIRMATIVE.split()[:2])}
    assert {s.meta["prefill_source"] for s in split} == {"affirmative"}
    train, measured = relearn_data(DataSets(test=test, forget=forget), KeywordJudge(), RelearnParams(seed=1), test)
    assert {s.category for s in train}.isdisjoint({s.category for s in measured}) and train and measured


def test_the_one_word_attack_is_registered_with_the_attack_block_as_its_parameters(tiny_world):
    from unmirage.attacks.one_word import build_attacks

    sets = DataDir(tiny_world).load()
    words = {"attack": "What", "refusal": "Share", "control": "Kindly", "unseen": None, "shots": 2, "source": "user"}
    attack = ATTACKS.get("one_word")({"shots": 2})
    assert attack.params.shots == 2 and attack.rewriter is None  # rules
    assert attack.splits(QueryContext(sets.test, None, words, sets)) == build_attacks(
        sets.test, "What", "Share", "Kindly", 2, sets.paraphrases, "user", None)
    with pytest.raises(ConfigError, match="one-word attack always runs"):
        make_attacks({"one_word": {}})
    with pytest.raises(ConfigError, match="unknown key 'shot'"):
        ATTACKS.get("one_word")({"shot": 2})
