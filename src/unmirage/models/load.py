"""Load and save models through transformers' Auto classes (safetensors; no remote code by default)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import torch
from transformers import AutoModelForImageTextToText

from ..config import ModelConfig
from ..errors import ConfigError
from ..io import read_json
from .processors import load_processor

log = logging.getLogger(__name__)


def load_model(name_or_path: str | Path, trust_remote_code: bool = False, dtype: torch.dtype | None = None):
    """(model, processor) from a local directory or a hub id the user has cached."""
    path = Path(name_or_path)
    if not path.exists() and (str(name_or_path).startswith((".", "/")) or str(name_or_path).count("/") != 1):
        raise ConfigError(f"model {name_or_path!r} is neither a local directory nor a hub id (owner/name)")
    if path.is_dir():
        check_model_dir(path, trust_remote_code)
    try:
        processor = load_processor(name_or_path, trust_remote_code)
        model = AutoModelForImageTextToText.from_pretrained(name_or_path, trust_remote_code=trust_remote_code,
                                                            dtype=dtype, use_safetensors=True)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot load model {name_or_path!r}: {e}") from e
    return model, processor


PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")


def check_model_dir(path: Path, trust_remote_code: bool) -> None:
    """A `ConfigError` saying what a local model directory lacks before transformers is asked:
    weights in safetensors (pickle files are never loaded), and leave to run its own code."""
    if not (path / "config.json").is_file():
        raise ConfigError(f"model directory {path} has no config.json; is it a saved transformers model?")
    if not any(path.glob("*.safetensors")):
        pickles = sorted(p.name for pattern in PICKLE_WEIGHTS for p in path.glob(pattern))
        if pickles:
            raise ConfigError(f"model directory {path} holds weights only as pickle files ({', '.join(pickles)}), "
                              "which unmirage never loads (they can run code); convert them to safetensors, e.g. "
                              "load them yourself if you trust them and save_pretrained(..., safe_serialization=True)")
        raise ConfigError(f"model directory {path} holds no weights (*.safetensors)")
    config = read_json(path / "config.json")
    if isinstance(config, dict) and config.get("auto_map") and not trust_remote_code:
        raise ConfigError(f"model directory {path} needs its own code (config.json has auto_map), which is off by "
                          "default; set model.trust_remote_code=true if you trust that code")


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
