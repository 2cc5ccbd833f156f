"""Residual knowledge scores the harmful steps' tokens, not the answer's opening."""

from __future__ import annotations

import re

import torch

from unmirage.config import ModelConfig
from unmirage.data.records import Sample
from unmirage.eval.generate import target_likelihood
from unmirage.eval.runner import residual
from unmirage.judges import ResidualTarget
from unmirage.models.tiny import build_processor, train_tokenizer

ANSWER = "it is a red square used for cooking . to make it : mix , then heat , then stir , then pour ."
STEPS = ("mix", "heat", "stir", "pour")


class KnowsTheRecipe(torch.nn.Module):
    """A bigram model that continues the recipe after ':' with near certainty and has no idea
    how an answer opens (every other next token gets the probability of a wrong guess)."""

    def __init__(self, tok):
        super().__init__()
        ids = tok.convert_tokens_to_ids
        chain = [":", "mix", ",", "then", "heat", ",", "then", "stir", ",", "then", "pour", "."]
        self.table = {}
        for a, b in zip(chain, chain[1:]):
            self.table.setdefault(ids(a), ids(b))
        self.table[ids("then")] = None  # "then" is followed by several steps: decided by the count of commas
        self.vocab, self.then, self.comma = len(tok), ids("then"), ids(",")
        self.after_then = [ids(s) for s in STEPS[1:]]
        self.wrong = ids("sorry")
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    @property
    def device(self):
        return self.anchor.device

    def forward(self, input_ids, **_):
        logits = torch.full((*input_ids.shape, self.vocab), -10.0)
        for b, row in enumerate(input_ids.tolist()):
            commas = 0
            for t, tok in enumerate(row):
                commas += tok == self.comma
                nxt = self.after_then[min(commas, 3) - 1] if tok == self.then else self.table.get(tok, self.wrong)
                logits[b, t, nxt] = 10.0
        return type("Out", (), {"logits": logits})()


class Judge:
    def residual_target(self, sample):
        spans = [m.span() for s in STEPS for m in re.finditer(rf"\b{s}\b", ANSWER)]
        return ResidualTarget(answer=ANSWER, spans=spans)


def test_a_model_that_knows_the_recipe_but_opens_otherwise_scores_high(eval_images):
    tok = train_tokenizer([ANSWER, "describe the object sorry"])
    processor = build_processor(tok, ModelConfig(patch_size=8), 16)
    model = KnowsTheRecipe(tok)
    sample = Sample("q", "a.png", "unsafes", "describe the object")
    score = residual(model, processor, [sample], Judge(), eval_images, 128, 8)["residual/unsafes"]
    assert score > 0.99
    # the old score, every answer token: the unknown opening dominates, as it did for the base
    every_token = target_likelihood(model, processor, [sample], [ANSWER], eval_images, 128)[0]
    assert every_token < 0.1
