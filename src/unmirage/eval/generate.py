"""Batched greedy generation with a KV cache, and teacher-forced scoring, through transformers."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path

import torch
from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

from ..data.inputs import IGNORE, Collator, Encoder, ImageCache, generation_prompt, left_padded_inputs, model_inputs
from ..data.records import Sample
from ..models.families import image_token_id
from ..models.scoring import token_logprobs

# the per-row inputs a decoding step takes (the image inputs serve the prefill only)
_DECODE_KEYS = ("attention_mask", "position_ids", "token_type_ids", "mm_token_type_ids", "moe_mm_token_type_ids")


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _eos_ids(model) -> list[int]:
    eos = model.generation_config.eos_token_id
    return [] if eos is None else [eos] if isinstance(eos, int) else list(eos)


def _plain_greedy(model, max_new_tokens: int, ids: torch.Tensor | None = None) -> bool:
    """Whether `model.generate(do_sample=False)` would pick each next token by a bare argmax of the
    logits of `ids`' continuations, stopping a row at EOS or after `max_new_tokens`: one beam, no
    logits processor from the model's generation config (repetition penalties, minimum lengths,
    suppressed tokens ...; built as `generate` builds them, its special tokens prepared first), no
    stop strings and no time limit. Anything the check cannot read counts as not plain, and so does
    a transformers whose generation helpers are not the ones the decode loop calls (they are
    internal, and change between versions)."""
    step_args = set(inspect.signature(model.prepare_inputs_for_generation).parameters)
    helpers = ("_prepare_position_ids_for_generation", "_update_model_kwargs_for_generation", "_get_logits_processor",
               "_prepare_special_tokens")
    if not {"next_sequence_length", "is_first_iteration", "cache"} <= step_args or not all(
            hasattr(model, h) for h in helpers):
        return False
    ids = torch.ones((1, 1), dtype=torch.long, device=model.device) if ids is None else ids
    try:
        cfg = model.generation_config.__class__.from_dict(model.generation_config.to_dict())
        if (cfg.num_beams or 1) != 1 or getattr(cfg, "stop_strings", None) or getattr(cfg, "max_time", None) \
                or (getattr(cfg, "num_return_sequences", None) or 1) != 1:
            return False
        cfg.update(do_sample=False, max_new_tokens=max_new_tokens)
        model._prepare_special_tokens(cfg, True, device=model.device, batch_size=ids.shape[0])
        return len(model._get_logits_processor(generation_config=cfg, input_ids_seq_length=ids.shape[1],
                                                encoder_input_ids=ids, device=model.device, model_kwargs={})) == 0
    except Exception:  # noqa: BLE001 - an unreadable config takes the library's own loop
        return False


def _rows_selectable(cache) -> bool:
    """Whether every layer of `cache` keeps only keys and values, which `batch_select_indices`
    selects rows of (static, linear-attention, hybrid and quantized layers keep more or cannot)."""
    layers = getattr(cache, "layers", None)
    return bool(layers) and all(type(layer) in (DynamicLayer, DynamicSlidingWindowLayer) for layer in layers)


def _forward_takes(model, name: str) -> bool:
    return name in inspect.signature(model.forward).parameters


def _sliding_window(model) -> bool:
    """Whether the language model attends within a sliding window (counted in cache slots)."""
    text = model.config.get_text_config()
    windowed = bool(getattr(text, "sliding_window", None)) and getattr(text, "use_sliding_window", True) is not False
    return windowed or any("sliding" in str(t) for t in getattr(text, "layer_types", None) or [])


def shared_image_prefix(model, inputs: dict, min_share: float = 0.5):
    """The image prefix of left-padded `inputs`, computed once per distinct image: (inputs laid
    out as [prefix | padding | rest], the prefix's cache expanded to every row, prefix length),
    or None where it does not apply.

    A row's prefix is its prompt up to and including its last image token; rows with the same
    prefix tokens and the same pixels share its keys and values, which do not depend on what
    follows (causal attention) nor on the padding before it (masked, positions counted from the
    first real token). Moving a row's padding between its prefix and the rest leaves every
    position and every attended token as they were, so the tokens are `generate`'s; in bfloat16
    up to rounding (prefilling the rest apart can settle a near-tie otherwise: 1 row of 96 in a
    probe). It applies to inputs of token ids, mask and one image per row (LLaVA-style
    processors) of a model that takes position ids and attends to every earlier token (no
    sliding window), where every row's prefix has the same length and at most `min_share` of
    the rows have a prefix of their own."""
    image_token = image_token_id(model.config)
    pixels, ids, mask = inputs.get("pixel_values"), inputs["input_ids"], inputs.get("attention_mask")
    if (image_token is None or set(inputs) != {"input_ids", "attention_mask", "pixel_values"} or pixels is None
            or pixels.shape[0] != ids.shape[0] or mask is None
            or not _forward_takes(model, "position_ids") or _sliding_window(model)):
        return None
    n, length = ids.shape
    pads = (length - mask.sum(1)).tolist()
    is_image = (ids == image_token).tolist()
    ends = [max((i for i, x in enumerate(row) if x), default=-1) for row in is_image]
    if min(ends) < 0 or len({e + 1 - pad for e, pad in zip(ends, pads)}) != 1:
        return None
    size = ends[0] + 1 - pads[0]
    if size >= length - max(pads):  # nothing would be left to prefill
        return None
    keys, group = {}, []
    same_pixels = torch.unique(pixels.flatten(1), dim=0, return_inverse=True)[1].tolist()  # on the device
    for r in range(n):
        key = (tuple(ids[r, pads[r]:pads[r] + size].tolist()), same_pixels[r])
        group.append(keys.setdefault(key, len(keys)))
    if len(keys) > min_share * n:
        return None
    first = [group.index(g) for g in range(len(keys))]  # a row of each distinct prefix
    prefix_ids = torch.stack([ids[r, pads[r]:pads[r] + size] for r in first])
    out = model(input_ids=prefix_ids, pixel_values=pixels[first], use_cache=True, return_dict=True,
                **({"logits_to_keep": 1} if _forward_takes(model, "logits_to_keep") else {}))
    cache = out["cache"] if "cache" in out else None
    if not getattr(cache, "layers", None) or any(type(layer) is not DynamicLayer for layer in cache.layers):
        return None  # full attention only: a sliding window counts cache slots, which the moved padding would fill
    cache.batch_select_indices(torch.tensor(group, device=ids.device))
    new_ids, new_mask = torch.empty_like(ids), torch.zeros_like(mask)
    for r in range(n):
        rest = ids[r, pads[r] + size:]
        new_ids[r] = torch.cat([ids[r, pads[r]:pads[r] + size], ids[r, :pads[r]], rest])
        new_mask[r, :size] = 1
        new_mask[r, size + pads[r]:] = 1
    return {"input_ids": new_ids, "attention_mask": new_mask}, cache, size


def _select(kwargs: dict, keep: torch.Tensor) -> dict:
    """The decode inputs of the rows `keep` (position ids may be 3-D: Qwen's multimodal rope)."""
    return {k: v.index_select(v.dim() - 2 if k == "position_ids" else 0, keep) if isinstance(v, torch.Tensor) else v
            for k, v in kwargs.items()}


@torch.inference_mode()
def greedy_tokens(model, inputs: dict, max_new_tokens: int, pad_token_id: int | None = None,
                  reuse_prefix: bool = True, compact: float = 0.25) -> list[list[int]]:
    """Each row's greedy continuation of left-padded `inputs`, up to and including its EOS: the
    tokens `model.generate(do_sample=False)` picks, in the rows' order.

    Rows that have ended leave the batch (their cache rows go too, through the cache's
    `batch_select_indices`) once they are `compact` of it, where `generate` keeps computing every
    row until the last one ends; an ended row that has not left yet adds no token. Rows that share
    an image share its prefix, computed once (`shared_image_prefix`, with `reuse_prefix`).
    Positions, masks and the prefill come from the model's own generation helpers. Models whose
    generation config changes the argmax (a repetition penalty, ...) or whose cache cannot drop
    rows go through `model.generate` itself."""
    original, ids = inputs, inputs["input_ids"]
    eos = _eos_ids(model)
    if not _plain_greedy(model, max_new_tokens, ids):
        return _library_tokens(model, inputs, max_new_tokens, eos, pad_token_id)
    first_length, prefix = None, shared_image_prefix(model, inputs) if reuse_prefix else None
    if prefix is not None:  # the image prefix computed once per image: the prefill computes the rest
        laid_out, cache, size = prefix
        ids, first_length = laid_out["input_ids"], ids.shape[1] - size
        inputs = {**laid_out, "cache": cache}
    kwargs = {k: v for k, v in inputs.items() if k != "input_ids"}
    if kwargs.get("attention_mask") is None:  # as `generate` makes one: every row's positions from it
        kwargs["attention_mask"] = torch.ones_like(ids)
    if _forward_takes(model, "position_ids"):
        kwargs["position_ids"] = model._prepare_position_ids_for_generation(ids, {"input_ids": ids, **kwargs})
    if bool((kwargs["attention_mask"] == 1).all()):
        kwargs["attention_mask"] = None  # no padding: as `generate` does, for the same attention path
    kwargs["use_cache"] = True
    if _forward_takes(model, "logits_to_keep"):
        kwargs["logits_to_keep"] = 1  # as `generate` sets it: the prefill's logits at the last position only
    rows = torch.arange(ids.shape[0], device=ids.device)  # the input row of each batch row
    answers: list[list[int]] = [[] for _ in range(ids.shape[0])]
    eos_t = torch.tensor(eos, device=ids.device, dtype=ids.dtype)
    seq, done = ids, torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)  # done: ended rows
    for step in range(max_new_tokens):
        step_inputs = model.prepare_inputs_for_generation(seq, next_sequence_length=1 if step else first_length,
                                                          is_first_iteration=step == 0, **kwargs)
        out = model(**step_inputs, return_dict=True)
        nxt = out.logits[:, -1].float().argmax(-1)
        if step == 0:  # the image inputs served the prefill
            kwargs = {k: v for k, v in kwargs.items() if k in _DECODE_KEYS or k in ("use_cache", "logits_to_keep", "cache")}
        kwargs = model._update_model_kwargs_for_generation(out, kwargs)
        del out  # as `generate` does: the prefill's outputs are not kept through the next step
        if step == 0 and not _rows_selectable(kwargs.get("cache")):
            return _library_tokens(model, original, max_new_tokens, eos, pad_token_id)
        for r, t, d in zip(rows.tolist(), nxt.tolist(), done.tolist()):
            if not d:
                answers[r].append(t)
        if step + 1 == max_new_tokens:
            break
        seq = torch.cat([seq, nxt[:, None]], dim=-1)
        done = done | torch.isin(nxt, eos_t)
        if done.all():
            break
        if done.any() and done.sum() >= compact * len(rows):  # ended rows leave (each time a copy of the cache)
            keep = (~done).nonzero().squeeze(1)
            kwargs["cache"].batch_select_indices(keep)
            kwargs = _select(kwargs, keep)
            rows, seq, done = rows[keep], seq[keep], done[keep]
    return answers


def _library_tokens(model, inputs: dict, max_new_tokens: int, eos: list[int],
                    pad_token_id: int | None) -> list[list[int]]:
    out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, use_cache=True,
                         pad_token_id=pad_token_id)
    new = out[:, inputs["input_ids"].shape[1]:].tolist()
    answers = []
    for row in new:  # up to and including the first EOS, as the decode loop gives them
        end = next((i + 1 for i, t in enumerate(row) if t in eos), len(row))
        answers.append(row[:end])
    return answers


@torch.inference_mode()
def generate_texts(model, processor, prompts: list[str], images: list, max_new_tokens: int) -> list[str]:
    """Greedy continuations of chat-formatted `prompts`, each with its PIL image (left padding, KV
    cache, finished rows leaving the batch)."""
    inputs = left_padded_inputs(processor, prompts, images).to(model.device)
    answers = greedy_tokens(model, dict(inputs), max_new_tokens, processor.tokenizer.pad_token_id)
    return [t.strip() for t in processor.tokenizer.batch_decode(answers, skip_special_tokens=True)]


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
        """Each sample's answer; samples with the same prompt and image are answered once (greedy
        decoding gives them the same answer)."""
        prompts = [generation_prompt(self.processor, s) for s in samples]
        unique: dict[tuple[str, str], int] = {}
        which = [unique.setdefault((p, s.image), len(unique)) for p, s in zip(prompts, samples)]
        texts = generate_texts(self.model, self.processor, [p for p, _ in unique],
                               [self.images.pil(image) for _, image in unique], self.max_new_tokens)
        return [texts[i] for i in which]


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
