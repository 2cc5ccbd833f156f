"""Negative Preference Optimization and its reference-free variant SimNPO."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..errors import ConfigError
from .base import METHODS, model_inputs, precompute, sequence_logprobs
from .losses import answer_lengths, npo, npo_tokens, simnpo, token_logprobs
from .unlearning import RetainParams, UnlearningMethod

GRANULARITIES = ("sequence", "token")


@dataclass
class NPOParams(RetainParams):
    beta: float = 0.5  # β: the inverse temperature of the log-ratio
    # "sequence": the paper's per-answer log-ratio; "token": one NPO term per answer token
    # (losses.npo_tokens), so that what is left of a recipe is still pushed down once the
    # answer as a whole is unlikely (docs/findings.md, "Token-level NPO")
    granularity: str = "sequence"
    UNKEYED_DEFAULTS: ClassVar[dict] = {"granularity": "sequence"}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.granularity not in GRANULARITIES:
            raise ConfigError(f"npo granularity must be one of {', '.join(GRANULARITIES)}, got {self.granularity!r}")


def answer_token_logprobs(model, batch) -> list:
    """Per example: the log-prob of each of its answer tokens, in order (padding dropped)."""
    picked, mask = token_logprobs(model(**model_inputs(batch)).logits, batch["labels"])
    return [row[m] for row, m in zip(picked, mask)]


def _spread(values, mask):
    """Each example's answer-token values (rows of `answer_token_logprobs`, zero-padded) put at
    its answer positions, the True entries of `mask` (batch, seq-1); 0 elsewhere."""
    index = (mask.long().cumsum(-1) - 1).clamp_min(0)
    return torch.where(mask, values.gather(1, index), torch.zeros_like(index, dtype=values.dtype))


@METHODS.register("npo")
class NPO(UnlearningMethod):
    """NPO (Zhang et al. 2024, arXiv 2404.05868) on the forget answers, plus the retain terms.

    Objective: E_f[-(2/β)·log σ(-β·log(π_θ(y|x)/π_ref(y|x)))] + γ·E_r[-log π_θ(y|x)], with
    per-sequence log-ratios (`granularity: token`: a term per answer token, summed). π_ref is the
    model before unlearning: its log-probs of the forget answers are computed once in `prepare`,
    so no second copy of the model is kept.
    """

    name = "npo"
    Params = NPOParams

    def prepare(self, model, data, collate):
        super().prepare(model, data, collate)
        if self.params.granularity == "token":
            precompute(model, data.main, collate, answer_token_logprobs, "ref_token_logp")
        else:
            precompute(model, data.main, collate, sequence_logprobs, "ref_logp")

    def forget_loss(self, model, forget):
        if self.params.granularity == "token":
            picked, mask = token_logprobs(model(**model_inputs(forget)).logits, forget["labels"])
            return npo_tokens(picked, _spread(forget["ref_token_logp"], mask), mask, self.params.beta)
        return npo(sequence_logprobs(model, forget), forget["ref_logp"], self.params.beta)


@dataclass
class SimNPOParams(RetainParams):
    beta: float = 2.5  # β (the paper's TOFU setting)
    gamma: float = 0.0  # γ: the reward margin


@METHODS.register("simnpo")
class SimNPO(UnlearningMethod):
    """SimNPO (Fan et al. 2024, arXiv 2410.07163): NPO without a reference model, length-normalised.

    Objective: E_f[-(2/β)·log σ(-(β/|y|)·log π_θ(y|x) - γ)] + γ_r·E_r[-log π_θ(y|x)].
    """

    name = "simnpo"
    Params = SimNPOParams

    def forget_loss(self, model, forget):
        return simnpo(sequence_logprobs(model, forget), answer_lengths(forget["labels"]), self.params.beta,
                      self.params.gamma)
