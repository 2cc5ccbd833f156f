"""The trainer's bookkeeping: gradient accumulation divides the loss, budgets count every
process, and the LoRA reference works when DDP wraps the model."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.distributed as dist
from transformers import TrainingArguments

from unmirage.config import ArmConfig, ModelConfig
from unmirage.data.inputs import Collator, Encoder
from unmirage.data.samples_io import read_samples
from unmirage.methods.base import Reference
from unmirage.methods.examples import ListDataset
from unmirage.methods.train import AlignmentTrainer
from unmirage.methods.sft import SFT
from unmirage.methods.train import budget
from unmirage.models.families import fresh_tiny
from unmirage.models.lora import add_lora


def _tiny(world):
    samples = read_samples(world / "corpus.jsonl")
    torch.manual_seed(0)
    model, processor = fresh_tiny(ModelConfig(text_layers=2), [s.instruction + " " + s.response for s in samples], 32)
    encoder = Encoder(processor, world / "images", 64)
    items = [encoder.encode(s) for s in samples[:4]]
    return model, processor, Collator(processor.tokenizer.pad_token_id, encoder.images), items


def test_budget_counts_accumulation_and_every_process():
    arm = ArmConfig(steps=10, batch_size=8, gradient_accumulation_steps=2)
    b = budget(arm, world_size=4, tokens=123)
    assert b["examples"] == 10 * 8 * 2 * 4 and b["world_size"] == 4 and b["tokens"] == 123


def test_gradient_accumulation_divides_the_method_loss(tiny_world, tmp_path):
    model, _, collate, items = _tiny(tiny_world)
    args = TrainingArguments(output_dir=str(tmp_path), gradient_accumulation_steps=2, per_device_train_batch_size=4,
                             report_to=[], use_cpu=True, max_steps=1)
    trainer = AlignmentTrainer(model=model, args=args, train_dataset=ListDataset(items), data_collator=collate,
                               method=SFT())
    trainer.current_gradient_accumulation_steps = 2  # as the training loop sets it
    batch = collate(items)
    model.train()
    full, _ = SFT().loss(model, batch)
    # the loop passes the batch's label count whenever the model's forward takes loss kwargs (LLaVA's does)
    stepped = trainer.training_step(model, batch, num_items_in_batch=torch.tensor(int((batch["labels"] >= 0).sum())))
    # the micro-batch's share of the step: its mean loss / 2 (it was backpropagated undivided before)
    assert stepped.item() == pytest.approx(full.item() / 2, rel=1e-5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_lora_reference_under_ddp(tiny_world):
    model, _, collate, items = _tiny(tiny_world)
    model = add_lora(model, r=2, alpha=4, dropout=0.0)
    ref = Reference()
    ref.attach(model)
    batch = collate(items[:2])
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1)
    try:
        wrapped = torch.nn.parallel.DistributedDataParallel(model)
        with torch.no_grad():
            plain = ref.logits(model, batch)
            through_ddp = ref.logits(wrapped, batch)  # AttributeError (disable_adapter) before the fix
    finally:
        dist.destroy_process_group()
    torch.testing.assert_close(plain, through_ddp)
