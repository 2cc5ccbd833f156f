"""The embedded world's tiny VLM: a LLaVA (CLIP vision + Llama text) built from a config,
a word-level tokenizer trained offline on the world's text, and a `LlavaProcessor`."""

from __future__ import annotations

from typing import Iterable

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import (CLIPImageProcessorPil, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                          LlavaForConditionalGeneration, LlavaProcessor, PreTrainedTokenizerFast)

from ..config import ModelConfig

PAD, UNK, BOS, EOS, IMAGE, SEP = "<pad>", "<unk>", "<s>", "</s>", "<image>", "<sep>"
SPECIALS = [PAD, UNK, BOS, EOS, IMAGE, SEP]

# One user turn (image then text) closed by <sep>; an assistant turn is its text then </s>.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<image> {% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %} <sep>"
    "{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'text' %} {{ part['text'] }}{% endif %}{% endfor %} </s>"
    "{% endif %}"
    "{% endfor %}"
)


def train_tokenizer(texts: Iterable[str], specials: Iterable[str] = (), named: dict[str, str] | None = None,
                    eos: str = EOS, lowercase: bool = True) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over `texts` (offline; words and punctuation), lower-cased unless
    `lowercase` is false.

    Folding case makes a query's opener ("Share") the same token as that word inside a request
    ("share the details ..."); with case kept, as real tokenizers do, an opener is a token of its
    own, which the embedded world's corpus uses only as noise (README: "Where the world departs").

    `specials` adds special tokens (a model family's markers), `named` names some of them
    (e.g. {"image_token": "<|image_pad|>"}) and `eos` picks the end-of-sequence token.
    """
    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    if lowercase:
        tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    special_tokens = SPECIALS + [t for t in dict.fromkeys(specials) if t not in SPECIALS]
    tok.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=special_tokens, min_frequency=1))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token=PAD, unk_token=UNK, bos_token=BOS, eos_token=eos,
        extra_special_tokens={"image_token": IMAGE, "sep_token": SEP, **(named or {})}, padding_side="right",
    )


def build_processor(tokenizer: PreTrainedTokenizerFast, cfg: ModelConfig, image_size: int) -> LlavaProcessor:
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size},
    )
    return LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=cfg.patch_size,
                          vision_feature_select_strategy="default", chat_template=CHAT_TEMPLATE,
                          image_token=IMAGE, num_additional_image_tokens=1)


def build_model(tokenizer: PreTrainedTokenizerFast, cfg: ModelConfig, image_size: int) -> LlavaForConditionalGeneration:
    """A randomly initialised tiny LLaVA; the image turns into (size / patch)^2 tokens."""
    if image_size % cfg.patch_size:
        raise ValueError(f"image size {image_size} is not a multiple of patch size {cfg.patch_size}")
    vision = CLIPVisionConfig(hidden_size=cfg.vision_hidden, intermediate_size=cfg.vision_hidden * 4,
                              num_hidden_layers=cfg.vision_layers, num_attention_heads=cfg.vision_heads,
                              image_size=image_size, patch_size=cfg.patch_size, projection_dim=cfg.vision_hidden)
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=cfg.text_hidden, intermediate_size=cfg.text_intermediate,
                       num_hidden_layers=cfg.text_layers, num_attention_heads=cfg.text_heads,
                       num_key_value_heads=cfg.text_heads, max_position_embeddings=max(128, cfg.max_length * 2),
                       pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_id=tokenizer.convert_tokens_to_ids(IMAGE),
                         vision_feature_select_strategy="default", vision_feature_layer=-1,
                         image_seq_length=(image_size // cfg.patch_size) ** 2, projector_hidden_act="gelu",
                         tie_word_embeddings=True)
    config._attn_implementation = "eager"  # faster than sdpa at this size on CPU
    model = LlavaForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    # CLIP's post_layernorm feeds only the pooled output, which LLaVA never uses.
    model.model.vision_tower.post_layernorm.requires_grad_(False)
    return model
