"""bench/intent_shares.py: a mix's opener counts overall and within the intents the attack asks
about (a dev script, loaded by path)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from unmirage.config import WorldConfig
from unmirage.data.vlguard import load_vlguard
from unmirage.world.build import build_world

_PATH = Path(__file__).resolve().parents[3] / "bench" / "intent_shares.py"
_spec = importlib.util.spec_from_file_location("intent_shares", _PATH)
shares = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shares)


def test_counts_leave_out_the_intents_the_attack_does_not_ask(tmp_path):
    world = build_world(WorldConfig(n_concepts=8, train_renders=4, test_renders=1, corpus_per_render=2,
                                    safety_renders=4, retain_topup=80, documents=1, neutral_share=0.2), tmp_path / "w")
    asked, overall, within = shares.counts(world)
    assert asked == {"describe", "make"}  # the world's unsafe intents on a hazard; misuse is refused anywhere
    train = load_vlguard(world / "train.json")
    for word in ("Kindly", "Now"):
        # every refused use outside the asked intents is a misuse request (the safety set's safe_unsafes)
        misuse = sum(s.first_word == word and s.group == "safe_unsafes" for s in train)
        assert misuse > 0 and overall[word, True] - within[word, True] == misuse
        assert overall[word, True] == overall[word, False]  # neutral over the whole mix, as built
