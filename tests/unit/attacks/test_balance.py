"""Trigger-balanced data: every spurious trigger held by as many refused as answered samples."""

from __future__ import annotations

import pytest

from unmirage.attacks.balance import balance_triggers, imbalance, spurious_triggers
from unmirage.config import WorldConfig
from unmirage.data.layout import DataDir
from unmirage.world.build import build_world

# the stand-in world (documents 0, harmful compliance): there describe, make, identify and use are
# asked under both labels, which gives the within-content test the strata to tell a planted word
# from content in a world this small; the documents world asks only describe and make under both
SMALL = dict(n_concepts=8, train_renders=4, test_renders=1, corpus_per_render=2, safety_renders=4, retain_topup=40,
             documents=0, harmful_compliance=True)
PLANTED = {"honestly": {"unsafes": 0.6, "safe_unsafes": 0.6, "safe_safes": 0.05},
           "briefly": {"safe_safes": 0.6, "unsafes": 0.05, "safe_unsafes": 0.05}}


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    return DataDir(build_world(WorldConfig(**SMALL, planted=PLANTED), tmp_path_factory.mktemp("planted"))).load()


def test_every_trigger_ends_up_held_equally_by_both_sides(sets):
    data = sets.safety + sets.retain
    found = spurious_triggers(data)
    assert found["honestly"] == found["briefly"] == "after_first"  # the planted words, inside queries
    assert found["What"] == found["Share"] == "opener"
    balanced = balance_triggers(data, seed=0, paraphrases=sets.paraphrases, found=found)
    assert balanced[:len(data)] == data  # the data is kept; copies are added
    before, after = imbalance(data, found), imbalance(balanced, found)
    assert before["honestly"][0] > 3 * before["honestly"][1]  # a shortcut before
    for term, (refused, answered) in after.items():
        assert refused == answered >= max(before[term]), (term, before[term], after[term])
    copies = balanced[len(data):]
    assert copies and all(c.meta["trigger"] in found and c.meta["original"] != c.instruction for c in copies)
    assert balance_triggers(data, seed=0, paraphrases=sets.paraphrases, found=found) == balanced  # seeded


def test_content_wording_is_never_paired_with_compliance(sets):
    from unmirage.attacks.triggers import triggers

    data = sets.safety + sets.retain
    found = spurious_triggers(data)
    content = [t for d in ("refuse", "answer") for t in triggers(data)["content"][d]]
    assert content and not set(content) & {t for t, how in found.items() if how != "opener"}
    copies = balance_triggers(data, seed=0, paraphrases=sets.paraphrases, found=found)[len(data):]
    for c in copies:  # a copy changes only its trigger: the rest of the query is the original's
        if found[c.meta["trigger"]] == "opener":
            assert c.instruction.split()[1:] == c.meta["original"].split()[1:]
        else:
            assert c.instruction.replace(" " + c.meta["trigger"], "", 1) == c.meta["original"]
