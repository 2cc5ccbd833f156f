"""Turn samples into model inputs: prompts through the processor's chat template, labels masked
on the prompt, image tokens and padding; images processed once and cached."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import DataError
from .records import Sample, load_image

IGNORE = -100


def user_messages(instruction: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": instruction}]}]


def prompt_text(processor, instruction: str) -> str:
    return processor.apply_chat_template(user_messages(instruction), add_generation_prompt=True, tokenize=False)


class ImageCache:
    """Processed pixel tensors by image path (the world reuses each render many times)."""

    def __init__(self, processor, image_root: str | Path):
        self.processor, self.root = processor, Path(image_root)
        self._cache: dict[str, dict[str, torch.Tensor]] = {}
        self._pil: dict[str, Any] = {}

    def pil(self, rel: str):
        if rel not in self._pil:
            self._pil[rel] = load_image(self.root, rel)
        return self._pil[rel]

    def __call__(self, rel: str) -> dict[str, torch.Tensor]:
        if rel not in self._cache:
            feats = self.processor.image_processor(images=[self.pil(rel)], return_tensors="pt")
            self._cache[rel] = {k: v[0] for k, v in feats.items() if isinstance(v, torch.Tensor)}
        return self._cache[rel]


class Encoder:
    """Encodes (prompt, answer) examples: input ids, labels on the answer only, pixel values."""

    def __init__(self, processor, image_root: str | Path, max_length: int):
        self.processor, self.max_length = processor, max_length
        self.tokenizer = processor.tokenizer
        self.images = ImageCache(processor, image_root)
        self._prompts: dict[tuple[str, str], list[int]] = {}

    def prompt_ids(self, sample: Sample) -> list[int]:
        """Prompt token ids, image placeholder expanded by the processor (never truncated)."""
        key = (sample.instruction, sample.image)
        if key not in self._prompts:
            text = prompt_text(self.processor, sample.instruction)
            enc = self.processor(text=[text], images=[self.images.pil(sample.image)], add_special_tokens=False)
            self._prompts[key] = list(enc["input_ids"][0])
        return self._prompts[key]

    def encode(self, sample: Sample, answer: str | None = None) -> dict[str, Any]:
        """One training example; `answer` defaults to the sample's response."""
        prompt = self.prompt_ids(sample)
        answer = sample.response if answer is None else answer
        answer_ids = self.tokenizer(" " + answer, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
        ids = prompt + answer_ids
        if len(ids) > self.max_length:
            raise DataError(f"sample {sample.id!r} is {len(ids)} tokens long, more than model.max_length="
                            f"{self.max_length}; raise model.max_length (image tokens are never truncated)")
        return {"input_ids": ids, "labels": [IGNORE] * len(prompt) + answer_ids, "image": sample.image}


@dataclass
class Collator:
    """Right-pads a list of encoded examples (or of {"forget": ..., "retain": ...} pairs)."""

    pad_id: int
    images: ImageCache

    def __call__(self, items: list[dict]) -> dict[str, Any]:
        if "input_ids" not in items[0]:
            return {k: self([it[k] for it in items]) for k in items[0]}
        length = max(len(it["input_ids"]) for it in items)
        out: dict[str, Any] = {
            "input_ids": torch.full((len(items), length), self.pad_id, dtype=torch.long),
            "attention_mask": torch.zeros((len(items), length), dtype=torch.long),
            "labels": torch.full((len(items), length), IGNORE, dtype=torch.long),
        }
        for i, it in enumerate(items):
            n = len(it["input_ids"])
            out["input_ids"][i, :n] = torch.tensor(it["input_ids"])
            out["attention_mask"][i, :n] = 1
            out["labels"][i, :n] = torch.tensor(it["labels"])
        feats = [self.images(it["image"]) for it in items]
        for key in feats[0]:
            out[key] = torch.stack([f[key] for f in feats])
        for key in items[0]:  # per-example extras a method precomputed (e.g. reference log-probs)
            if key.startswith("ref_"):
                out[key] = _stack_padded([it[key] for it in items], length)
        return out


def _stack_padded(values: list[torch.Tensor], length: int) -> torch.Tensor:
    if values[0].dim() == 0:
        return torch.stack(values)
    out = values[0].new_zeros((len(values), length, *values[0].shape[1:]))
    for i, v in enumerate(values):
        out[i, : v.shape[0]] = v
    return out
