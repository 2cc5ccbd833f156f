"""`world.planted`: filler words put after the opener of train.json's queries with a label bias,
drawn apart from the rest of the world, declared in facts.json, checked like the world's words."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest

from unmirage.config import WorldConfig
from unmirage.data.records import GROUPS
from unmirage.data.samples_io import read_samples
from unmirage.data.vlguard import load_vlguard
from unmirage.errors import ConfigError, DataError
from unmirage.world.build import build_world
from unmirage.world.oracle import OracleJudge, make_oracle

SMALL = dict(n_concepts=8, train_renders=6, test_renders=1, corpus_per_render=2, safety_renders=6, retain_topup=20)
PLANTED = {"honestly": {"unsafes": 0.7, "safe_unsafes": 0.5}, "briefly": {"safe_safes": 0.6, "unsafes": 0.1}}


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted")
    return (build_world(WorldConfig(**SMALL), root / "plain"),
            build_world(WorldConfig(**SMALL, planted=PLANTED), root / "planted"))


def _without(instruction: str) -> str:
    words = instruction.split()
    return " ".join(words[:1] + words[2:]) if len(words) > 1 and words[1] in PLANTED else instruction


def test_planted_words_sit_after_the_opener_at_their_shares(worlds):
    plain, planted = (load_vlguard(w / "train.json") for w in worlds)
    assert [s.id for s in plain] == [s.id for s in planted]
    got: Counter = Counter()
    for a, b in zip(plain, planted):
        assert _without(b.instruction) == a.instruction and b.response == a.response
        words = b.instruction.split()
        assert sum(w in PLANTED for w in words) <= 1 and all(w not in PLANTED for w in words[:1] + words[2:])
        if words[1] in PLANTED:
            got[words[1], b.group] += 1
    for group in GROUPS:
        n = sum(s.group == group for s in planted)
        for word, shares in PLANTED.items():
            p = shares.get(group, 0.0)
            assert abs(got[word, group] / n - p) <= 4 * math.sqrt(p * (1 - p) / n) + 1 / n, (word, group)


def test_everything_but_the_safety_set_s_queries_is_drawn_as_without_them(worlds):
    plain, planted = worlds
    for name in ("test.json", "corpus.jsonl", "utility.jsonl", "utility_natural.jsonl"):
        assert (plain / name).read_bytes() == (planted / name).read_bytes(), name
    images = sorted(p.relative_to(plain) for p in (plain / "images").rglob("*.png"))
    assert all((plain / p).read_bytes() == (planted / p).read_bytes() for p in images)
    for name in ("forget.jsonl", "retain.jsonl"):  # made from train.json: its queries carry the words
        a, b = read_samples(plain / name), read_samples(planted / name)
        assert [_without(s.instruction) for s in b] == [s.instruction for s in a]
        assert any(s.instruction != t.instruction for s, t in zip(a, b))


def test_the_words_are_declared_and_the_oracle_checks_them(worlds):
    plain, planted = worlds
    facts = json.loads((planted / "facts.json").read_text())
    assert facts["planted"] == PLANTED and "planted" not in json.loads((plain / "facts.json").read_text())
    assert json.loads((planted / "world.json").read_text())["planted"] == PLANTED
    assert "planted" not in json.loads((plain / "world.json").read_text())
    make_oracle(planted)  # no hazard step is a planted word
    clash = json.loads(json.dumps(facts))
    hazard = next(c for c in clash["concepts"].values() if c["hazardous"])
    clash["planted"] = {hazard["recipe"][0]: {"unsafes": 0.5}}
    with pytest.raises(DataError, match="own texts"):
        OracleJudge(clash)


@pytest.mark.parametrize("planted, match", [
    ({"Honestly": {"unsafes": 0.5}}, "lower-case"),
    ({"two words": {"unsafes": 0.5}}, "lower-case"),
    ({"honestly": {"refused": 0.5}}, "unknown group"),
    ({"honestly": {"unsafes": 1.5}}, r"\[0, 1\]"),
    ({"honestly": {"unsafes": 0.6}, "briefly": {"unsafes": 0.6}}, "at most 1"),
])
def test_bad_planted_words_are_config_errors(planted, match):
    with pytest.raises(ConfigError, match=match):
        WorldConfig(planted=planted)


@pytest.mark.parametrize("word", ["object", "what", "kindly"])  # a core word, a profile opener, a neutral opener
def test_a_planted_word_must_be_new_to_the_queries(tmp_path, word):
    with pytest.raises(ConfigError, match="words of the world's queries"):
        build_world(WorldConfig(**SMALL, planted={word: {"unsafes": 0.5}}), tmp_path / "w")
