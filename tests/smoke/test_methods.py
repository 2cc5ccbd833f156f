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
from unmirage.models.tiny import build_model, build_processor, train_tokenizer


def _model(world):
    texts = [s.instruction + " " + s.response for s in read_samples(world / "corpus.jsonl") + read_samples(world / "forget.jsonl")]
    texts += [s.instruction + " " + s.response for s in load_vlguard(world / "train.json")]
    tok = train_tokenizer(texts)
    torch.manual_seed(0)
    return build_model(tok, ModelConfig(), 32), build_processor(tok, ModelConfig(), 32)


@pytest.mark.parametrize("method", ["sft", "npo", "rmu"])
def test_method_trains_declared_scope(tiny_world, tmp_path, method):
    model, processor = _model(tiny_world)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    paired = METHODS.get(method).paired
    main = read_samples(tiny_world / "forget.jsonl") if paired else load_vlguard(tiny_world / "train.json")
    retain = read_samples(tiny_world / "retain.jsonl") if paired else None
    arm = ArmConfig(method=method, data="forget+retain" if paired else "safety+retain", steps=3, batch_size=4, lr=1e-2)
    record = train_arm(model, processor, arm, main, retain, tiny_world / "images", tmp_path / "m", 0, 64, False)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}
    assert changed, "no parameter changed"
    if method == "rmu":  # only the MLPs of layers ℓ-2..ℓ (ℓ = 2 of 4) train
        assert all(".mlp." in n and any(f"layers.{i}." in n for i in (0, 1, 2)) for n in changed)
        assert not any("vision_tower" in n or "layers.3." in n for n in changed)
        assert record["calibration"]["coeff"] > 0
    assert not any("post_layernorm" in n for n in changed)  # frozen: LLaVA never uses it
    losses = [entry for entry in record["log"] if "loss" in entry]
    assert losses
    if paired:
        assert "forget_loss" in losses[0] and "retain_nll" in losses[0]
    saved = read_json(tmp_path / "m" / "train_log.json")
    assert saved["budget"]["steps"] == 3
    assert list((tmp_path / "m").glob("*.safetensors"))


class _NoLoss(Method):
    name = "noloss"

    def loss(self, model, batch):
        return torch.tensor(0.0), {}


def test_a_step_without_loss_is_an_error(tiny_world, tmp_path, monkeypatch):
    monkeypatch.setitem(METHODS._items, "noloss", _NoLoss)
    model, processor = _model(tiny_world)
    arm = ArmConfig(method="noloss", steps=2, batch_size=4)
    with pytest.raises(RuntimeError, match="no loss"):
        train_arm(model, processor, arm, load_vlguard(tiny_world / "train.json"), None, tiny_world / "images",
                  tmp_path / "m", 0, 64, False)
