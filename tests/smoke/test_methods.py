"""Each method trains the tiny model for a few steps through the one trainer."""

from __future__ import annotations

import pytest
import torch

from unmirage.config import ArmConfig, ModelConfig
from unmirage.data.samples_io import read_samples
from unmirage.data.vlguard import load_vlguard
from unmirage.io import read_json
from unmirage.methods.base import METHODS, Method
from unmirage.methods.train import train_arm


FORGET_TERMS = {"sft": "sft_loss", "dpo": "forget_loss", "ga": "forget_loss", "graddiff": "forget_loss",
                "npo": "forget_loss", "simnpo": "forget_loss", "rmu": "forget_loss"}


@pytest.mark.parametrize("method", sorted(FORGET_TERMS))
def test_method_trains_declared_scope(tiny_world, tiny_model, tmp_path, method):
    model, processor = tiny_model(tiny_world)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    paired = METHODS.get(method).paired
    main = read_samples(tiny_world / "forget.jsonl") if paired else load_vlguard(tiny_world / "train.json")
    retain = read_samples(tiny_world / "retain.jsonl") if paired else None
    arm = ArmConfig(method=method, mix="forget+retain" if paired else "safety+retain", steps=3, batch_size=4, lr=1e-2,
                    seed=0)
    record = train_arm(model, processor, arm, main, retain, tiny_world / "images", tmp_path / "m", ModelConfig(), False)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}
    assert changed, "no parameter changed"
    if method == "rmu":  # only the MLPs of layers ℓ-2..ℓ (ℓ = 2 of 4) train
        assert all(".mlp." in n and any(f"layers.{i}." in n for i in (0, 1, 2)) for n in changed)
        assert not any("vision_tower" in n or "layers.3." in n for n in changed)
        assert record["calibration"]["coeff"] > 0
    else:  # every other method trains the whole model but the frozen post_layernorm
        assert any("vision_tower" in n for n in changed) and any("language_model" in n for n in changed)
    assert not any("post_layernorm" in n for n in changed)  # frozen: LLaVA never uses it
    losses = [entry for entry in record["log"] if "loss" in entry]
    assert losses and FORGET_TERMS[method] in losses[0]
    uses_retain = METHODS.get(method)().uses_retain
    assert ("retain_nll" in losses[0]) == uses_retain  # plain GA has no retain term
    saved = read_json(tmp_path / "m" / "train_log.json")
    assert saved["budget"]["steps"] == 3 and saved["budget"]["examples"] == 12
    assert saved["budget"]["tokens"] > 12 * 10  # every example has an image and a question
    assert list((tmp_path / "m").glob("*.safetensors"))


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_kl_retain_term_is_logged_and_starts_at_zero(tiny_world, tiny_model, tmp_path, monkeypatch, finetune):
    """With kl_weight > 0 the retain KL to the model before unlearning is computed (a frozen copy
    under full fine-tuning, the same model with its adapters disabled under LoRA); at the first
    step the model is the reference, so the KL is 0 up to float error."""
    from unmirage.config import LoraConfig
    from unmirage.methods import base as base_mod
    from unmirage.methods import train as train_mod

    model, processor = tiny_model(tiny_world)
    arm = ArmConfig(method="npo", mix="forget+retain", steps=2, batch_size=4, lr=1e-2, seed=0,
                    params={"kl_weight": 1.0, "retain_nll": False})
    model_cfg = ModelConfig(finetune=finetune, lora=LoraConfig(r=4, dropout=0.0))
    trainer_terms, references = [], []
    original_loss, original_attach = train_mod.AlignmentTrainer.compute_loss, base_mod.Reference.attach

    def spy(self, model, inputs, *args, **kwargs):
        out = original_loss(self, model, inputs, *args, **kwargs)
        trainer_terms.append(dict((k, v[-1]) for k, v in self._terms.items()))
        return out

    def spy_attach(self, model):
        original_attach(self, model)
        references.append(self)

    monkeypatch.setattr(train_mod.AlignmentTrainer, "compute_loss", spy)
    monkeypatch.setattr(base_mod.Reference, "attach", spy_attach)
    train_arm(model, processor, arm, read_samples(tiny_world / "forget.jsonl"), read_samples(tiny_world / "retain.jsonl"),
              tiny_world / "images", tmp_path / "m", model_cfg, False)
    (ref,) = references
    assert ref.peft == (finetune == "lora") and (ref.frozen is None) == (finetune == "lora")  # no second copy under LoRA
    assert "retain_kl" in trainer_terms[0] and "retain_nll" not in trainer_terms[0]
    assert trainer_terms[0]["retain_kl"] == pytest.approx(0.0, abs=1e-5)
    assert trainer_terms[1]["retain_kl"] > 1e-7  # after one step at lr 1e-2 the model has moved


def test_dpo_pairs_refusal_with_harmful_answer(tiny_world, tiny_model):
    from unmirage.data.inputs import Encoder

    _, processor = tiny_model(tiny_world)
    forget = read_samples(tiny_world / "forget.jsonl")
    assert all(s.meta.get("refusal") for s in forget)  # the world's forget set carries the safety refusal
    enc = Encoder(processor, tiny_world / "images", 64)
    item = METHODS.get("dpo")().encode(enc, forget[0])
    tok = processor.tokenizer
    answer = lambda e: tok.decode([t for t in e["labels"] if t >= 0], skip_special_tokens=True).split()  # noqa: E731
    assert answer(item["chosen"]) == forget[0].meta["refusal"].split()
    assert answer(item["rejected"]) == forget[0].response.split()
    n_prompt = sum(t < 0 for t in item["chosen"]["labels"])
    assert item["chosen"]["input_ids"][:n_prompt] == item["rejected"]["input_ids"][:n_prompt]


class _NoLoss(Method):
    name = "noloss"

    def loss(self, model, batch):
        return torch.tensor(0.0), {}


def test_a_step_without_loss_is_an_error(tiny_world, tiny_model, tmp_path, monkeypatch):
    monkeypatch.setitem(METHODS._items, "noloss", _NoLoss)
    model, processor = tiny_model(tiny_world)
    arm = ArmConfig(method="noloss", steps=2, batch_size=4, seed=0)
    with pytest.raises(RuntimeError, match="no loss"):
        train_arm(model, processor, arm, load_vlguard(tiny_world / "train.json"), None, tiny_world / "images",
                  tmp_path / "m", ModelConfig(), False)


def test_batches_grouped_by_length_pad_less_and_see_the_same_number_of_examples(tiny_world, tiny_model, tmp_path,
                                                                                 monkeypatch):
    """`group_by_length` batches examples of similar length (transformers' LengthGroupedSampler):
    each step sees as many examples as in the random order, and far fewer of its tokens are padding."""
    from unmirage.methods import train as train_mod

    # refusals are short, answers long; 8 copies, so that the sampler's megabatches (a sorted
    # stretch of the shuffled data) span several batches
    main = load_vlguard(tiny_world / "train.json") * 8
    original = train_mod.AlignmentTrainer.compute_loss

    def padding(grouped: bool) -> tuple[float, list[int]]:
        batches = []

        def spy(self, model, inputs, *args, **kwargs):
            if model.training:
                batches.append(inputs["attention_mask"])
            return original(self, model, inputs, *args, **kwargs)

        monkeypatch.setattr(train_mod.AlignmentTrainer, "compute_loss", spy)
        model, processor = tiny_model(tiny_world)
        arm = ArmConfig(method="sft", steps=12, batch_size=4, lr=1e-3, seed=0, group_by_length=grouped)
        train_arm(model, processor, arm, main, None, tiny_world / "images", tmp_path / f"m{grouped}", ModelConfig(), False)
        pad = sum(int((m == 0).sum()) for m in batches) / sum(m.numel() for m in batches)
        return pad, [m.shape[0] for m in batches]

    random_pad, random_sizes = padding(False)
    grouped_pad, grouped_sizes = padding(True)
    assert grouped_sizes == random_sizes == [4] * 12
    assert random_pad > 0.05 and grouped_pad < random_pad / 2


def test_a_paired_method_refuses_batches_grouped_by_length(tiny_world, tiny_model, tmp_path):
    model, processor = tiny_model(tiny_world)
    arm = ArmConfig(method="npo", mix="forget+retain", steps=2, batch_size=4, seed=0, group_by_length=True)
    with pytest.raises(ValueError, match="unpaired methods only"):
        train_arm(model, processor, arm, read_samples(tiny_world / "forget.jsonl"),
                  read_samples(tiny_world / "retain.jsonl"), tiny_world / "images", tmp_path / "m", ModelConfig(), False)


@pytest.mark.parametrize("granularity", ["sequence", "token"])
def test_npo_forget_term_at_the_reference(tiny_world, tiny_model, tmp_path, monkeypatch, granularity):
    """At the first step the model is π_ref, so every log-ratio is 0: sequence-level NPO's forget
    term is (2/β)·log 2, token-level NPO's is that times the mean answer length of the batch (a
    reference log-prob put at the wrong position would make a log-ratio non-zero)."""
    import math

    from unmirage.methods.losses import answer_lengths
    from unmirage.methods.npo import NPO

    model, processor = tiny_model(tiny_world)
    seen = []
    original = NPO.forget_loss

    def spy(self, model, forget):
        value = original(self, model, forget)
        seen.append((value.item(), answer_lengths(forget["labels"]).float().mean().item()))
        return value

    monkeypatch.setattr(NPO, "forget_loss", spy)
    beta = 0.5
    arm = ArmConfig(method="npo", mix="forget+retain", steps=2, batch_size=8, lr=1e-2, seed=0,
                    params={"beta": beta, "granularity": granularity})
    train_arm(model, processor, arm, read_samples(tiny_world / "forget.jsonl"), read_samples(tiny_world / "retain.jsonl"),
              tiny_world / "images", tmp_path / "m", ModelConfig(), False)
    (first, length), (second, _) = seen[0], seen[1]
    at_ref = (2 / beta) * math.log(2)
    assert length > 2  # answers of several tokens, so the two granularities differ
    assert first == pytest.approx(at_ref * (length if granularity == "token" else 1.0), rel=1e-4)
    assert second != pytest.approx(first, rel=1e-4)  # one step at lr 1e-2 moved the model


def test_npo_granularity_is_checked():
    from unmirage.errors import ConfigError
    from unmirage.methods.npo import NPOParams

    with pytest.raises(ConfigError, match="granularity"):
        NPOParams(granularity="tokens")
