"""The loss maths of every method, as pure functions of tensors (unit-tested by hand)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models.scoring import IGNORE, token_logprobs

__all__ = ["IGNORE", "token_logprobs", "sequence_logprob", "nll", "npo", "masked_mse", "rmu_forget", "rmu_retain"]


def sequence_logprob(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log π(y|x) per sequence: the sum of its answer tokens' log-probs. (batch,)"""
    picked, _ = token_logprobs(logits, labels)
    return picked.sum(-1)


def nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token negative log-likelihood over all answer tokens of the batch."""
    picked, mask = token_logprobs(logits, labels)
    return -picked.sum() / mask.sum().clamp_min(1)


def npo(logp: torch.Tensor, logp_ref: torch.Tensor, beta: float) -> torch.Tensor:
    """NPO (Zhang et al. 2024): mean over sequences of -(2/β)·log σ(-β·(log π_θ(y|x) - log π_ref(y|x))).

    logp, logp_ref: (batch,) per-sequence log-probs of the forget answers.
    """
    return (-(2.0 / beta) * F.logsigmoid(-beta * (logp - logp_ref))).mean()


def masked_mse(hidden: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over masked positions of the mean squared difference over the hidden dimension.

    hidden, target: (batch, seq, dim) (target may broadcast, e.g. (dim,)); mask: (batch, seq).
    """
    per_token = ((hidden.float() - target.float()) ** 2).mean(-1)  # (batch, seq)
    mask = mask.to(per_token.dtype)
    return (per_token * mask).sum() / mask.sum().clamp_min(1)


def rmu_forget(hidden: torch.Tensor, direction: torch.Tensor, coeff: float, mask: torch.Tensor) -> torch.Tensor:
    """RMU forget term (Li et al. 2024, WMDP): ||h_θ(x_f) - c·u||² on the masked tokens."""
    return masked_mse(hidden, coeff * direction, mask)


def rmu_retain(hidden: torch.Tensor, frozen: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """RMU retain term: ||h_θ(x_r) - h_θ0(x_r)||² on the masked tokens."""
    return masked_mse(hidden, frozen, mask)
