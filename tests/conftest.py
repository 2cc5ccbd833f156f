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


@pytest.fixture(scope="session", autouse=True)
def generation_cache(tmp_path_factory):
    """Keep the generation cache of every test inside the session's temporary directory."""
    import os

    path = tmp_path_factory.mktemp("generation-cache")
    old = os.environ.get("UNMIRAGE_CACHE")
    os.environ["UNMIRAGE_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("UNMIRAGE_CACHE", None)
    else:
        os.environ["UNMIRAGE_CACHE"] = old


@pytest.fixture
def cli(monkeypatch):
    """Run `unmirage ARGS...` in this process; returns the exit code (0 on success)."""
    import sys

    from unmirage.cli import main

    def run(*args: str) -> int:
        monkeypatch.setattr(sys, "argv", ["unmirage", *args])
        try:
            main()
        except SystemExit as e:
            return e.code or 0
        return 0

    return run
