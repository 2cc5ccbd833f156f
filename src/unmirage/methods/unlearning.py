"""The composite objective every unlearning method shares (mission.md, "The paper's protocol").

L = forget_weight · L_unlearn(D_forget) + retain_weight · [ L_nll(D_retain) + retain_method_weight · L_method_retain(D_retain) ]

The plain next-token loss on retain data is always present: without it VLM unlearning collapses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import Method, model_inputs
from .losses import nll


@dataclass
class RetainParams:
    forget_weight: float = 1.0
    retain_weight: float = 1.0  # γ
    retain_method_weight: float = 1.0  # α


class UnlearningMethod(Method):
    paired = True
    output_hidden_states = False

    def forget_loss(self, model, forget: dict) -> torch.Tensor:
        raise NotImplementedError

    def retain_term(self, model, retain: dict, out) -> torch.Tensor | None:
        """The method's own retain term (None: only the retain NLL)."""
        return None

    def loss(self, model, batch):
        forget, retain = batch["forget"], batch["retain"]
        p = self.params
        forget_loss = self.forget_loss(model, forget)
        out = model(**model_inputs(retain), output_hidden_states=self.output_hidden_states)
        retain_nll = nll(out.logits, retain["labels"])
        retain_loss = retain_nll
        terms = {"forget_loss": forget_loss.item(), "retain_nll": retain_nll.item()}
        extra = self.retain_term(model, retain, out)
        if extra is not None:
            retain_loss = retain_loss + p.retain_method_weight * extra
            terms["retain_method"] = extra.item()
        loss = p.forget_weight * forget_loss + p.retain_weight * retain_loss
        return loss, terms
