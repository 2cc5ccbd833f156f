"""Shared fixtures of the smoke tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def tiny_model():
    """`tiny_model(world)`: a tiny LLaVA whose tokenizer knows the world's texts, the same on every call."""
    import torch

    from unmirage.config import ModelConfig
    from unmirage.data.samples_io import read_samples
    from unmirage.data.vlguard import load_vlguard
    from unmirage.models.tiny import build_model, build_processor, train_tokenizer

    def make(world):
        samples = read_samples(world / "corpus.jsonl") + read_samples(world / "forget.jsonl")
        texts = [s.instruction + " " + s.response for s in samples + load_vlguard(world / "train.json")]
        tok = train_tokenizer(texts)
        torch.manual_seed(0)
        return build_model(tok, ModelConfig(), 32), build_processor(tok, ModelConfig(), 32)

    return make
