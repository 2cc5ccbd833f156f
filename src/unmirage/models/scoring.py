"""Token log-probabilities under teacher forcing (shared by training losses and evaluation)."""

from __future__ import annotations

import torch

from ..data.inputs import IGNORE

__all__ = ["IGNORE", "token_logprobs"]


def token_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of each next token and its mask.

    logits: (batch, seq, vocab) predicting position t+1 from t; labels: (batch, seq) with
    IGNORE where no loss applies. Returns (batch, seq-1) log-probs (0 where masked) and mask.
    """
    logits, labels = logits[:, :-1], labels[:, 1:]
    mask = labels != IGNORE
    logp = torch.log_softmax(logits.float(), dim=-1)
    picked = logp.gather(-1, labels.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    return torch.where(mask, picked, torch.zeros_like(picked)), mask
