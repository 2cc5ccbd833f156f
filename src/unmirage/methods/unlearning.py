"""The composite objective every unlearning method shares (mission.md, "The paper's protocol").

L = forget_weight · L_unlearn(D_forget)
    + retain_weight · [ L_nll(D_retain) + kl_weight · KL(π_ref ‖ π_θ)(D_retain) + retain_method_weight · L_method_retain(D_retain) ]

The plain next-token loss on retain data is the default retain term: without it VLM unlearning
collapses. The KL-to-reference term (TOFU's "KL" retain loss) is off unless `kl_weight` > 0;
the reference is the model before unlearning (see `base.Reference`). `retain_weight` = 0
drops the retain batch altogether (plain gradient ascent).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError
from .base import Method, Reference, model_inputs
from .losses import kl, nll


@dataclass
class RetainParams:
    forget_weight: float = 1.0
    retain_weight: float = 1.0  # γ: the whole retain term; 0 = no retain batch
    retain_nll: bool = True  # the next-token loss on retain answers
    kl_weight: float = 0.0  # KL(π_ref ‖ π_θ) on retain answers
    retain_method_weight: float = 1.0  # α: the method's own retain term (RMU's activation match)

    def __post_init__(self) -> None:
        for key in ("forget_weight", "retain_weight", "kl_weight", "retain_method_weight"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key} must be >= 0, got {getattr(self, key)}")


class UnlearningMethod(Method):
    paired = True
    unlearns = True

    def __init__(self, params=None, seed: int = 0):
        super().__init__(params, seed)
        self.reference = Reference()

    @property
    def uses_retain(self) -> bool:
        return self.params.retain_weight > 0

    def prepare(self, model, data, collate) -> None:
        if self.uses_retain and self.params.kl_weight > 0:
            self.reference.attach(model)

    def forget_loss(self, model, forget: dict) -> torch.Tensor:
        raise NotImplementedError

    def retain_forward(self, model, retain: dict):
        """The forward pass on the retain batch, shared by every retain term."""
        return model(**model_inputs(retain))

    def retain_term(self, model, retain: dict, out) -> torch.Tensor | None:
        """The method's own retain term (None: none)."""
        return None

    def loss(self, model, batch):
        forget, p = batch["forget"], self.params
        forget_loss = self.forget_loss(model, forget)
        terms = {"forget_loss": forget_loss.item()}
        loss = p.forget_weight * forget_loss
        if not self.uses_retain:
            return loss, terms
        retain = batch["retain"]
        out = self.retain_forward(model, retain)
        parts = []
        if p.retain_nll:
            retain_nll = nll(out.logits, retain["labels"])
            parts.append(retain_nll)
            terms["retain_nll"] = retain_nll.item()
        if p.kl_weight > 0:
            ref_logits = self.reference.logits(model, retain)
            retain_kl = kl(out.logits, ref_logits, retain["labels"])
            parts.append(p.kl_weight * retain_kl)
            terms["retain_kl"] = retain_kl.item()
        extra = self.retain_term(model, retain, out)
        if extra is not None:
            parts.append(p.retain_method_weight * extra)
            terms["retain_method"] = extra.item()
        if parts:
            loss = loss + p.retain_weight * sum(parts)
        return loss, terms
