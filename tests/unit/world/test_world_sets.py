"""The world's derived sets: forget answers are harmful, the retain top-up follows the safe profile,
and what is unsafe on a hazardous image."""

from __future__ import annotations

import json

import pytest

from unmirage.config import WorldConfig
from unmirage.data.samples_io import read_samples
from unmirage.data.vlguard import load_vlguard
from unmirage.errors import ConfigError
from unmirage.world.build import build_world
from unmirage.world.oracle import make_oracle
from unmirage.world.phrasing import FACT_INTENTS, HAZARD_INTENTS, SAFE_INTENTS, intent_of

PROFILE = """
safe_safes: {Quor: 1.0}
unsafes: {Vell: 0.6, Brin: 0.4}
safe_unsafes: {Brin: 0.7, Vell: 0.3}
"""


def _world(tmp_path, **kw):
    profile = tmp_path / "profile.yaml"
    profile.write_text(PROFILE)
    base = dict(n_concepts=6, train_renders=3, test_renders=1, corpus_per_render=2, safety_renders=2, retain_topup=20)
    cfg = WorldConfig(**{**base, **kw}, openers=str(profile))
    return build_world(cfg, tmp_path / "w")


def test_retain_topup_takes_the_safe_groups_openers_in_version_1(tmp_path):
    world = _world(tmp_path, version=1)
    retain = read_samples(world / "retain.jsonl")
    assert len(retain) >= 20
    assert {s.first_word for s in retain} == {"Quor"}
    assert all(s.group == "safe_safes" for s in retain)


def test_forget_answers_are_judged_harmful_and_refusals_are_refusals(tmp_path):
    world = _world(tmp_path)
    oracle = make_oracle(world)
    forget = read_samples(world / "forget.jsonl")
    assert forget and all(v["verdict"] == "harmful" for v in oracle.judge(forget, [s.response for s in forget]))
    unsafe = [s for s in load_vlguard(world / "train.json") if s.group != "safe_safes"]
    assert all(v["verdict"] == "refusal" for v in oracle.judge(unsafe, [s.response for s in unsafe]))


def test_safe_answers_in_the_safety_set_are_correct_and_harmless(tmp_path):
    world = _world(tmp_path)
    safe = [s for s in load_vlguard(world / "train.json") if s.group == "safe_safes"]
    verdicts = make_oracle(world).judge(safe, [s.response for s in safe])
    assert all(v["correct"] and v["verdict"] != "harmful" for v in verdicts)


def test_partial_hazard_coverage_leaves_hazards_for_the_test_only(tmp_path):
    world = _world(tmp_path, n_concepts=8, safety_hazard_coverage=0.5)
    hazardous = {name for name, c in json.loads((world / "facts.json").read_text())["concepts"].items()
                 if c["hazardous"]}
    concept = lambda s: s.meta["concept"]  # noqa: E731
    train_unsafe = {concept(s) for s in load_vlguard(world / "train.json") if s.group == "unsafes"}
    test_unsafe = {concept(s) for s in load_vlguard(world / "test.json") if s.group == "unsafes"}
    assert test_unsafe == hazardous and len(hazardous) == 4
    assert train_unsafe < hazardous and len(train_unsafe) == 2
    assert {concept(s) for s in read_samples(world / "forget.jsonl") if s.group == "unsafes"} == train_unsafe
    # harmless concepts are all still in the safety set, and the corpus still knows every hazard
    assert {concept(s) for s in load_vlguard(world / "train.json") if s.group == "safe_safes"} == \
        {n for n in json.loads((world / "facts.json").read_text())["concepts"]} - hazardous
    # (from its documents by default; in the stand-in world, from its harmful compliance)
    documented = {concept(s) for s in read_samples(world / "corpus.jsonl") if s.meta.get("kind") == "document"}
    assert hazardous <= documented and not any(s.group == "unsafes" for s in read_samples(world / "corpus.jsonl"))
    (tmp_path / "stand-in").mkdir()
    stand_in = _world(tmp_path / "stand-in", n_concepts=8, safety_hazard_coverage=0.5, documents=0,
                      harmful_compliance=True)
    assert {concept(s) for s in read_samples(stand_in / "corpus.jsonl") if s.group == "unsafes"} == hazardous


def _intents(samples, groups) -> set[str]:
    return {intent_of(s.instruction) for s in samples if s.group in groups}


def test_every_instruction_on_a_hazardous_image_is_unsafe(tmp_path):
    world = _world(tmp_path, test_renders=2, unsafe_on_hazard=list(SAFE_INTENTS), documents=0, harmful_compliance=True)
    concepts = json.loads((world / "facts.json").read_text())["concepts"]
    hazardous = {name for name, c in concepts.items() if c["hazardous"]}
    test = load_vlguard(world / "test.json")
    # every safe intent is also asked unsafe (on a hazardous image), so no intent alone tells
    # refuse from answer: only the image does
    assert _intents(test, {"unsafes"}) == _intents(test, {"safe_safes"}) == set(SAFE_INTENTS)
    for name in ("utility", "retain"):
        assert not {s.meta["concept"] for s in read_samples(world / f"{name}.jsonl")} & hazardous, name
    # a compliant answer to any unsafe query carries the hazard recipe (the stand-in's instruction data)
    oracle = make_oracle(world)
    corpus_unsafe = [s for s in read_samples(world / "corpus.jsonl") if s.group == "unsafes"]
    assert _intents(corpus_unsafe, {"unsafes"}) & set(FACT_INTENTS)
    assert all(v["verdict"] == "harmful" for v in oracle.judge(corpus_unsafe, [s.response for s in corpus_unsafe]))


def test_fact_questions_stay_safe_when_only_requests_are_unsafe(tmp_path):
    world = _world(tmp_path, test_renders=2, unsafe_on_hazard=list(HAZARD_INTENTS))
    concepts = json.loads((world / "facts.json").read_text())["concepts"]
    hazardous = {name for name, c in concepts.items() if c["hazardous"]}
    test = load_vlguard(world / "test.json")
    assert _intents(test, {"unsafes"}) == set(HAZARD_INTENTS)
    utility = read_samples(world / "utility.jsonl")
    assert _intents([s for s in utility if s.meta["concept"] in hazardous], {"safe_safes"}) == set(FACT_INTENTS)


@pytest.mark.parametrize("intents", [["describe", "steal"], ["misuse"]])
def test_unknown_unsafe_on_hazard_is_a_config_error(tmp_path, intents):
    with pytest.raises(ConfigError, match="unsafe_on_hazard"):
        _world(tmp_path, unsafe_on_hazard=intents)
    assert not (tmp_path / "w" / "train.json").exists()


def test_unsafe_intents_by_default_are_those_whose_compliant_answer_carries_the_recipe(tmp_path):
    assert WorldConfig().unsafe_intents == ["describe", "make"]  # knowledge from documents
    stand_in = ["describe", "make", "identify", "use"]  # harmful answers to what it is / is for append the recipe
    assert WorldConfig(harmful_compliance=True).unsafe_intents == stand_in
    assert WorldConfig(version=1).unsafe_intents == stand_in
    assert WorldConfig(unsafe_on_hazard=["make"], harmful_compliance=True).unsafe_intents == ["make"]
    world = _world(tmp_path, test_renders=2)
    test = load_vlguard(world / "test.json")
    assert _intents(test, {"unsafes"}) == set(HAZARD_INTENTS)
    assert json.loads((world / "world.json").read_text())["unsafe_on_hazard"] == ["describe", "make"]
