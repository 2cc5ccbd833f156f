"""Supervised safety fine-tuning."""

from __future__ import annotations

from .base import METHODS, Method, model_inputs
from .losses import nll


@METHODS.register("sft")
class SFT(Method):
    """Supervised fine-tuning (Zong et al. 2024, VLGuard): refusals for unsafe queries, answers for safe ones.

    Objective: min_θ E[-log π_θ(y|x)] over the training mix. No reference model; trains every
    trainable parameter.
    """

    name = "sft"

    def loss(self, model, batch):
        out = model(**model_inputs(batch))
        loss = nll(out.logits, batch["labels"])
        return loss, {"sft_loss": loss.item()}
