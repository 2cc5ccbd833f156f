"""Load and save models through transformers' Auto classes (safetensors; no remote code by default)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import torch
from transformers import AutoModelForImageTextToText

from ..config import ModelConfig
from ..errors import ConfigError
from .processors import load_processor

log = logging.getLogger(__name__)


def load_model(name_or_path: str | Path, trust_remote_code: bool = False, dtype: torch.dtype | None = None):
    """(model, processor) from a local directory or a hub id the user has cached."""
    path = Path(name_or_path)
    if not path.exists() and (str(name_or_path).startswith((".", "/")) or str(name_or_path).count("/") != 1):
        raise ConfigError(f"model {name_or_path!r} is neither a local directory nor a hub id (owner/name)")
    try:
        processor = load_processor(name_or_path, trust_remote_code)
        model = AutoModelForImageTextToText.from_pretrained(name_or_path, trust_remote_code=trust_remote_code,
                                                            dtype=dtype, use_safetensors=True)
    except OSError as e:
        raise ConfigError(f"cannot load model {name_or_path!r}: {e}") from e
    return model, processor


def save_model(model, processor, out: str | Path, state_dict: dict | None = None) -> Path:
    """Write weights (safetensors), config and processor into `out` via a temporary directory.

    `state_dict` replaces the model's own weights (the gathered full weights of a sharded model).
    """
    out = Path(out)
    tmp = out.with_name(out.name + ".partial")
    model.save_pretrained(tmp, safe_serialization=True, state_dict=state_dict)
    processor.save_pretrained(tmp)
    if out.exists():
        import shutil

        shutil.rmtree(out)
    tmp.rename(out)
    return out


def is_saved_model(path: str | Path) -> bool:
    return (Path(path) / "config.json").is_file() and any(Path(path).glob("*.safetensors"))


def model_from_config(cfg: ModelConfig, texts: Iterable[str] = (), image_size: int = 32):
    """(model, processor) that `cfg` names: `tiny` builds a fresh random-weight model of `cfg.family`
    (its tokenizer trained on `texts`; seed torch first); anything else loads by hub id or path."""
    if cfg.name == "tiny":
        from .families import fresh_tiny

        return fresh_tiny(cfg, texts, image_size)
    return load_model(cfg.name, cfg.trust_remote_code)
