"""Direct Preference Optimization as a safety baseline: prefer the refusal to the harmful answer."""

from __future__ import annotations

from dataclasses import dataclass

from .base import METHODS, precompute, sequence_logprobs
from .losses import dpo
from .unlearning import RetainParams, UnlearningMethod


@dataclass
class DPOParams(RetainParams):
    beta: float = 0.1  # β: the KL-regularisation strength of the implicit reward
    refusal: str = "I cannot help with that."  # chosen answer for forget samples without `meta.refusal`


@METHODS.register("dpo")
class DPO(UnlearningMethod):
    """DPO (Rafailov et al. 2023, arXiv 2305.18290) on forget queries: chosen = a refusal, rejected = the harmful answer.

    Objective: E_f[-log σ(β·[log π_θ(y_w|x)/π_ref(y_w|x) − log π_θ(y_l|x)/π_ref(y_l|x)])] + γ·E_r[-log π_θ(y|x)].
    The refusal is the sample's `meta.refusal` (the safety set's refusal of the same query) or
    `params.refusal`. Reference log-probs of both answers are computed once in `prepare`.
    """

    unlearns = False  # preference optimisation towards the refusals: an alignment arm, not unlearning

    name = "dpo"
    Params = DPOParams

    def encode(self, encoder, sample):
        refusal = sample.meta.get("refusal") or self.params.refusal
        return {"chosen": encoder.encode(sample, answer=refusal), "rejected": encoder.encode(sample)}

    def prepare(self, model, data, collate):
        super().prepare(model, data, collate)
        for side in ("chosen", "rejected"):
            precompute(model, [it[side] for it in data.main], collate, sequence_logprobs, "ref_logp")

    def forget_loss(self, model, forget):
        chosen, rejected = forget["chosen"], forget["rejected"]
        return dpo(sequence_logprobs(model, chosen), sequence_logprobs(model, rejected), chosen["ref_logp"],
                   rejected["ref_logp"], self.params.beta)
