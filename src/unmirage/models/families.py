"""Real VLM families, as tiny random-weight models built offline (tests, smoke runs, `model.family`).

Each family is the real transformers architecture (`LlavaForConditionalGeneration`,
`LlavaNextForConditionalGeneration`, `LlavaOnevisionForConditionalGeneration`,
`Qwen2VLForConditionalGeneration`, `Qwen2_5_VLForConditionalGeneration`,
`Idefics3ForConditionalGeneration`, `SmolVLMForConditionalGeneration`) at a toy size, with
the word-level tokenizer of `tiny.py` carrying the family's special tokens, a chat template
shaped like the real one, and the family's own processor class built from arguments. Real
checkpoints go through `load.load_model` instead; nothing here downloads anything.

Images stay small (32 px, 8-px patches) so a forward pass takes milliseconds. Processors whose
class also holds a video processor (Qwen2-VL, Qwen2.5-VL, LLaVA-OneVision, SmolVLM) need
torchvision for it; `processors.image_only` makes the same class without one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import transformers
from transformers import LlamaConfig, PreTrainedTokenizerFast

from ..config import ModelConfig
from ..errors import ConfigError
from ..registry import Registry
from . import tiny
from .processors import image_only

# Plain words the families' chat templates use (role names), added to their tokenizers' vocabulary.
ROLE_WORDS = ("user", "assistant", ":")


def chat_template(user_open: str, image: str, user_close: str, assistant_open: str, assistant_close: str) -> str:
    """A chat template of the common shape: user turn (image, text), then the assistant's reply."""
    return (
        "{% for message in messages %}"
        "{% if message['role'] == 'user' %}" + user_open +
        "{% for part in message['content'] %}"
        "{% if part['type'] == 'image' %}" + image + "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
        "{% endfor %}" + user_close +
        "{% else %}" + assistant_open +
        "{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}"
        + assistant_close + "{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}" + assistant_open + "{% endif %}"
    )


def image_token_id(config) -> int | None:
    """The id of the image placeholder token a VLM's config names (`image_token_id`, or LLaVA's
    older `image_token_index`); None for a model without one."""
    for key in ("image_token_id", "image_token_index"):
        if isinstance(getattr(config, key, None), int):
            return getattr(config, key)
    return None


@dataclass(frozen=True)
class Family:
    """How to build one family's tiny model and processor around a word-level tokenizer."""

    name: str
    specials: tuple[str, ...]  # special tokens beyond tiny.SPECIALS
    named: dict  # tokenizer attributes naming some specials (image_token, ...)
    eos: str
    template: str
    processor: Callable[[PreTrainedTokenizerFast, ModelConfig, int, str], object]
    model: Callable[[PreTrainedTokenizerFast, ModelConfig, int], object]
    roles: tuple[str, ...] = ROLE_WORDS  # plain words of the chat template (the embedded LLaVA's has none)

    def tokenizer(self, texts: Iterable[str], lowercase: bool = True) -> PreTrainedTokenizerFast:
        extra = [" ".join(self.roles)] if self.roles else []
        return tiny.train_tokenizer(list(texts) + extra, self.specials, self.named, self.eos, lowercase)


FAMILIES: Registry[Family] = Registry("model family")


def _register(family: Family) -> Family:
    FAMILIES.register(family.name)(family)
    return family


# ------------------------------------------------------------------ shared sub-configs


def _text(tok: PreTrainedTokenizerFast, cfg: ModelConfig, **extra) -> dict:
    """Keyword arguments of a decoder config (Llama, Qwen2) of the size `cfg` gives."""
    return {"vocab_size": len(tok), "hidden_size": cfg.text_hidden, "intermediate_size": cfg.text_intermediate,
            "num_hidden_layers": cfg.text_layers, "num_attention_heads": cfg.text_heads,
            "num_key_value_heads": cfg.text_heads, "max_position_embeddings": max(256, cfg.max_length * 2),
            "pad_token_id": tok.pad_token_id, "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id,
            **extra}


def _llama(tok: PreTrainedTokenizerFast, cfg: ModelConfig) -> LlamaConfig:
    return LlamaConfig(**_text(tok, cfg))


def _vision(cls_name: str, cfg: ModelConfig, image_size: int, **extra):
    cls = getattr(transformers, cls_name)
    return cls(hidden_size=cfg.vision_hidden, intermediate_size=cfg.vision_hidden * 4,
               num_hidden_layers=cfg.vision_layers, num_attention_heads=cfg.vision_heads,
               image_size=image_size, patch_size=cfg.patch_size, **extra)


def _finish(model, tok: PreTrainedTokenizerFast):
    """Eager attention (fastest at this size on CPU) and generation ids from the tokenizer."""
    model.set_attn_implementation("eager")
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.bos_token_id = tok.bos_token_id
    return model


def _id(tok: PreTrainedTokenizerFast, token: str) -> int:
    return tok.convert_tokens_to_ids(token)


def _check_patch(cfg: ModelConfig, image_size: int, multiple: int = 1) -> None:
    if image_size % (cfg.patch_size * multiple):
        raise ConfigError(f"image size {image_size} is not a multiple of {cfg.patch_size * multiple} "
                          f"(model.patch_size={cfg.patch_size}{' × merge 2' if multiple > 1 else ''})")


# ------------------------------------------------------------------ LLaVA-1.5 (the embedded model)

_register(Family(
    name="llava", specials=(), named={}, eos=tiny.EOS, template=tiny.CHAT_TEMPLATE, roles=(),
    processor=lambda tok, cfg, size, template: tiny.build_processor(tok, cfg, size),
    model=tiny.build_model,
))


# ------------------------------------------------------------------ LLaVA-NeXT (anyres tiles)

def _pinpoints(image_size: int) -> list[list[int]]:
    return [[image_size, image_size], [image_size, 2 * image_size], [2 * image_size, image_size]]


def _llava_next_processor(tok, cfg, image_size, template):
    image_processor = transformers.LlavaNextImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size},
        image_grid_pinpoints=_pinpoints(image_size))
    return transformers.LlavaNextProcessor(
        image_processor=image_processor, tokenizer=tok, patch_size=cfg.patch_size,
        vision_feature_select_strategy="default", chat_template=template, image_token=tiny.IMAGE,
        num_additional_image_tokens=1)


def _llava_next_model(tok, cfg, image_size):
    _check_patch(cfg, image_size)
    config = transformers.LlavaNextConfig(
        vision_config=_vision("CLIPVisionConfig", cfg, image_size, projection_dim=cfg.vision_hidden),
        text_config=_llama(tok, cfg), image_token_index=_id(tok, tiny.IMAGE), vision_feature_layer=-1,
        vision_feature_select_strategy="default", image_grid_pinpoints=_pinpoints(image_size),
        image_seq_length=(image_size // cfg.patch_size) ** 2)
    return _finish(transformers.LlavaNextForConditionalGeneration(config), tok)


_register(Family(
    name="llava_next", specials=("[INST]", "[/INST]"), named={}, eos=tiny.EOS,
    template=chat_template("[INST] ", "<image>\n", " [/INST]", " ", "</s>"),
    processor=_llava_next_processor, model=_llava_next_model,
))


# ------------------------------------------------------------------ LLaVA-OneVision (SigLIP + Qwen2)

def _onevision_processor(tok, cfg, image_size, template):
    image_processor = transformers.LlavaOnevisionImageProcessorPil(
        size={"height": image_size, "width": image_size}, image_grid_pinpoints=_pinpoints(image_size))
    return image_only(transformers.LlavaOnevisionProcessor)(
        image_processor=image_processor, tokenizer=tok, num_image_tokens=(image_size // cfg.patch_size) ** 2,
        vision_feature_select_strategy="full", chat_template=template, image_token=tiny.IMAGE,
        vision_aspect_ratio="anyres_max_9")


def _onevision_model(tok, cfg, image_size):
    _check_patch(cfg, image_size)
    config = transformers.LlavaOnevisionConfig(
        vision_config=_vision("SiglipVisionConfig", cfg, image_size),
        text_config=_text(tok, cfg, model_type="qwen2"), image_token_index=_id(tok, tiny.IMAGE),
        video_token_index=_id(tok, "<video>"), vision_feature_layer=-1, vision_feature_select_strategy="full",
        image_grid_pinpoints=_pinpoints(image_size), vision_aspect_ratio="anyres_max_9")
    return _finish(transformers.LlavaOnevisionForConditionalGeneration(config), tok)


_register(Family(
    name="llava_onevision", specials=("<|im_start|>", "<|im_end|>", "<video>"), named={"video_token": "<video>"},
    eos="<|im_end|>", template=chat_template("<|im_start|>user ", "<image>\n", "<|im_end|>\n", "<|im_start|>assistant\n",
                                             "<|im_end|>\n"),
    processor=_onevision_processor, model=_onevision_model,
))


# ------------------------------------------------------------------ Qwen2-VL and Qwen2.5-VL (M-RoPE, merged patches)

QWEN_SPECIALS = ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
QWEN_NAMED = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"}
QWEN_TEMPLATE = chat_template("<|im_start|>user\n", "<|vision_start|><|image_pad|><|vision_end|>", "<|im_end|>\n",
                              "<|im_start|>assistant\n", "<|im_end|>\n")


def _qwen_processor(processor_cls: str):
    def build(tok, cfg, image_size, template):
        pixels = image_size * image_size  # every image is resized to image_size² pixels (a fixed grid)
        image_processor = transformers.Qwen2VLImageProcessorPil(
            min_pixels=pixels, max_pixels=pixels, patch_size=cfg.patch_size, merge_size=2, temporal_patch_size=2)
        return image_only(getattr(transformers, processor_cls))(image_processor=image_processor, tokenizer=tok,
                                                                chat_template=template)
    return build


def _mrope(cfg: ModelConfig) -> dict:
    """M-RoPE sections (temporal, height, width) that add up to half the head dimension."""
    half = cfg.text_hidden // cfg.text_heads // 2
    h = w = half * 3 // 8
    return {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [half - h - w, h, w]}


def _qwen_ids(tok) -> dict:
    return {"image_token_id": _id(tok, "<|image_pad|>"), "video_token_id": _id(tok, "<|video_pad|>"),
            "vision_start_token_id": _id(tok, "<|vision_start|>"), "vision_end_token_id": _id(tok, "<|vision_end|>")}


def _qwen2_vl_model(tok, cfg, image_size):
    _check_patch(cfg, image_size, 2)
    vision = transformers.Qwen2VLVisionConfig(
        depth=cfg.vision_layers, embed_dim=cfg.vision_hidden, hidden_size=cfg.text_hidden, num_heads=cfg.vision_heads,
        mlp_ratio=4, patch_size=cfg.patch_size, spatial_merge_size=2, temporal_patch_size=2)
    config = transformers.Qwen2VLConfig(text_config=_text(tok, cfg, rope_parameters=_mrope(cfg)),
                                        vision_config=vision, **_qwen_ids(tok))
    return _finish(transformers.Qwen2VLForConditionalGeneration(config), tok)


def _qwen2_5_vl_model(tok, cfg, image_size):
    _check_patch(cfg, image_size, 2)
    vision = transformers.Qwen2_5_VLVisionConfig(
        depth=cfg.vision_layers, hidden_size=cfg.vision_hidden, intermediate_size=cfg.vision_hidden * 4,
        num_heads=cfg.vision_heads, out_hidden_size=cfg.text_hidden, patch_size=cfg.patch_size, spatial_merge_size=2,
        temporal_patch_size=2, window_size=cfg.patch_size * 4, fullatt_block_indexes=[cfg.vision_layers - 1])
    config = transformers.Qwen2_5_VLConfig(text_config=_text(tok, cfg, rope_parameters=_mrope(cfg)),
                                           vision_config=vision, **_qwen_ids(tok))
    return _finish(transformers.Qwen2_5_VLForConditionalGeneration(config), tok)


for _name, _proc, _model in (("qwen2_vl", "Qwen2VLProcessor", _qwen2_vl_model),
                             ("qwen2_5_vl", "Qwen2_5_VLProcessor", _qwen2_5_vl_model)):
    _register(Family(name=_name, specials=QWEN_SPECIALS, named=QWEN_NAMED, eos="<|im_end|>", template=QWEN_TEMPLATE,
                     processor=_qwen_processor(_proc), model=_model))


# ------------------------------------------------------------------ Idefics3 and SmolVLM (pixel-shuffle connector)

IDEFICS_SPECIALS = ("<fake_token_around_image>", "<global-img>", "<end_of_utterance>")
IDEFICS_NAMED = {"fake_image_token": "<fake_token_around_image>", "global_image_token": "<global-img>",
                 "end_of_utterance_token": "<end_of_utterance>"}
IDEFICS_TEMPLATE = chat_template("<s>user:", "<image>", "<end_of_utterance>\n", "assistant:",
                                 "<end_of_utterance>\n")
SCALE_FACTOR = 2  # the connector's pixel shuffle: image tokens = (size / patch / 2)²


def _idefics_processor(prefix: str):
    def build(tok, cfg, image_size, template):
        # longest edge = the vision encoder's size, no splitting: one global image per picture
        image_processor = getattr(transformers, f"{prefix}ImageProcessorPil")(
            size={"longest_edge": image_size}, max_image_size={"longest_edge": image_size},
            do_image_splitting=False)
        seq = (image_size // cfg.patch_size // SCALE_FACTOR) ** 2
        return image_only(getattr(transformers, f"{prefix}Processor"))(
            image_processor=image_processor, tokenizer=tok, image_seq_len=seq, chat_template=template)
    return build


def _idefics_model(prefix: str):
    def build(tok, cfg, image_size):
        _check_patch(cfg, image_size, SCALE_FACTOR)
        config = getattr(transformers, f"{prefix}Config")(
            vision_config=_vision(f"{prefix}VisionConfig", cfg, image_size), text_config=_llama(tok, cfg),
            image_token_id=_id(tok, tiny.IMAGE), scale_factor=SCALE_FACTOR, pad_token_id=tok.pad_token_id)
        return _finish(getattr(transformers, f"{prefix}ForConditionalGeneration")(config), tok)
    return build


for _name, _prefix in (("idefics3", "Idefics3"), ("smolvlm", "SmolVLM")):
    _register(Family(name=_name, specials=IDEFICS_SPECIALS, named=IDEFICS_NAMED, eos="<end_of_utterance>",
                     template=IDEFICS_TEMPLATE, processor=_idefics_processor(_prefix), model=_idefics_model(_prefix)))


# ------------------------------------------------------------------ entry points


def tiny_tokenizer(family: str, texts: Iterable[str], lowercase: bool = True) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over `texts` with `family`'s special tokens."""
    return FAMILIES.get(family).tokenizer(texts, lowercase)


def build_tiny(family: str, tokenizer: PreTrainedTokenizerFast, cfg: ModelConfig, image_size: int):
    """(model, processor): `family`'s architecture at the size `cfg` gives, randomly initialised."""
    fam = FAMILIES.get(family)
    missing = [t for t in (tokenizer.eos_token, *fam.specials) if t not in tokenizer.get_vocab()]
    if missing:
        raise ConfigError(f"the tokenizer lacks {family}'s special tokens {missing}; build it with "
                          f"tiny_tokenizer({family!r}, texts)")
    return fam.model(tokenizer, cfg, image_size), fam.processor(tokenizer, cfg, image_size, fam.template)


def fresh_tiny(cfg: ModelConfig, texts: Iterable[str], image_size: int):
    """(model, processor) of `cfg.family` with a tokenizer trained on `texts` (seed torch first)."""
    tokenizer = tiny_tokenizer(cfg.family, texts, cfg.lowercase)
    return build_tiny(cfg.family, tokenizer, cfg, image_size)
