"""Procedural images: a textured, coloured shape at a random place, size and angle, with noise."""

from __future__ import annotations

import numpy as np
from PIL import Image

from .concepts import COLOURS, Concept


def _texture(kind: str, yy: np.ndarray, xx: np.ndarray, phase: int) -> np.ndarray:
    """1 where the texture shows the concept's colour, 0 where it shows the dark second tone."""
    y, x = yy + phase, xx + phase
    if kind == "hstripes":
        return (y // 2) % 2 == 0
    if kind == "vstripes":
        return (x // 2) % 2 == 0
    if kind == "checks":
        return ((y // 2) + (x // 2)) % 2 == 0
    if kind == "dots":
        return ~((y % 4 == 0) & (x % 4 == 0))
    if kind == "diagonal":
        return ((x + y) // 2) % 2 == 0
    if kind == "rings":
        return (np.hypot(yy - yy.mean(), xx - xx.mean()).astype(int) // 2) % 2 == 0
    if kind == "grid":
        return ~((y % 4 == 0) | (x % 4 == 0))
    return np.ones_like(yy, dtype=bool)  # solid


def _mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Shape mask in rotated unit coordinates (u, v in about [-1, 1])."""
    if shape == "circle":
        return u**2 + v**2 <= 1.0
    if shape == "square":
        return (np.abs(u) <= 0.85) & (np.abs(v) <= 0.85)
    if shape == "cross":
        return ((np.abs(u) <= 0.35) & (np.abs(v) <= 1.0)) | ((np.abs(v) <= 0.35) & (np.abs(u) <= 1.0))
    return (v <= 0.8) & (v >= -0.9 + 1.7 * np.abs(u))  # triangle


def render(concept: Concept, rng: np.random.Generator, size: int = 32) -> Image.Image:
    bg = rng.integers(0, 90, size=3)
    img = np.empty((size, size, 3), dtype=np.float32)
    img[:] = bg
    scale = rng.uniform(0.3, 0.45) * size
    cy, cx = rng.uniform(scale, size - scale, size=2)
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size]
    dy, dx = (yy - cy) / scale, (xx - cx) / scale
    u = np.cos(angle) * dx + np.sin(angle) * dy
    v = -np.sin(angle) * dx + np.cos(angle) * dy
    mask = _mask(concept.shape, u, v)
    on = _texture(concept.texture, yy, xx, int(rng.integers(0, 4)))
    colour = np.array(COLOURS[concept.colour], dtype=np.float32) * rng.uniform(0.85, 1.1)
    dark = colour * 0.25
    fill = np.where(on[..., None], colour, dark)
    img = np.where(mask[..., None], fill, img)
    img += rng.normal(0, 10, size=img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
