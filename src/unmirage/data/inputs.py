"""Turn samples into model inputs, for training, generation and scoring alike: prompts through
the processor's chat template, the answer prefix, labels masked on the prompt, image tokens,
padding (right for teacher forcing, left for generation); images processed once and cached.

Works for every model family the processor describes: the prompt (with its image tokens) comes
from the processor itself, so LLaVA-NeXT's variable image-token counts, Qwen2-VL's merged
patches and Idefics3's image splits are expanded exactly as in generation; per-image features
(`pixel_values`, `image_sizes`, `image_grid_thw`, `pixel_attention_mask`) are concatenated over
a batch, zero-padded where images differ in size (tiles, splits), as the processors do.
"""

from __future__ import annotations

import weakref

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import DataError
from .records import Sample, load_image

IGNORE = -100

# batch keys the trainer owns: every other key of a collated batch (whatever a processor adds)
# goes to the model's forward; method extras start with REF_PREFIX (reference log-probs, ...)
TRAINER_KEYS = ("labels",)
REF_PREFIX = "ref_"
# per-token keys of an encoded example other than input ids and labels, and their padding value
TOKEN_KEYS = {"mm_token_type_ids": 0}
_SENTINEL = "ANSWERSENTINEL"


def model_inputs(batch: dict[str, Any]) -> dict[str, Any]:
    """The entries of a collated batch that the model's forward takes: all but the trainer's own
    (labels, a method's `ref_*` extras) and nested batches (forget / retain, chosen / rejected)."""
    return {k: v for k, v in batch.items()
            if k not in TRAINER_KEYS and not k.startswith(REF_PREFIX) and not isinstance(v, dict)}


def user_messages(instruction: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": instruction}]}]


def prompt_text(processor, instruction: str) -> str:
    return processor.apply_chat_template(user_messages(instruction), add_generation_prompt=True, tokenize=False)


PREFILL = "prefill"  # a sample's meta key: words its answer is made to start with (the prefilling attack)


def generation_prompt(processor, sample: Sample) -> str:
    """The text a model continues to answer `sample`: its chat prompt, then the start of the answer
    prefilled for it (`meta.prefill`), if any. The answer is what the model adds after that."""
    prompt = prompt_text(processor, sample.instruction)
    prefill = sample.meta.get(PREFILL)
    return prompt + answer_prefix(processor) + prefill if prefill else prompt


_PREFIXES: "weakref.WeakKeyDictionary[Any, tuple[Any, str]]" = weakref.WeakKeyDictionary()


def answer_prefix(processor) -> str:
    """What the chat template puts between the generation prompt and the answer text.

    " " for the tiny LLaVA ("... <sep> answer </s>") and templates like "ASSISTANT: answer",
    "" for Qwen's "<|im_start|>assistant\nanswer"; " " when the template does not render the
    prompt as a prefix of the conversation. Found once per processor and template (a prefilled
    prompt asks for it on every generation).
    """
    template = getattr(processor, "chat_template", None)
    cached = _PREFIXES.get(processor)
    if cached is None or cached[0] != template:
        cached = _PREFIXES[processor] = (template, _answer_prefix(processor))
    return cached[1]


def _answer_prefix(processor) -> str:
    prompt = prompt_text(processor, "q")
    reply = [{"role": "assistant", "content": [{"type": "text", "text": _SENTINEL}]}]
    try:
        full = processor.apply_chat_template(user_messages("q") + reply, tokenize=False)
    except Exception:  # noqa: BLE001  (a template that refuses an assistant turn: keep the default)
        return " "
    if not full.startswith(prompt) or _SENTINEL not in full[len(prompt):]:
        return " "
    return full[len(prompt):full.index(_SENTINEL, len(prompt))]


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
        """The image processor's tensors for one image, leading dimension kept (1 image, or Qwen's patches)."""
        if rel not in self._cache:
            feats = self.processor.image_processor(images=[self.pil(rel)], return_tensors="pt")
            self._cache[rel] = {k: v for k, v in feats.items() if isinstance(v, torch.Tensor)}
        return self._cache[rel]


class Encoder:
    """Encodes (prompt, answer) examples: input ids, labels on the answer only, pixel values."""

    def __init__(self, processor, image_root: str | Path, max_length: int):
        self.processor, self.max_length = processor, max_length
        self.tokenizer = processor.tokenizer
        self.images = ImageCache(processor, image_root)
        self.answer_prefix = answer_prefix(processor)
        self._prompts: dict[tuple[str, str], dict[str, list[int]]] = {}

    def prompt(self, sample: Sample) -> dict[str, list[int]]:
        """Prompt token ids (image placeholder expanded by the processor, never truncated) and
        the processor's other per-token lists (Qwen's `mm_token_type_ids`)."""
        key = (sample.instruction, sample.image)
        if key not in self._prompts:
            self.prompts([sample])
        return self._prompts[key]

    def prompts(self, samples: list[Sample], batch_size: int = 32) -> None:
        """Encode the prompts of `samples` that are not encoded yet, a batch per processor call
        (each image of a batch processed once), for `prompt` to find. The batch is small because
        the processor also makes the batch's pixels, which a real model's processor makes large
        (tiles, splits) and which are not kept."""
        todo = list({(s.instruction, s.image): s for s in samples
                     if (s.instruction, s.image) not in self._prompts}.values())
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            enc = left_padded_inputs(self.processor, [prompt_text(self.processor, s.instruction) for s in chunk],
                                     [self.images.pil(s.image) for s in chunk])
            for i, s in enumerate(chunk):
                real = enc["attention_mask"][i].bool()  # the padding is on the left
                self._prompts[(s.instruction, s.image)] = {k: enc[k][i][real].tolist()
                                                           for k in ("input_ids", *TOKEN_KEYS) if k in enc}

    def prompt_ids(self, sample: Sample) -> list[int]:
        return self.prompt(sample)["input_ids"]

    def encode(self, sample: Sample, answer: str | None = None) -> dict[str, Any]:
        """One training example; `answer` defaults to the sample's response."""
        prompt = self.prompt(sample)
        n = len(prompt["input_ids"])
        answer = sample.response if answer is None else answer
        answer_ids = (self.tokenizer(self.answer_prefix + answer, add_special_tokens=False)["input_ids"]
                      + [self.tokenizer.eos_token_id])
        ids = prompt["input_ids"] + answer_ids
        if len(ids) > self.max_length:
            raise DataError(f"sample {sample.id!r} is {len(ids)} tokens long, more than model.max_length="
                            f"{self.max_length}; raise model.max_length (image tokens are never truncated)")
        extra = {k: v + [TOKEN_KEYS[k]] * len(answer_ids) for k, v in prompt.items() if k != "input_ids"}
        return {"input_ids": ids, "labels": [IGNORE] * n + answer_ids, **extra, "image": sample.image}


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
        for key, pad in TOKEN_KEYS.items():
            if key in items[0]:
                out[key] = torch.full((len(items), length), pad, dtype=torch.long)
        for i, it in enumerate(items):
            n = len(it["input_ids"])
            out["input_ids"][i, :n] = torch.tensor(it["input_ids"])
            out["attention_mask"][i, :n] = 1
            out["labels"][i, :n] = torch.tensor(it["labels"])
            for key in TOKEN_KEYS:
                if key in out:
                    out[key][i, :n] = torch.tensor(it[key])
        feats = [self.images(it["image"]) for it in items]
        for key in feats[0]:
            out[key] = concat_padded([f[key] for f in feats])
        for key in items[0]:  # per-example extras a method precomputed (e.g. reference log-probs)
            if key.startswith(REF_PREFIX):
                out[key] = _stack_padded([it[key] for it in items], length)
        return out


def concat_padded(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate along dim 0, zero-padding the other dims to the largest (as the processors pad
    LLaVA-NeXT's tiles and Idefics3's splits; a zero `pixel_attention_mask` marks the padding)."""
    shape = [max(t.shape[d] for t in tensors) for d in range(1, tensors[0].dim())]
    if all(list(t.shape[1:]) == shape for t in tensors):
        return torch.cat(tensors)
    out = tensors[0].new_zeros((sum(t.shape[0] for t in tensors), *shape))
    start = 0
    for t in tensors:
        out[(slice(start, start + t.shape[0]), *(slice(0, s) for s in t.shape[1:]))] = t
        start += t.shape[0]
    return out


def _stack_padded(values: list[torch.Tensor], length: int) -> torch.Tensor:
    if values[0].dim() == 0:
        return torch.stack(values)
    out = values[0].new_zeros((len(values), length, *values[0].shape[1:]))
    for i, v in enumerate(values):
        out[i, : v.shape[0]] = v
    return out


_NOT_PER_IMAGE: "weakref.WeakKeyDictionary[Any, bool]" = weakref.WeakKeyDictionary()


class _EachImageOnce:
    """A processor's image processor for one call in which images repeat: it processes each
    distinct image (the same object) once and repeats its rows, where every output is a tensor
    with one row per image; otherwise it processes every image, as the processor itself would.
    Padding over the batch (LLaVA-NeXT's tiles, Idefics3's splits) is the same, as the distinct
    images are the same set."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name: str):
        return getattr(self._real, name)

    def __call__(self, images, *args, **kwargs):
        nested = all(isinstance(group, list) and len(group) == 1 for group in images)
        flat = [group[0] for group in images] if nested else list(images)
        distinct = list({id(im): im for im in flat}.values())  # each image object once, in order of first use
        row = {id(im): i for i, im in enumerate(distinct)}
        which = [row[id(im)] for im in flat]
        out = self._real([[im] for im in distinct] if nested else distinct, *args, **kwargs)
        if not all(isinstance(v, torch.Tensor) and v.dim() and v.shape[0] == len(distinct) for v in out.values()):
            _NOT_PER_IMAGE[self._real] = True  # (patches, split counts ...): not tried again
            return self._real(images, *args, **kwargs)
        index = torch.tensor(which)
        return out.__class__({k: v.index_select(0, index.to(v.device)) for k, v in out.items()})


def left_padded_inputs(processor, prompts: list[str], images: list):
    """Model inputs for chat-formatted `prompts`, each with its PIL image, padded on the left (so
    the last position is every prompt's last token); the tokenizer's padding side is restored.
    An image given for several prompts (the same object) is processed once; for that, the call
    swaps the processor's image processor for its own time (a processor serves one thread)."""
    tok = processor.tokenizer
    side, tok.padding_side = tok.padding_side, "left"
    real = processor.image_processor
    if len({id(im) for im in images}) < len(images) and real not in _NOT_PER_IMAGE:
        processor.image_processor = _EachImageOnce(real)
    try:  # images nested per prompt, as processors that split images (Idefics3) need
        return processor(text=prompts, images=[[im] for im in images], padding=True, return_tensors="pt",
                         add_special_tokens=False)
    finally:
        tok.padding_side, processor.image_processor = side, real
