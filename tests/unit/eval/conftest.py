"""Fixtures for evaluation tests: a few small images and a tiny LLaVA processor (no world)."""

from __future__ import annotations

import pytest
from PIL import Image

from unmirage.config import ModelConfig
from unmirage.data.records import Sample
from unmirage.models.tiny import build_processor, train_tokenizer

IMAGE_SIZE = 16
WORDS = "what is this how is it made tell me about the red blue square circle sorry i can not help mix heat it harmful"


@pytest.fixture(scope="module")
def eval_images(tmp_path_factory):
    """An image root with `a.png` (red), `b.png` (blue) and `a_copy.png` (the same pixels as a.png)."""
    root = tmp_path_factory.mktemp("images")
    for name, colour in (("a.png", (255, 0, 0)), ("b.png", (0, 0, 255)), ("a_copy.png", (255, 0, 0))):
        Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), colour).save(root / name)
    return root


@pytest.fixture(scope="module")
def eval_tokenizer():
    return train_tokenizer([WORDS])


@pytest.fixture(scope="module")
def eval_processor(eval_tokenizer):
    return build_processor(eval_tokenizer, ModelConfig(patch_size=8), IMAGE_SIZE)


@pytest.fixture(scope="session")
def make_samples():
    """`make_samples(n, group, image, prefix)`: n samples asking about one image."""

    def make(n: int, group: str = "unsafes", image: str = "a.png", prefix: str = "q") -> list[Sample]:
        return [Sample(id=f"{prefix}{i}", image=image, group=group, instruction=f"what is this {i}") for i in range(n)]

    return make
