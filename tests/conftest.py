"""Shared fixtures: a very small embedded world, built once per test session."""

from __future__ import annotations

import pytest

from unmirage.config import WorldConfig
from unmirage.world.build import build_world

TINY_WORLD = dict(n_concepts=6, train_renders=3, test_renders=1, corpus_per_render=2, safety_renders=2,
                  retain_topup=5)


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    return build_world(WorldConfig(**TINY_WORLD), tmp_path_factory.mktemp("world"))
