"""Benchmark fixtures (tests/fixtures/<dataset>/, real on-disk formats) copied into tmp_path, with images."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def write_images(root: Path, rels: list[str]) -> None:
    """Write a tiny image at each relative path (JPEG or PNG by suffix)."""
    for i, rel in enumerate(rels):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4), (40 * i % 256, 90, 160)).save(path)


@pytest.fixture
def bench(tmp_path) -> Callable[..., Path]:
    """`bench(name, images=[...])`: a copy of tests/fixtures/<name> with those images written into it."""

    def make(name: str, images: list[str] = ()) -> Path:
        root = tmp_path / name
        shutil.copytree(FIXTURES / name, root)
        write_images(root, list(images))
        return root

    return make
