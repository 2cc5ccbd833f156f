"""eval.max_new_tokens 0: the longest answer the judge knows plus slack, so no answer is cut."""

from __future__ import annotations

from unmirage.config import EvalConfig, ModelConfig
from unmirage.eval.keyword import KeywordJudge
from unmirage.eval.runner import REAL_MAX_NEW_TOKENS, SLACK_TOKENS, resolve_max_new_tokens
from unmirage.io import read_json
from unmirage.models.tiny import build_processor, train_tokenizer
from unmirage.world.oracle import make_oracle


def test_derived_from_the_world_s_longest_answer(tiny_world):
    facts = read_json(tiny_world / "facts.json")
    # a v2 world: every answer opens with its opener's opening
    openings = list(facts["openers"]["openings"].values())
    answers = [f"{o} {a}" for c in facts["concepts"].values() for a in c["answers"].values() for o in openings]
    tok = train_tokenizer(answers + facts["refusals"])
    processor = build_processor(tok, ModelConfig(), 32)
    longest = max(len(tok(a, add_special_tokens=False)["input_ids"]) for a in answers)
    cfg = resolve_max_new_tokens(EvalConfig(), processor, make_oracle(tiny_world))
    assert cfg.max_new_tokens == longest + 1 + SLACK_TOKENS  # the answer, its end token and slack
    assert resolve_max_new_tokens(EvalConfig(max_new_tokens=5), processor, make_oracle(tiny_world)).max_new_tokens == 5
    assert resolve_max_new_tokens(EvalConfig(), processor, KeywordJudge()).max_new_tokens == REAL_MAX_NEW_TOKENS
