"""Encoding and collation for the tiny LLaVA: label masking, image tokens, padding, a forward pass."""


import pytest
import torch

from unmirage.config import ModelConfig, WorldConfig
from unmirage.data.inputs import IGNORE, Collator, Encoder
from unmirage.data.samples_io import read_samples
from unmirage.data.vlguard import load_vlguard
from unmirage.errors import DataError
from unmirage.models.tiny import build_model, build_processor, train_tokenizer
from unmirage.world.build import build_world

IMAGE_SIZE = 32


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    world = build_world(WorldConfig(n_concepts=6, train_renders=3, test_renders=1, corpus_per_render=2,
                                    safety_renders=2, retain_topup=5, image_size=IMAGE_SIZE),
                        tmp_path_factory.mktemp("world"))
    samples = load_vlguard(world / "train.json") + read_samples(world / "corpus.jsonl")
    tok = train_tokenizer([s.instruction for s in samples] + [s.response for s in samples])
    cfg = ModelConfig()
    processor = build_processor(tok, cfg, IMAGE_SIZE)
    torch.manual_seed(0)
    model = build_model(tok, cfg, IMAGE_SIZE).eval()
    return world, samples, tok, processor, model


def test_labels_mask_prompt_and_image(setup):
    world, samples, tok, processor, model = setup
    enc = Encoder(processor, world / "images", max_length=64)
    image_id = model.config.image_token_id
    for s in samples[:5]:
        ex = enc.encode(s)
        ids, labels = ex["input_ids"], ex["labels"]
        answer_ids = tok(" " + s.response, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        n_prompt = len(ids) - len(answer_ids)
        assert ids[n_prompt:] == answer_ids
        assert labels[:n_prompt] == [IGNORE] * n_prompt
        assert labels[n_prompt:] == answer_ids
        assert labels[-1] == tok.eos_token_id
        assert tok.unk_token_id not in answer_ids
        assert ids.count(image_id) == model.config.image_seq_length == (IMAGE_SIZE // ModelConfig().patch_size) ** 2
        assert all(labels[i] == IGNORE for i in range(len(ids)) if ids[i] == image_id)
        assert image_id not in ids[n_prompt:]
        assert ex["image"] == s.image


def test_custom_answer(setup):
    world, samples, tok, processor, model = setup
    enc = Encoder(processor, world / "images", max_length=64)
    s = samples[0]
    ex = enc.encode(s, answer="sorry , i can not help with that .")
    answer_ids = tok(" sorry , i can not help with that .", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert ex["labels"][-len(answer_ids):] == answer_ids
    assert ex["input_ids"][:-len(answer_ids)] == enc.prompt_ids(s)
    assert ex["labels"][:-len(answer_ids)] == [IGNORE] * len(enc.prompt_ids(s))


def test_too_small_max_length(setup):
    world, samples, tok, processor, model = setup
    enc = Encoder(processor, world / "images", max_length=20)  # fewer than the 16 image tokens + text
    with pytest.raises(DataError, match="max_length"):
        enc.encode(samples[0])


def test_collator_and_forward(setup):
    world, samples, tok, processor, model = setup
    enc = Encoder(processor, world / "images", max_length=64)
    items = [enc.encode(s) for s in samples[:4]]
    items[1] = enc.encode(samples[1], answer="it is .")  # a shorter example, so padding is exercised
    lengths = [len(it["input_ids"]) for it in items]
    assert len(set(lengths)) > 1
    collate = Collator(pad_id=tok.pad_token_id, images=enc.images)
    batch = collate(items)
    L = max(lengths)
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape == (4, L)
    assert batch["pixel_values"].shape == (4, 3, IMAGE_SIZE, IMAGE_SIZE)
    for i, it in enumerate(items):
        n = lengths[i]
        assert batch["input_ids"][i, :n].tolist() == it["input_ids"]
        assert batch["labels"][i, :n].tolist() == it["labels"]
        assert (batch["input_ids"][i, n:] == tok.pad_token_id).all()
        assert (batch["labels"][i, n:] == IGNORE).all()
        assert batch["attention_mask"][i].tolist() == [1] * n + [0] * (L - n)
    with torch.no_grad():
        out = model(**batch)
    assert torch.isfinite(out.loss)
    assert out.logits.shape[:2] == (4, L)


def test_collator_pairs_and_ref_extras(setup):
    world, samples, tok, processor, model = setup
    enc = Encoder(processor, world / "images", max_length=64)
    collate = Collator(pad_id=tok.pad_token_id, images=enc.images)
    f = [dict(enc.encode(s), ref_logp=torch.tensor(-1.0 * i)) for i, s in enumerate(samples[:2])]
    r = [enc.encode(s) for s in samples[2:4]]
    batch = collate([{"forget": f[0], "retain": r[0]}, {"forget": f[1], "retain": r[1]}])
    assert set(batch) == {"forget", "retain"}
    assert batch["forget"]["ref_logp"].tolist() == [0.0, -1.0]
    assert "ref_logp" not in batch["retain"]
    assert batch["retain"]["input_ids"].shape[0] == 2


def test_missing_image(setup, tmp_path):
    world, samples, tok, processor, model = setup
    enc = Encoder(processor, tmp_path, max_length=64)
    with pytest.raises(DataError, match="not found"):
        enc.encode(samples[0])


def test_model_inputs_forwards_every_key_but_the_trainers():
    """A key a new processor adds reaches the model; labels, method extras and nested batches do not."""
    from unmirage.data.inputs import model_inputs

    batch = {"input_ids": torch.ones(1, 2), "attention_mask": torch.ones(1, 2), "labels": torch.ones(1, 2),
             "pixel_values": torch.ones(1, 3), "new_processor_key": torch.ones(1), "ref_logp": torch.ones(1),
             "retain": {"input_ids": torch.ones(1, 2)}}
    assert set(model_inputs(batch)) == {"input_ids", "attention_mask", "pixel_values", "new_processor_key"}
