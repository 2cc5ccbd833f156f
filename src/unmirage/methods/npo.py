"""Negative Preference Optimization and its reference-free variant SimNPO."""

from __future__ import annotations

from dataclasses import dataclass

from .base import METHODS, precompute, sequence_logprobs
from .losses import answer_lengths, npo, simnpo
from .unlearning import RetainParams, UnlearningMethod


@dataclass
class NPOParams(RetainParams):
    beta: float = 0.5  # β: the inverse temperature of the log-ratio


@METHODS.register("npo")
class NPO(UnlearningMethod):
    """NPO (Zhang et al. 2024, arXiv 2404.05868) on the forget answers, plus the retain terms.

    Objective: E_f[-(2/β)·log σ(-β·log(π_θ(y|x)/π_ref(y|x)))] + γ·E_r[-log π_θ(y|x)], with
    per-sequence log-ratios. π_ref is the model before unlearning: its log-probs of the forget
    answers are computed once in `prepare`, so no second copy of the model is kept.
    """

    name = "npo"
    Params = NPOParams

    def prepare(self, model, data, collate):
        super().prepare(model, data, collate)
        precompute(model, data.main, collate, sequence_logprobs, "ref_logp")

    def forget_loss(self, model, forget):
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
