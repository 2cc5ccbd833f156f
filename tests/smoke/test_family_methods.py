"""Every model family's tiny model through SFT, NPO and RMU (a few steps, full fine-tuning and
LoRA) and back through evaluation from the saved directory."""

from __future__ import annotations

import math

import pytest
import torch

from unmirage.config import ArmConfig, LoraConfig, ModelConfig
from unmirage.data.samples_io import read_samples
from unmirage.data.vlguard import load_vlguard
from unmirage.eval.generate import HFGenerator, target_likelihood
from unmirage.methods.train import train_arm
from unmirage.models.families import FAMILIES, fresh_tiny
from unmirage.models.load import load_model

SMALL = {"text_hidden": 32, "text_intermediate": 64, "text_layers": 3, "text_heads": 2, "vision_hidden": 32,
         "vision_layers": 1, "vision_heads": 2, "max_length": 128}
METHOD_DATA = {"sft": "safety+retain", "npo": "forget+retain", "rmu": "forget+retain"}


def _data(world):
    forget, retain = read_samples(world / "forget.jsonl")[:6], read_samples(world / "retain.jsonl")[:6]
    safety = load_vlguard(world / "train.json")[:6]
    texts = [s.instruction + " " + s.response for s in read_samples(world / "corpus.jsonl") + forget + retain + safety]
    return forget, retain, safety, texts


def _train_all_methods(world, tmp_path, cfg: ModelConfig):
    forget, retain, safety, texts = _data(world)
    torch.manual_seed(0)
    model, processor = fresh_tiny(cfg, texts, 32)
    for method, data in METHOD_DATA.items():
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        paired = data == "forget+retain"
        arm = ArmConfig(method=method, mix=data, steps=2, batch_size=4, lr=1e-2, seed=0)
        record = train_arm(model, processor, arm, forget if paired else safety, retain if paired else None,
                           world / "images", tmp_path / method, cfg, False)
        changed = {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}
        assert changed, f"{method} changed no weight"
        assert all(math.isfinite(e["loss"]) for e in record["log"] if "loss" in e)
        if method == "rmu":  # ℓ = 1 of 3 layers: only the MLPs of layers 0 and 1 move
            assert all(".mlp." in n and (".layers.0." in n or ".layers.1." in n) for n in changed), changed
        if cfg.finetune == "lora":  # merged adapters touch only the language model's projections
            assert all(("language_model." in n or "text_model." in n) and n.endswith("proj.weight") for n in changed)
            assert record["trainable_parameters"] < sum(p.numel() for p in model.parameters()) / 5
    return safety


def _evaluate_saved(world, path):
    model, processor = load_model(path)
    assert not any("lora" in n for n, _ in model.named_parameters())
    safety = load_vlguard(world / "train.json")[:3]
    answers = HFGenerator(model, processor, world / "images", max_new_tokens=3).generate(safety)
    assert len(answers) == 3 and all(isinstance(a, str) for a in answers)
    scores = target_likelihood(model, processor, safety, [s.response for s in safety], world / "images", 128)
    assert len(scores) == 3 and all(0.0 < s <= 1.0 for s in scores)


@pytest.mark.parametrize("family", FAMILIES.names())
def test_family_full_finetuning_through_every_method_and_eval(tiny_world, tmp_path, family):
    if family == "smolvlm":
        pytest.importorskip("num2words", reason="SmolVLM's processor needs num2words")
    _train_all_methods(tiny_world, tmp_path, ModelConfig(family=family, **SMALL))
    _evaluate_saved(tiny_world, tmp_path / "npo")


def test_lora_through_every_method_and_eval(tiny_world, tmp_path):
    """LoRA on Qwen2-VL (M-RoPE, merged patches); the unit tests check every family's LoRA targets."""
    cfg = ModelConfig(family="qwen2_vl", finetune="lora", lora=LoraConfig(r=2, alpha=4.0, dropout=0.0), **SMALL)
    _train_all_methods(tiny_world, tmp_path, cfg)
    _evaluate_saved(tiny_world, tmp_path / "rmu")
