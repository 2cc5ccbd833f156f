"""The loss maths of every method, as pure functions of tensors (unit-tested by hand)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models.scoring import IGNORE, token_logprobs

__all__ = ["IGNORE", "token_logprobs", "sequence_logprob", "answer_lengths", "answer_state_mask", "nll", "npo",
           "npo_tokens", "simnpo", "dpo", "kl", "masked_mse", "rmu_forget", "rmu_retain"]


def sequence_logprob(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log π(y|x) per sequence: the sum of its answer tokens' log-probs. (batch,)"""
    picked, _ = token_logprobs(logits, labels)
    return picked.sum(-1)


def answer_lengths(labels: torch.Tensor) -> torch.Tensor:
    """|y| per sequence: the number of scored answer tokens. (batch,)"""
    return (labels[:, 1:] != IGNORE).sum(-1)


def answer_state_mask(labels: torch.Tensor) -> torch.Tensor:
    """The positions whose output predicts an answer token: from the prompt's last token to the
    answer's second-to-last (labels are aligned with the inputs; position t predicts token t+1). (batch, seq)"""
    mask = torch.zeros_like(labels, dtype=torch.bool)
    mask[:, :-1] = labels[:, 1:] != IGNORE
    return mask


def nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token negative log-likelihood over all answer tokens of the batch."""
    picked, mask = token_logprobs(logits, labels)
    return -picked.sum() / mask.sum().clamp_min(1)


def npo(logp: torch.Tensor, logp_ref: torch.Tensor, beta: float) -> torch.Tensor:
    """NPO (Zhang et al. 2024): mean over sequences of -(2/β)·log σ(-β·(log π_θ(y|x) - log π_ref(y|x))).

    logp, logp_ref: (batch,) per-sequence log-probs of the forget answers.
    """
    return (-(2.0 / beta) * F.logsigmoid(-beta * (logp - logp_ref))).mean()


def npo_tokens(logp: torch.Tensor, logp_ref: torch.Tensor, mask: torch.Tensor, beta: float) -> torch.Tensor:
    """Token-level NPO: the NPO term of each answer token, summed over the answer, mean over sequences.

    Σ_t -(2/β)·log σ(-β·(log π_θ(y_t|x, y_<t) - log π_ref(y_t|x, y_<t))) per sequence. Each token
    has its own weight 2·σ(β·Δ_t), so a token still as likely as under π_ref is pushed down at
    full weight however unlikely the rest of the answer has become (sequence-level NPO weighs
    every token by the whole answer's log-ratio, and stops once that is low). At π_θ = π_ref its
    gradient equals sequence-level NPO's. logp, logp_ref, mask: (batch, seq); masked entries
    are ignored.
    """
    term = -(2.0 / beta) * F.logsigmoid(-beta * (logp - logp_ref))
    return torch.where(mask, term, torch.zeros_like(term)).sum(-1).mean()


def simnpo(logp: torch.Tensor, length: torch.Tensor, beta: float, gamma: float) -> torch.Tensor:
    """SimNPO (Fan et al. 2024): mean of -(2/β)·log σ(-(β/|y|)·log π_θ(y|x) - γ).

    NPO without the reference model: the log-likelihood is normalised by the answer length |y|,
    and γ ≥ 0 is a reward margin. logp, length: (batch,).
    """
    return (-(2.0 / beta) * F.logsigmoid(-(beta / length.clamp_min(1)) * logp - gamma)).mean()


def dpo(logp_chosen: torch.Tensor, logp_rejected: torch.Tensor, ref_chosen: torch.Tensor, ref_rejected: torch.Tensor,
        beta: float) -> torch.Tensor:
    """DPO (Rafailov et al. 2023): mean of -log σ(β·[(log π_θ(y_w) - log π_ref(y_w)) - (log π_θ(y_l) - log π_ref(y_l))]).

    All arguments are per-sequence log-probs, (batch,); y_w is chosen, y_l rejected.
    """
    margin = (logp_chosen - ref_chosen) - (logp_rejected - ref_rejected)
    return -F.logsigmoid(beta * margin).mean()


def kl(logits: torch.Tensor, ref_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """KL(π_ref ‖ π_θ) of the next-token distributions, averaged over the answer tokens of the batch.

    Σ_v π_ref(v)·(log π_ref(v) - log π_θ(v)) at each position that predicts an answer token
    (the positions `nll` scores). logits, ref_logits: (batch, seq, vocab); labels: (batch, seq).
    """
    mask = (labels[:, 1:] != IGNORE).to(torch.float32)
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    ref = torch.log_softmax(ref_logits[:, :-1].float(), dim=-1)
    per_token = (ref.exp() * (ref - logp)).sum(-1)
    return (per_token * mask).sum() / mask.sum().clamp_min(1)


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
