"""Gradient ascent on the forget answers, alone or with a retain term (gradient difference)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import METHODS, model_inputs
from .losses import nll
from .unlearning import RetainParams, UnlearningMethod


@dataclass
class GAParams(RetainParams):
    retain_weight: float = 0.0  # plain gradient ascent: no retain term


@METHODS.register("ga")
class GA(UnlearningMethod):
    """Gradient ascent (Jang et al. 2023, arXiv 2210.01504): maximise the forget answers' next-token loss.

    Objective: min_θ E_f[log π_θ(y|x)] (per token). Unbounded: it can "win" on ASR by destroying
    the model, which the degenerate-output rate shows.
    """

    name = "ga"
    Params = GAParams

    def forget_loss(self, model, forget):
        return -nll(model(**model_inputs(forget)).logits, forget["labels"])


@METHODS.register("graddiff")
class GradDiff(GA):
    """Gradient difference (Liu et al. 2022, arXiv 2203.12817; TOFU's GradDiff): ascent on forget, descent on retain.

    Objective: min_θ E_f[log π_θ(y|x)] + γ·E_r[-log π_θ(y|x)] (per token).
    """

    name = "graddiff"
    Params = RetainParams
