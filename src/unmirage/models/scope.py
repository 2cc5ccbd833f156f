"""Which parameters train: the scope the config declares, intersected with a method's own scope.

Parameter names differ by family but follow a few conventions, which the patterns here cover
(with or without a PEFT wrapper's `base_model.model.` prefix):

| part | LLaVA, LLaVA-NeXT, OneVision | Qwen2-VL, Qwen2.5-VL | Idefics3, SmolVLM |
|---|---|---|---|
| vision tower | `model.vision_tower.` | `model.visual.` (but the merger) | `model.vision_model.` |
| projector | `model.multi_modal_projector.`, `model.image_newline` | `model.visual.merger.` | `model.connector.` |
| language model | `model.language_model.`, `lm_head.` | same | `model.text_model.`, `lm_head.` |
| decoder layer N | `model.language_model.layers.N.` (older transformers: `language_model.model.layers.N.`) | same | `model.text_model.layers.N.` |

Config scope entries (`model.trainable`): `vision`, `projector`, `language`, `layers:SPEC` (the
language model's decoder layers, e.g. `layers:0-3,6`), or any other string as a regex searched
in parameter names. Empty: everything. Under LoRA only adapter weights are candidates, so the
same entries pick which adapters train.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import torch

from ..errors import ConfigError

_START = r"(?:^|\.)"
VISION = _START + r"(?:vision_tower|vision_model|visual\.(?!merger\.))"
PROJECTOR = _START + r"(?:multi_modal_projector\.|connector\.|visual\.merger\.|image_newline$)"
LANGUAGE = _START + r"(?:language_model\.|text_model\.|lm_head\.)"
KEYWORDS = {"vision": VISION, "projector": PROJECTOR, "language": LANGUAGE}


def layer_pattern(layers: Iterable[int], modules: str = "") -> str:
    """Regex of the language model's decoder layers `layers` (optionally their sub-modules `modules`)."""
    ids = "|".join(str(i) for i in layers)
    tail = rf"(?:{modules})\." if modules else ""
    return _START + rf"(?:language_model|text_model)\.(?:model\.)?layers\.(?:{ids})\.{tail}"


def parse_layers(spec: str) -> list[int]:
    """'0-3,6' → [0, 1, 2, 3, 6]."""
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.strip().partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()) or (hi and int(hi) < int(lo)):
            raise ConfigError(f"model.trainable: layer spec {spec!r} must look like '0-3,6'")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def scope_patterns(entries: list[str]) -> list[str] | None:
    """Regexes for the config's scope entries (None: no restriction)."""
    if not entries:
        return None
    patterns = []
    for entry in entries:
        if entry in KEYWORDS:
            patterns.append(KEYWORDS[entry])
        elif entry.startswith("layers:"):
            patterns.append(layer_pattern(parse_layers(entry[len("layers:"):])))
        else:
            try:
                re.compile(entry)
            except re.error as e:
                raise ConfigError(f"model.trainable: {entry!r} is neither {', '.join(KEYWORDS)}, layers:SPEC "
                                  f"nor a valid regex ({e})") from None
            patterns.append(entry)
    return patterns


def apply_scope(model: torch.nn.Module, *scopes: list[str] | None) -> list[str]:
    """Freeze every parameter outside the scopes; returns the names that train.

    A parameter trains when it requires grad now (under LoRA: the adapters; otherwise what the
    model builder left trainable) and matches every scope that is not None (each a list of
    regexes, any of which may match). An empty result is an error that names the scopes.
    """
    active = [[re.compile(p) for p in s] for s in scopes if s is not None]
    names = []
    for name, p in model.named_parameters():
        keep = p.requires_grad and all(any(r.search(name) for r in regexes) for regexes in active)
        p.requires_grad_(keep)
        if keep:
            names.append(name)
    if not names:
        raise ConfigError(f"no trainable parameter matches the scope {[s for s in scopes if s is not None]}; "
                          "check model.trainable, model.finetune / model.lora.target and the method's layers")
    return names
