"""Every model family's tiny model: label masking, image features batched as the real processor
batches them, max_length, save/load without torchvision, parameter scopes and LoRA targets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from PIL import Image

from unmirage.config import ModelConfig, load_config
from unmirage.data.inputs import IGNORE, Collator, Encoder, model_inputs, prompt_text
from unmirage.data.records import Sample
from unmirage.data.samples_io import read_samples
from unmirage.errors import ConfigError, DataError
from unmirage.models.families import FAMILIES, fresh_tiny
from unmirage.models.load import load_model, model_from_config, save_model
from unmirage.models.lora import add_lora
from unmirage.models.scope import KEYWORDS, apply_scope, layer_pattern, scope_patterns

SIZE = 32
CFG = {"text_hidden": 32, "text_intermediate": 64, "text_layers": 3, "text_heads": 2, "vision_hidden": 32,
       "vision_layers": 1, "vision_heads": 2, "max_length": 128}
# image tokens one 32-px picture becomes in each family (LLaVA-NeXT/OneVision: base + tile + newlines)
IMAGE_TOKENS = {"llava": 16, "qwen2_vl": 4, "qwen2_5_vl": 4, "idefics3": 4, "smolvlm": 4}


def _needs(family: str) -> None:
    if family == "smolvlm":
        pytest.importorskip("num2words", reason="SmolVLM's processor needs num2words")


@pytest.fixture(scope="module")
def built(tiny_world):
    """family -> (model, processor, samples), each built once."""
    samples = read_samples(tiny_world / "corpus.jsonl")[:6]
    texts = [s.instruction + " " + s.response for s in read_samples(tiny_world / "corpus.jsonl")]
    cache = {}

    def get(family: str):
        _needs(family)
        if family not in cache:
            torch.manual_seed(0)
            model, processor = fresh_tiny(ModelConfig(family=family, **CFG), texts, SIZE)
            cache[family] = (model.eval(), processor, samples)
        return cache[family]

    return get


def _image_token(model) -> int:
    return getattr(model.config, "image_token_id", None) or model.config.image_token_index


@pytest.mark.parametrize("family", FAMILIES.names())
def test_labels_mask_prompt_image_tokens_and_padding(built, tiny_world, family):
    model, processor, samples = built(family)
    tok = processor.tokenizer
    enc = Encoder(processor, tiny_world / "images", max_length=128)
    image_id = _image_token(model)
    items = [enc.encode(s) for s in samples[:3]] + [enc.encode(samples[3], answer="it is .")]
    for s, ex in zip(samples[:3], items):
        ids, labels = ex["input_ids"], ex["labels"]
        answer = tok(enc.answer_prefix + s.response, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        n = len(ids) - len(answer)
        assert ids[n:] == answer and labels[n:] == answer
        assert labels[:n] == [IGNORE] * n
        assert tok.unk_token_id not in answer
        image_positions = [i for i, t in enumerate(ids) if t == image_id]
        assert image_positions and max(image_positions) < n
        if family in IMAGE_TOKENS:
            assert len(image_positions) == IMAGE_TOKENS[family]
        # the prompt is exactly what the processor makes of the chat template and the image
        ref = processor(text=[prompt_text(processor, s.instruction)], images=[[enc.images.pil(s.image)]],
                        add_special_tokens=False)
        assert ids[:n] == list(ref["input_ids"][0])
    batch = Collator(tok.pad_token_id, enc.images)(items)
    lengths = [len(it["input_ids"]) for it in items]
    assert len(set(lengths)) > 1
    for i, n in enumerate(lengths):
        assert (batch["labels"][i, n:] == IGNORE).all() and (batch["attention_mask"][i, n:] == 0).all()
        assert (batch["labels"][i][batch["input_ids"][i] == image_id] == IGNORE).all()
    if "mm_token_type_ids" in batch:  # Qwen's M-RoPE: 1 on image tokens, 0 on text and padding
        assert torch.equal(batch["mm_token_type_ids"], (batch["input_ids"] == image_id).long()
                           * batch["attention_mask"])
    with torch.no_grad():
        out = model(**model_inputs(batch), labels=batch["labels"])
    assert torch.isfinite(out.loss) and out.logits.shape[:2] == batch["input_ids"].shape


@pytest.mark.parametrize("family", FAMILIES.names())
def test_batch_matches_the_processor_on_images_of_different_sizes(built, tmp_path, family):
    """Cached per-image features, concatenated and padded, equal the processor's own batch,
    and the model gives the same logits (LLaVA-NeXT tiles, Qwen patches, Idefics3 padding)."""
    model, processor, _ = built(family)
    Image.new("RGB", (SIZE, SIZE), (200, 30, 30)).save(tmp_path / "square.png")
    Image.new("RGB", (2 * SIZE, SIZE), (30, 200, 30)).save(tmp_path / "wide.png")
    samples = [Sample(id="a", image="square.png", group="safe_safes", instruction="what is it ?", response="a"),
               Sample(id="b", image="wide.png", group="safe_safes", instruction="what colour is it ?", response="b")]
    enc = Encoder(processor, tmp_path, max_length=256)
    batch = Collator(processor.tokenizer.pad_token_id, enc.images)([enc.encode(s, answer="") for s in samples])
    eos = processor.tokenizer.eos_token_id
    ref = processor(text=[prompt_text(processor, s.instruction) for s in samples],
                    images=[[enc.images.pil(s.image)] for s in samples], padding=True, return_tensors="pt",
                    add_special_tokens=False)
    for key in ref:
        if key in ("input_ids", "attention_mask", "mm_token_type_ids"):  # ours add the eos of the empty answer
            for i in range(2):
                n = int(ref["attention_mask"][i].sum())
                assert batch[key][i, :n].tolist() == ref[key][i, :n].tolist()
            assert batch["input_ids"][0, int(ref["attention_mask"][0].sum())] == eos
        else:
            assert torch.allclose(batch[key].float(), ref[key].float()), key
    with torch.no_grad():
        ours = model(**model_inputs(batch)).logits
        theirs = model(**ref).logits
    for i in range(2):
        n = int(ref["attention_mask"][i].sum())
        assert torch.allclose(ours[i, :n], theirs[i, :n], atol=1e-4)


@pytest.mark.parametrize("family", FAMILIES.names())
def test_max_length_never_cuts_image_tokens(built, tiny_world, family):
    model, processor, samples = built(family)
    n_image = Encoder(processor, tiny_world / "images", 128).prompt_ids(samples[0]).count(_image_token(model))
    with pytest.raises(DataError, match="max_length"):
        Encoder(processor, tiny_world / "images", max_length=n_image + 1).encode(samples[0])


@pytest.mark.parametrize("family", FAMILIES.names())
def test_save_and_load_without_torchvision(built, tiny_world, tmp_path, family):
    model, processor, samples = built(family)
    save_model(model, processor, tmp_path / "m")
    loaded, loaded_processor = load_model(tmp_path / "m")
    assert type(loaded).__name__ == type(model).__name__
    assert type(loaded_processor).__name__ == type(processor).__name__
    enc, enc2 = Encoder(processor, tiny_world / "images", 128), Encoder(loaded_processor, tiny_world / "images", 128)
    items = [enc.encode(s) for s in samples[:2]]
    assert [enc2.encode(s) for s in samples[:2]] == items
    batch = Collator(processor.tokenizer.pad_token_id, enc.images)(items)
    with torch.no_grad():
        assert torch.allclose(model(**model_inputs(batch)).logits, loaded.eval()(**model_inputs(batch)).logits,
                              atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES.names())
def test_scopes_partition_the_parameters(built, family):
    model, _, _ = built(family)
    names = [n for n, _ in model.named_parameters()]
    parts = {k: {n for n in names if re.search(p, n)} for k, p in KEYWORDS.items()}
    assert all(parts.values()), {k: len(v) for k, v in parts.items()}
    assert not (parts["vision"] & parts["projector"] or parts["vision"] & parts["language"]
                or parts["projector"] & parts["language"])
    assert parts["vision"] | parts["projector"] | parts["language"] == set(names)
    layer1 = {n for n in names if re.search(layer_pattern([1]), n)}
    assert layer1 and layer1 < parts["language"] and all(".layers.1." in n for n in layer1)


def _fresh(built, family):
    model = built(family)[0]
    copy = type(model)(model.config)
    copy.load_state_dict(model.state_dict())
    return copy


@pytest.mark.parametrize("family", ["llava", "qwen2_vl", "idefics3"])
def test_lora_targets_only_the_language_model(built, family):
    model = add_lora(_fresh(built, family), r=2, alpha=4, dropout=0.0)
    adapted = {n.rsplit(".lora_A", 1)[0] for n, _ in model.named_parameters() if ".lora_A." in n}
    assert len(adapted) == CFG["text_layers"] * 7  # q, k, v, o, gate, up, down in every decoder layer
    assert all(re.search(KEYWORDS["language"], n) for n in adapted)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    # a method's scope (RMU: MLPs of layers 0-1) picks adapters only, never the frozen base weights
    names = apply_scope(model, [layer_pattern([0, 1], "mlp")])
    assert len(names) == 2 * 3 * 2 and all("lora_" in n and ".mlp." in n for n in names)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == set(names)


def test_full_scope_from_config(built):
    model = _fresh(built, "qwen2_vl")
    names = apply_scope(model, scope_patterns(["projector", "layers:2"]))
    assert names and all("visual.merger." in n or "layers.2." in n for n in names)
    assert any("visual.merger." in n for n in names) and any("layers.2." in n for n in names)
    with pytest.raises(ConfigError, match="no trainable parameter"):
        apply_scope(_fresh(built, "qwen2_vl"), scope_patterns(["vision"]), [layer_pattern([0], "mlp")])


def test_config_checks_finetune_lora_and_scope():
    cfg = load_config(None, ["model.finetune=lora", "model.lora.r=4", "model.trainable=[vision, 'layers:0-2,5']"])
    assert cfg.model.lora.r == 4 and cfg.model.trainable == ["vision", "layers:0-2,5"]
    assert scope_patterns(["layers:0-2,5"]) == [layer_pattern([0, 1, 2, 5])]
    for bad, match in (("model.finetune=lorra", "Did you mean 'lora'"), ("model.lora.r=0", "r >= 1"),
                       ("model.trainable=['(']", "valid regex"), ("model.lora.rank=4", "unknown key")):
        with pytest.raises(ConfigError, match=match):
            load_config(None, [bad])


def test_unknown_family_and_missing_tokens(tiny_world):
    with pytest.raises(ConfigError, match="Did you mean 'qwen2_vl'"):
        fresh_tiny(ModelConfig(family="qwen2vl"), ["a"], SIZE)
    from unmirage.models.families import build_tiny, tiny_tokenizer
    with pytest.raises(ConfigError, match="special tokens"):
        build_tiny("qwen2_vl", tiny_tokenizer("llava", ["a"]), ModelConfig(), SIZE)


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[3] / "configs" / "models").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_shipped_model_configs_load(path):
    cfg = load_config(path).model
    assert cfg.name == "tiny" and cfg.family in FAMILIES or cfg.name.count("/") == 1
    scope_patterns(cfg.trainable)


def test_model_from_config_builds_the_family():
    model, processor = model_from_config(ModelConfig(family="qwen2_vl", **CFG), ["a b c"], SIZE)
    assert type(model).__name__ == "Qwen2VLForConditionalGeneration"
    assert type(processor).__name__ == "Qwen2VLProcessor"
    with pytest.raises(ConfigError, match="neither a local directory nor a hub id"):
        model_from_config(ModelConfig(name="no-such-model"))


@pytest.mark.parametrize("family", ["llava", "qwen2_vl"])
def test_tokenizer_case(family):
    """By default an opener is the same token as that word inside a request; `model.lowercase`
    false keeps case, so a capitalised opener is a token of its own (as in real tokenizers)."""
    from unmirage.models.families import tiny_tokenizer

    texts = ["Share share the details .", "What name the colour ."]
    folded = tiny_tokenizer(family, texts)
    assert folded("Share")["input_ids"] == folded("share")["input_ids"]
    assert "Share" not in folded.get_vocab()
    kept = tiny_tokenizer(family, texts, lowercase=False)
    assert kept.convert_tokens_to_ids("Share") != kept.convert_tokens_to_ids("share")
    assert kept.unk_token_id not in kept("Share share")["input_ids"]
    # the study's config reaches the tokenizer
    _, processor = fresh_tiny(ModelConfig(family=family, lowercase=False, **CFG), texts, SIZE)
    assert {"Share", "share"} <= set(processor.tokenizer.get_vocab())


class _Counting:
    """An image processor that records how many images each call gets."""

    def __init__(self, real):
        self.real, self.calls = real, []

    def __getattr__(self, name):
        return getattr(self.real, name)

    def __call__(self, images, *args, **kwargs):
        self.calls.append(len(images))
        return self.real(images, *args, **kwargs)


@pytest.mark.parametrize("family", FAMILIES.names())
def test_repeated_images_are_processed_once_with_the_same_inputs(built, family):
    from unmirage.data.inputs import left_padded_inputs

    _, processor, samples = built(family)
    # sizes that tile differently (LLaVA-NeXT: 2 tiles for the square ones, 3 for the others), so
    # that the batch pads the tiles of some images
    a, b, c, d = (Image.new("RGB", size, colour) for size, colour in
                  [((SIZE, SIZE), (255, 0, 0)), ((SIZE + 16, SIZE), (0, 0, 255)), ((SIZE, SIZE + 8), (0, 200, 0)),
                   ((2 * SIZE, 2 * SIZE), (90, 90, 90))])
    images = [a, b, d, a, c, b, d, a]
    prompts = [prompt_text(processor, samples[i % len(samples)].instruction) for i in range(len(images))]
    plain = left_padded_inputs(processor, prompts, [im.copy() for im in images])  # no object repeats
    counting = processor.image_processor = _Counting(processor.image_processor)
    try:
        once = left_padded_inputs(processor, prompts, images)
    finally:
        processor.image_processor = counting.real
    assert set(once) == set(plain)
    for key in plain:
        assert torch.equal(torch.as_tensor(once[key]), torch.as_tensor(plain[key])), key
    assert counting.calls[0] == 4  # the distinct images first
    if family.startswith("llava"):  # one row per image in every output: nothing is processed twice
        assert counting.calls == [4]
    else:  # patches or splits: every image, as the processor does, and from then on only that
        assert counting.calls == [4, 8]
        counting.calls.clear()
        processor.image_processor = counting
        try:
            again = left_padded_inputs(processor, prompts, images)
        finally:
            processor.image_processor = counting.real
        assert counting.calls == [8] and torch.equal(again["input_ids"], plain["input_ids"])


@pytest.mark.parametrize("family", FAMILIES.names())
def test_prompts_encoded_in_batches_are_the_prompts_encoded_one_by_one(built, tiny_world, family):
    _, processor, samples = built(family)
    many = read_samples(tiny_world / "corpus.jsonl")[:40]
    batched, single = Encoder(processor, tiny_world / "images", 128), Encoder(processor, tiny_world / "images", 128)
    batched.prompts(many, batch_size=16)
    assert len(batched._prompts) == len({(s.instruction, s.image) for s in many})
    for s in many:
        assert batched._prompts[(s.instruction, s.image)] == single.prompt(s)
