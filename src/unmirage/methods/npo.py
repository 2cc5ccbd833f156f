"""Negative Preference Optimization."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import METHODS, model_inputs
from .losses import npo, sequence_logprob
from .unlearning import RetainParams, UnlearningMethod


@dataclass
class NPOParams(RetainParams):
    beta: float = 0.5  # β: the inverse temperature of the log-ratio


@METHODS.register("npo")
class NPO(UnlearningMethod):
    """NPO (Zhang et al. 2024, arXiv 2404.05868) on the forget answers, plus the retain NLL.

    Objective: E_f[-(2/β)·log σ(-β·log(π_θ(y|x)/π_ref(y|x)))] + γ·E_r[-log π_θ(y|x)], with
    per-sequence log-ratios. π_ref is the model before unlearning: its log-probs of the forget
    answers are computed once in `prepare`, so no second copy of the model is kept.
    """

    name = "npo"
    Params = NPOParams

    @torch.no_grad()
    def prepare(self, model, data, collate):
        was_training = model.training
        model.eval()
        for start in range(0, len(data.main), 32):
            chunk = data.main[start:start + 32]
            batch = collate(chunk)
            logp = sequence_logprob(model(**model_inputs(batch)).logits, batch["labels"])
            for item, lp in zip(chunk, logp):
                item["ref_logp"] = lp.detach()
        model.train(was_training)

    def forget_loss(self, model, forget):
        logp = sequence_logprob(model(**model_inputs(forget)).logits, forget["labels"])
        return npo(logp, forget["ref_logp"], self.params.beta)
