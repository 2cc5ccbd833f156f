"""Batched greedy generation with a KV cache, and teacher-forced scoring, through transformers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from ..data.inputs import IGNORE, Collator, Encoder, ImageCache, generation_prompt, left_padded_inputs, model_inputs
from ..data.records import Sample
from ..models.scoring import token_logprobs


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@torch.no_grad()
def generate_texts(model, processor, prompts: list[str], images: list, max_new_tokens: int) -> list[str]:
    """Greedy continuations of chat-formatted `prompts`, each with its PIL image (left padding, KV cache)."""
    tok = processor.tokenizer
    inputs = left_padded_inputs(processor, prompts, images).to(model.device)
    out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, use_cache=True,
                         pad_token_id=tok.pad_token_id)
    new = out[:, inputs["input_ids"].shape[1]:]
    return [t.strip() for t in tok.batch_decode(new, skip_special_tokens=True)]


class HFGenerator:
    """Generation backend over a transformers model (left padding, greedy, KV cache)."""

    name = "hf"

    def __init__(self, model, processor, image_root: str | Path, max_new_tokens: int = 24):
        self.model, self.processor = model.eval(), processor
        self.images = ImageCache(processor, image_root)
        self.max_new_tokens = max_new_tokens

    @property
    def settings(self) -> dict:
        """What, besides the model, prompt and image, decides an answer (part of the cache key)."""
        return {"backend": self.name, "dtype": str(self.model.dtype), "max_new_tokens": self.max_new_tokens,
                "greedy": True}

    def generate(self, samples: list[Sample]) -> list[str]:
        return generate_texts(self.model, self.processor, [generation_prompt(self.processor, s) for s in samples],
                              [self.images.pil(s.image) for s in samples], self.max_new_tokens)


def span_token_mask(tokenizer, prefix: str, answer: str, spans: list[tuple[int, int]]) -> list[bool]:
    """Which tokens of `prefix + answer` (as `Encoder.encode` tokenizes it, then EOS) overlap a
    character span of `answer`."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"scoring spans of an answer needs a fast tokenizer (offsets); {type(tokenizer).__name__} "
                         "is not one: load the model's processor with use_fast=True")
    enc = tokenizer(prefix + answer, add_special_tokens=False, return_offsets_mapping=True)
    shifted = [(a + len(prefix), b + len(prefix)) for a, b in spans]
    mask = [any(start < b and a < end for a, b in shifted) for start, end in enc["offset_mapping"]]
    return mask + [False]  # the end-of-sequence token


@torch.no_grad()
def target_likelihood(model, processor, samples: list[Sample], targets: list[str], image_root: str | Path,
                      max_length: int, batch_size: int = 64,
                      spans: list[list[tuple[int, int]]] | None = None) -> list[float]:
    """Per sample, the geometric-mean probability of the tokens of `target` under teacher forcing:
    every answer token, or with `spans` only the tokens inside those character spans of the
    target (the rest of the answer is still teacher-forced as context)."""
    encoder = Encoder(processor, image_root, max_length)
    collate = Collator(processor.tokenizer.pad_token_id, encoder.images)
    scores: list[float] = []
    items = []
    for i, (s, t) in enumerate(zip(samples, targets, strict=True)):
        item = encoder.encode(s, answer=t)
        if spans is not None:
            keep = span_token_mask(processor.tokenizer, encoder.answer_prefix, t, spans[i])
            if not any(keep):
                raise ValueError(f"sample {s.id!r}: no token of its target lies inside the scored spans")
            start = len(item["labels"]) - len(keep)
            item["labels"] = item["labels"][:start] + [lab if k else IGNORE
                                                       for lab, k in zip(item["labels"][start:], keep)]
        items.append(item)
    for chunk in _batches(items, batch_size):
        batch = collate(chunk)
        batch = {k: v.to(model.device) for k, v in batch.items() if isinstance(v, torch.Tensor)}
        logits = model(**model_inputs(batch)).logits
        picked, mask = token_logprobs(logits, batch["labels"])
        mean = picked.sum(-1) / mask.sum(-1).clamp_min(1)
        scores.extend(mean.exp().tolist())
    return scores
