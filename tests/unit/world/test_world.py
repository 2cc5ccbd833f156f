"""The embedded world: determinism, VLGuard-format output, opener profiles, facts and oracle."""

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from unmirage.config import WorldConfig
from unmirage.data.records import GROUPS
from unmirage.data.samples_io import read_samples
from unmirage.data.vlguard import load_vlguard
from unmirage.errors import ConfigError
from unmirage.world.build import build_world
from unmirage.world.oracle import make_oracle
from unmirage.world.phrasing import REFUSALS, load_profile

SMALL = dict(n_concepts=6, train_renders=3, test_renders=1, corpus_per_render=2, safety_renders=2, retain_topup=5)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return build_world(WorldConfig(**SMALL), tmp_path_factory.mktemp("world"))


def test_same_seed_identical_bytes(world, tmp_path):
    again = build_world(WorldConfig(**SMALL), tmp_path / "again")
    a, b = _files(world), _files(again)
    assert sorted(a) == sorted(b)
    assert any(k.endswith(".png") for k in a) and "train.json" in a and "facts.json" in a
    for name in a:
        assert a[name] == b[name], name


def test_different_seed_differs(world, tmp_path):
    other = build_world(WorldConfig(**{**SMALL, "seed": 1}), tmp_path / "other")
    assert (other / "train.json").read_bytes() != (world / "train.json").read_bytes()


def test_outputs_load(world):
    train = load_vlguard(world / "train.json")
    test = load_vlguard(world / "test.json")
    for samples in (train, test):
        assert {s.group for s in samples} == set(GROUPS)
        for s in samples:
            assert (world / "images" / s.image).is_file()
    assert all(s.image.startswith("train/") for s in train)
    assert all(s.image.startswith("test/") for s in test)
    # refusals for the groups to refuse, helpful answers otherwise
    for s in train:
        assert (s.response in REFUSALS) == (s.group != "safe_safes")
    for name in ("corpus", "forget", "retain", "utility"):
        assert read_samples(world / f"{name}.jsonl"), name
    retain = read_samples(world / "retain.jsonl")
    assert all(s.group == "safe_safes" for s in retain)
    forget = read_samples(world / "forget.jsonl")
    assert all(s.group != "safe_safes" and s.response not in REFUSALS for s in forget)


def test_facts_hold_every_image(world):
    facts = json.loads((world / "facts.json").read_text())
    on_disk = {str(p.relative_to(world / "images")) for p in (world / "images").rglob("*.png")}
    assert set(facts["images"]) == on_disk
    assert len(on_disk) == SMALL["n_concepts"] * (SMALL["train_renders"] + SMALL["test_renders"])
    assert set(facts["images"].values()) == set(facts["concepts"])
    assert len(facts["concepts"]) == SMALL["n_concepts"]


def _profile(tmp_path) -> Path:
    p = tmp_path / "openers.yaml"
    p.write_text(yaml.safe_dump({"safe_safes": {"Zorp": 1}, "unsafes": {"Blick": 2},
                                 "safe_unsafes": {"Blick": 1}}))
    return p


def test_bias_one_follows_profile(tmp_path):
    out = build_world(WorldConfig(**SMALL, openers=str(_profile(tmp_path)), bias=1.0, version=1), tmp_path / "w")
    train = load_vlguard(out / "train.json")
    firsts = {g: {s.first_word for s in train if s.group == g} for g in GROUPS}
    assert firsts == {"safe_safes": {"Zorp"}, "unsafes": {"Blick"}, "safe_unsafes": {"Blick"}}
    # the corpus draws openers uniformly from the vocabulary, whatever the bias
    corpus_firsts = {s.first_word for s in read_samples(out / "corpus.jsonl")}
    assert corpus_firsts == {"Zorp", "Blick"}


def test_bias_zero_is_not_concentrated(tmp_path):
    cfg = WorldConfig(n_concepts=12, train_renders=6, test_renders=1, corpus_per_render=1, safety_renders=6,
                      retain_topup=5, bias=0.0)
    out = build_world(cfg, tmp_path / "w")
    train = load_vlguard(out / "train.json")
    for g in GROUPS:
        words = Counter(s.first_word for s in train if s.group == g)
        n = sum(words.values())
        assert n >= 30, g
        assert max(words.values()) / n < 0.6, (g, words)
        assert len(words) >= 5, (g, words)
    # with the default profile at bias=1, safe_safes is dominated by one word
    biased = build_world(WorldConfig(**{**cfg.__dict__, "bias": 1.0}), tmp_path / "b")
    words = Counter(s.first_word for s in load_vlguard(biased / "train.json") if s.group == "safe_safes")
    assert words.most_common(1)[0][1] / sum(words.values()) > 0.6


@pytest.mark.parametrize("data, match", [
    ({"safe_safes": {"A": 1}, "unsafes": {"B": 1}}, "exactly the groups"),
    ({"safe_safes": {"A B": 1}, "unsafes": {"B": 1}, "safe_unsafes": {"C": 1}}, "single word"),
    ({"safe_safes": {"A": -1, "D": 2}, "unsafes": {"B": 1}, "safe_unsafes": {"C": 1}}, ">= 0"),
    ({"safe_safes": {"A": 0}, "unsafes": {"B": 1}, "safe_unsafes": {"C": 1}}, "sum to 0"),
    ({"safe_safes": {}, "unsafes": {"B": 1}, "safe_unsafes": {"C": 1}}, "map words"),
    ({"safe_safes": {"A": "x"}, "unsafes": {"B": 1}, "safe_unsafes": {"C": 1}}, "number"),
    (["safe_safes"], "exactly the groups"),
])
def test_profile_validation(tmp_path, data, match):
    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=match):
        load_profile(str(p))


def test_profile_lookup_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_profile(str(tmp_path / "none.yaml"))
    with pytest.raises(ConfigError, match="unknown opener profile"):
        load_profile("no_such_builtin")
    builtin = load_profile("vlguard")
    assert set(builtin) == set(GROUPS)
    assert all(sum(w.values()) == pytest.approx(1.0) for w in builtin.values())


def test_oracle(world):
    oracle = make_oracle(world)
    forget = read_samples(world / "forget.jsonl")
    assert {s.group for s in forget} == {"unsafes", "safe_unsafes"}
    for s in forget:
        assert oracle.judge_one(s, s.response)["verdict"] == "harmful", s
        assert oracle.judge_one(s, REFUSALS[0])["verdict"] == "refusal"
        assert oracle.judge_one(s, "the weather is nice today .")["verdict"] == "irrelevant"
        assert oracle.judge_one(s, s.response)["correct"] is None
        assert (oracle.residual_target(s) is not None) == (s.group == "unsafes")

    safe = [s for s in load_vlguard(world / "test.json") if s.group == "safe_safes"]
    assert safe
    for s in safe:
        good = oracle.judge_one(s, s.response)
        assert good["correct"] is True, s
        assert good["verdict"] in ("irrelevant", "harmful")
        bad = oracle.judge_one(s, "it is nothing at all .")
        assert bad["correct"] is False
        # a refusal is never a correct answer
        assert oracle.judge_one(s, REFUSALS[1]) == {"verdict": "refusal", "correct": False, "harm": 0.0}
        assert oracle.residual_target(s) is None

    verdicts = oracle.judge(forget[:2], [REFUSALS[0], forget[1].response])
    assert [v["verdict"] for v in verdicts] == ["refusal", "harmful"]


def test_oracle_needs_facts(tmp_path):
    from unmirage.errors import DataError

    with pytest.raises(DataError, match="facts.json"):
        make_oracle(tmp_path)


def test_oracle_unknown_image(world):
    from unmirage.data.records import Sample
    from unmirage.errors import DataError

    s = Sample("z:unsafes", "elsewhere/x.png", "unsafes", "What tell me how to make this object .")
    with pytest.raises(DataError, match="not in facts.json"):
        make_oracle(world).judge_one(s, "anything")
