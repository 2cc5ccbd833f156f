"""LoRA through PEFT: adapters on the language model's projections, merged into the weights on save.

A trained LoRA model is saved merged (`merge_and_unload`): the saved directory is a plain
transformers model, so evaluation and the next arm load it like any other, with no PEFT code
and no base-model path to keep track of. While training, methods that need the model before
alignment use the same model with its adapters disabled (`methods.base.Reference`).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import torch

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..config import ModelConfig

log = logging.getLogger(__name__)

# Every family's language model names its attention and MLP projections this way; the vision
# tower's own q_proj/v_proj (CLIP, SigLIP) sit outside `language_model.` / `text_model.`.
DEFAULT_TARGET = (r".*(?:language_model|text_model)\.(?:model\.)?layers\.\d+\."
                  r"(?:self_attn\.(?:q_proj|k_proj|v_proj|o_proj)|mlp\.(?:gate_proj|up_proj|down_proj))")


def is_peft(model: torch.nn.Module) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "disable_adapter")


def add_lora(model: torch.nn.Module, r: int, alpha: float, dropout: float, target: str = ""):
    """Wrap `model` with LoRA adapters on the modules whose full name matches `target` (a regex)."""
    from peft import LoraConfig, get_peft_model

    target = target or DEFAULT_TARGET
    try:
        matched = [n for n, m in model.named_modules() if re.fullmatch(target, n) and isinstance(m, torch.nn.Linear)]
    except re.error as e:
        raise ConfigError(f"model.lora.target {target!r} is not a valid regex ({e})") from None
    if not matched:
        raise ConfigError(f"model.lora.target {target!r} matches no linear layer of this model; it is matched "
                          "against full module names such as 'model.language_model.layers.0.self_attn.q_proj'")
    log.info("LoRA r=%d on %d modules (e.g. %s)", r, len(matched), matched[0])
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target, bias="none")
    return get_peft_model(model, config)


def merge_lora(model: torch.nn.Module) -> torch.nn.Module:
    """The plain model with the adapters folded into its weights (no-op without adapters)."""
    return model.merge_and_unload() if is_peft(model) else model


def finetune_model(model: torch.nn.Module, cfg: ModelConfig | None) -> torch.nn.Module:
    """`model` ready for `cfg.finetune`: wrapped with LoRA adapters for `lora`, as it is for `full`."""
    if cfg is None or cfg.finetune == "full":
        return model
    return add_lora(model, cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout, cfg.lora.target)
