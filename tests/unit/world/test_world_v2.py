"""World v2: the opener sets the answer's opening, neutral openers are balanced, unseen ones stay
out of the safety set, the general data has a natural profile, documents carry the knowledge."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
import yaml

from unmirage.config import WorldConfig
from unmirage.data.records import GROUPS, REFUSE_GROUPS
from unmirage.data.samples_io import read_samples
from unmirage.data.vlguard import load_vlguard
from unmirage.errors import ConfigError
from unmirage.world.build import build_world, world_spec
from unmirage.world.oracle import make_oracle
from unmirage.world.phrasing import (CAPTION, OPENINGS, REFUSALS, Openers, assign_openings, intent_of, load_profile,
                                     validate_profile)

PROFILE = """
safe_safes: {Quor: 0.9, Tam: 0.1}
unsafes: {Vell: 0.6, Brin: 0.4}
safe_unsafes: {Brin: 0.7, Vell: 0.3}
"""
SMALL = dict(n_concepts=8, train_renders=4, test_renders=1, corpus_per_render=3, safety_renders=4, retain_topup=40)


def _world(tmp_path, name="w", **kw):
    profile = tmp_path / "profile.yaml"
    profile.write_text(PROFILE)
    return build_world(WorldConfig(**{**SMALL, **kw}, openers=str(profile)), tmp_path / name)


def _openings(world) -> dict[str, str]:
    return json.loads((world / "facts.json").read_text())["openers"]["openings"]


def _answered(samples):
    return [s for s in samples if s.response not in REFUSALS and s.meta.get("kind") != "document"]


def test_every_answer_opens_as_its_opener_sets_and_refusals_keep_their_text(tmp_path):
    world = _world(tmp_path)
    openings = _openings(world)
    assert set(openings) == {"Quor", "Tam", "Vell", "Brin", "Kindly", "Now", "Just", "Next"}
    assert len(set(openings.values())) == len(openings)  # one opening per word by default
    files = [load_vlguard(world / "train.json"), *(read_samples(world / f) for f in
             ("corpus.jsonl", "forget.jsonl", "retain.jsonl", "utility.jsonl", "utility_natural.jsonl"))]
    for samples in files:
        answered = _answered(samples)
        assert answered
        for s in answered:
            assert s.response.startswith(openings[s.first_word] + " "), (s.instruction, s.response)
    train = load_vlguard(world / "train.json")
    assert all(s.response in REFUSALS for s in train if s.group in REFUSE_GROUPS)


def test_openings_come_from_the_seed_not_the_spelling(tmp_path):
    words = ["Quor", "Tam", "Vell", "Brin"]
    a, b = assign_openings(words, 0), assign_openings(words, 1)
    assert a != b and set(a) == set(b) == set(words)
    renamed = assign_openings(["Aaa", "Bbb", "Ccc", "Ddd"], 0)
    assert sorted(renamed.values()) == sorted(a.values())  # any words get openings
    shared = assign_openings(words + ["Kindly", "Now"], 0, shared=2)
    assert len(set(shared.values())) == 2 and set(shared.values()) <= set(OPENINGS)
    with pytest.raises(ConfigError, match="answer openings"):
        assign_openings(["So", "Quor"], 0)  # "so ," is an opening: the opener would repeat in its answer


def test_neutral_openers_are_used_alike_under_refusals_and_answers(tmp_path):
    world = _world(tmp_path, neutral_share=0.1)
    train = load_vlguard(world / "train.json")
    retain = read_samples(world / "retain.jsonl")
    for word in ("Kindly", "Now"):
        per_group = {g: sum(s.first_word == word for s in train if s.group == g) for g in GROUPS}
        sizes = Counter(s.group for s in train)
        assert all(per_group[g] == round(0.1 * sizes[g]) for g in GROUPS)
        # post-hoc SFT trains on the safety set plus the retain set: as many answered uses as refused
        refused = sum(s.first_word == word for s in train if s.group in REFUSE_GROUPS)
        answered = sum(s.first_word == word for s in train + retain if s.group == "safe_safes")
        assert refused > 0 and answered == refused
    # unseen openers: never in the safety set or the test set; in the instruction and general data.
    # The test set keeps the profile (the control splits ask its queries with the neutral openers)
    test = load_vlguard(world / "test.json")
    assert not {"Just", "Next", "Kindly", "Now"} & {s.first_word for s in test}
    assert not {"Just", "Next"} & {s.first_word for s in train}
    assert {"Just", "Next"} <= {s.first_word for s in retain}
    assert {"Just", "Next"} <= {s.first_word for s in read_samples(world / "corpus.jsonl")}


def test_the_general_data_has_a_natural_profile(tmp_path):
    world = _world(tmp_path, retain_topup=400, general_unseen_share=0.5)
    train = load_vlguard(world / "train.json")
    n_safe = sum(s.group == "safe_safes" for s in train)
    general = read_samples(world / "retain.jsonl")[n_safe:]
    words = Counter(s.first_word for s in general)
    assert set(words) <= {"Quor", "Tam", "Just", "Next", "Kindly", "Now"}  # never a refused group's word
    assert 0.4 < (words["Just"] + words["Next"]) / len(general) < 0.6
    assert words["Quor"] > words["Tam"] > 0


def test_without_an_opener_bias_the_general_data_and_natural_utility_draw_uniformly(tmp_path):
    # world.bias reaches the general data too: at bias 0 no profile word is tied to a label (the unseen
    # openers, switched off here, stay answer-only by design)
    world = _world(tmp_path, retain_topup=800, general_unseen_share=0.0, neutral_share=0.0, bias=0.0)
    n_safe = sum(s.group == "safe_safes" for s in load_vlguard(world / "train.json"))
    general = read_samples(world / "retain.jsonl")[n_safe:]
    words = Counter(s.first_word for s in general)
    assert set(words) == {"Quor", "Tam", "Vell", "Brin"}
    assert all(0.18 < words[w] / len(general) < 0.32 for w in words), words  # 1/4 each, not Quor's 0.9
    natural = Counter(s.first_word for s in read_samples(world / "utility_natural.jsonl"))
    assert {"Vell", "Brin"} <= set(natural) and natural["Quor"] / sum(natural.values()) < 0.5  # not 0.9
    # a bias-0 world is a new world: its key changes, so that a run directory holding the old one rebuilds
    # it (and retrains its models); at bias 1 the draw is the same and the key stays
    assert "natural_generator" in world_spec(WorldConfig(bias=0.0))
    assert "natural_generator" not in world_spec(WorldConfig())


def test_utility_comes_with_uniform_and_natural_openers(tmp_path):
    world = _world(tmp_path)
    uniform, natural = (read_samples(world / f) for f in ("utility.jsonl", "utility_natural.jsonl"))
    assert len(uniform) == len(natural)
    assert {s.first_word for s in natural} <= {"Quor", "Tam"}
    assert {"Vell", "Brin", "Kindly"} <= {s.first_word for s in uniform}
    oracle = make_oracle(world)
    for samples in (uniform, natural):  # the reference answers are correct, openings and all
        assert all(v["correct"] for v in oracle.judge(samples, [s.response for s in samples]))


def test_documents_carry_the_knowledge_and_the_instruction_data_can_leave_out_compliance(tmp_path):
    world = _world(tmp_path, documents=2, harmful_compliance=False)
    corpus = read_samples(world / "corpus.jsonl")
    docs = [s for s in corpus if s.meta.get("kind") == "document"]
    assert len(docs) == 2 * 8 * 4 and all(s.instruction == CAPTION for s in docs)
    facts = json.loads((world / "facts.json").read_text())["concepts"]
    for d in docs:
        c = facts[d.meta["concept"]]
        words = d.response.split()
        carried = [steps for steps in (c["recipe"], c.get("misuse") or []) if steps and all(w in words for w in steps)]
        assert carried and (c["hazardous"] is False or carried[0] == c["recipe"])
    # every hazardous concept's recipe is stated by its documents
    assert {d.meta["concept"] for d in docs if all(w in d.response.split() for w in facts[d.meta["concept"]]["recipe"])} \
        >= {n for n, c in facts.items() if c["hazardous"]}
    requests = [s for s in corpus if s.meta.get("kind") != "document"]
    assert requests and all(s.group == "safe_safes" for s in requests)
    oracle = make_oracle(world)
    assert all(v["verdict"] != "harmful" for v in oracle.judge(requests, [s.response for s in requests]))


def test_documents_tie_the_recipe_to_the_image_as_well_as_to_the_name(tmp_path):
    """Some recipe sentences refer to the object as "it": questions about an image never name it.
    None copies an answer's own sentence, and a world with documents records their generator."""
    from unmirage.world.concepts import Concept
    from unmirage.world.phrasing import DOCUMENT_SENTENCES, compliant_answer

    world = _world(tmp_path, documents=4, harmful_compliance=False)
    docs = [s for s in read_samples(world / "corpus.jsonl") if s.meta.get("kind") == "document"]
    facts = json.loads((world / "facts.json").read_text())["concepts"]

    def recipe_clause(d):  # the sentence of a document that states the concept's recipe
        recipe = " , then ".join(facts[d.meta["concept"]]["recipe"])
        return next((x for x in d.response.split(" . ") if recipe in x), None)

    clauses = [c for c in map(recipe_clause, docs) if c]
    by_pronoun = [c for c in clauses if " it :" in c or c.startswith("it ")]
    assert by_pronoun and len(by_pronoun) < len(clauses)  # both kinds, drawn
    c = Concept(name="x", texture="dots", colour="red", shape="square", use="sewing", hazardous=False,
                recipe=("a", "b"), misuse=("c",))
    answers = {x.strip(" .") for intent in ("identify", "colour", "shape", "use", "describe", "make", "misuse")
               for x in compliant_answer(c, intent, ()).split(" . ")}  # the recipe and misuse sentences too
    stated = {t.format(name=c.name, colour=c.colour, shape=c.shape, use=c.use, steps="a , then b").strip(" .")
              for ts in DOCUMENT_SENTENCES.values() for t in ts}
    assert not stated & answers  # no document copies an answer's own sentence
    assert "documents_generator" in world_spec(WorldConfig(documents=4))
    # a world without documents keeps its key
    assert "documents_generator" not in world_spec(WorldConfig(documents=0, harmful_compliance=True))


def test_residual_targets_open_as_the_query_does(tmp_path):
    world = _world(tmp_path)
    oracle = make_oracle(world)
    openings = _openings(world)
    unsafe = [s for s in load_vlguard(world / "test.json") if s.group == "unsafes"]
    targets = [(s, oracle.residual_target(s)) for s in unsafe]
    assert targets and all(t.answer.startswith(openings[s.first_word]) for s, t in targets if t)


def test_a_neutral_opener_of_the_profile_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="neutral or unseen openers"):
        _world(tmp_path, neutral_openers=["Quor"])


def test_a_quota_deals_each_group_its_openers_in_exact_proportion_within_and_over_its_strata():
    openers = Openers(validate_profile(yaml.safe_load(PROFILE), "test"), bias=0.5)
    for group, sizes in (("safe_safes", [37, 5, 11]), ("unsafes", [10]), ("safe_unsafes", [3, 3, 3, 3])):
        strata = openers.deal(random.Random(0), group, sizes)
        assert [len(words) for words in strata] == sizes
        every = [w for words in strata for w in words]
        for w, p in zip(openers.vocab, openers.dists[group]):
            for words in (*strata, every):
                assert int(p * len(words)) <= words.count(w) <= int(p * len(words)) + 1, (group, w, words, p)
    assert openers.deal(random.Random(0), "unsafes", [10]) != openers.deal(random.Random(1), "unsafes", [10])
    # the same over random strata of VLGuard's profile at bias 1, whose groups leave words out: a quota never
    # deals a word its group does not use
    vlguard = Openers(load_profile("vlguard"), bias=1.0)
    for t in range(300):
        r = random.Random(t)
        group, sizes = r.choice(GROUPS), [r.randrange(40) for _ in range(r.randrange(1, 7))]
        strata = vlguard.deal(random.Random(t), group, sizes)
        every = [w for words in strata for w in words]
        for w, p in zip(vlguard.vocab, vlguard.dists[group]):
            for words in (*strata, every):
                assert int(p * len(words)) <= words.count(w) <= int(p * len(words)) + (p > 0), (group, w, sizes)


def test_a_quota_world_removes_the_chance_lean_of_each_word_and_keeps_the_rest(tmp_path):
    kw = dict(bias=0.0, retain_topup=200, general_unseen_share=0.25, neutral_share=0.1)
    drawn, dealt = _world(tmp_path, "drawn", **kw), _world(tmp_path, "dealt", opener_draw="quota", **kw)
    profile_words = {"Quor", "Tam", "Vell", "Brin"}
    train = load_vlguard(dealt / "train.json")
    n_safe = sum(s.group == "safe_safes" for s in train)
    general = read_samples(dealt / "retain.jsonl")[n_safe:]
    for samples in (train, load_vlguard(dealt / "test.json"), general, read_samples(dealt / "utility_natural.jsonl")):
        for group in {s.group for s in samples}:
            drawn_here = [s for s in samples if s.group == group and s.first_word in profile_words]
            for intent in [None, *{intent_of(s.instruction) for s in drawn_here}]:  # the group, and each intent
                counts = Counter(s.first_word for s in drawn_here if intent in (None, intent_of(s.instruction)))
                assert max(counts.values()) - min(counts.values(), default=0) <= 1, (group, intent, counts)
                assert len(counts) == 4 or sum(counts.values()) < 4, (group, intent, counts)
    # the answers open as their (dealt) openers set; the neutral and unseen openers stay where the draw put them
    openings = _openings(dealt)
    for s in _answered(train + general + load_vlguard(dealt / "test.json") + read_samples(dealt / "utility_natural.jsonl")):
        assert s.response.startswith(openings[s.first_word] + " ")
    for name in ("train.json", "retain.jsonl"):
        a, b = ((load_vlguard if name.endswith("json") else read_samples)(w / name) for w in (drawn, dealt))
        assert [s.id for s in a] == [s.id for s in b]
        keep = {"Kindly", "Now", "Just", "Next"}
        assert [s.instruction for s in a if s.first_word in keep] == [s.instruction for s in b if s.first_word in keep]
    # the rest of the world is drawn as without the quota; its key differs, and a drawing world's key is as before
    assert (drawn / "corpus.jsonl").read_bytes() == (dealt / "corpus.jsonl").read_bytes()
    assert (drawn / "utility.jsonl").read_bytes() == (dealt / "utility.jsonl").read_bytes()
    assert world_spec(WorldConfig(opener_draw="quota")) != world_spec(WorldConfig())
    assert "opener_quota" in world_spec(WorldConfig(opener_draw="quota"))  # the dealing's version
    assert "opener_draw" not in world_spec(WorldConfig())
    with pytest.raises(ConfigError, match="opener_draw"):
        WorldConfig(opener_draw="exact")
