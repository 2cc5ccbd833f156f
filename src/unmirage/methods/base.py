"""One trainer for every method: `transformers.Trainer` → `AlignmentTrainer` → thin methods.

A method is a small registered class: its hyperparameters (a dataclass, checked like the rest
of the config), an optional `prepare` that precomputes what it needs from the model before
training (reference log-probs, frozen activations), and `loss`, which maps a batch to a scalar.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch.utils.data import Dataset
from transformers import Trainer

from ..config import from_dict
from ..registry import Registry
from . import losses

log = logging.getLogger(__name__)

# batch keys that go to the model's forward (others are labels or method extras)
MODEL_KEYS = ("input_ids", "attention_mask", "pixel_values", "image_sizes", "pixel_attention_mask",
              "image_grid_thw")


def model_inputs(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in batch.items() if k in MODEL_KEYS}


@dataclass
class NoParams:
    pass


class Method:
    """Base class: `paired` methods see {"forget": batch, "retain": batch}, others one batch."""

    name: ClassVar[str] = ""
    paired: ClassVar[bool] = False
    Params: ClassVar[type] = NoParams

    def __init__(self, params: dict[str, Any] | None = None):
        self.params = from_dict(self.Params, params or {}, f"{self.name} params")

    def trainable(self, model: torch.nn.Module) -> list[str] | None:
        """Regexes of the parameter names to train (None: every parameter that requires grad)."""
        return None

    def prepare(self, model: torch.nn.Module, data: "AlignData", collate) -> None:
        """Precompute per-example extras (stored under `ref_*` keys) before training."""

    def loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError


METHODS: Registry[type[Method]] = Registry("method")


@dataclass
class AlignData:
    """Encoded examples: `main` (the SFT mix, or the forget set) and `retain` (paired methods)."""

    main: list[dict]
    retain: list[dict] | None = None


class PairedDataset(Dataset):
    """Item i pairs forget example i with a retain example; both cycle, so no step is ever empty.

    The pairing is a seeded permutation, so it is reproducible and needs no iterator state (an
    exhausted retain iterator silently turned the reference RMU's later steps into no-ops).
    """

    def __init__(self, forget: list[dict], retain: list[dict], seed: int):
        if not forget or not retain:
            raise ValueError("a paired method needs a non-empty forget set and retain set")
        self.forget, self.retain = forget, retain
        self.n = max(len(forget), len(retain))
        gen = torch.Generator().manual_seed(seed)
        self.retain_order = torch.randperm(len(retain), generator=gen).tolist()

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return {"forget": self.forget[i % len(self.forget)],
                "retain": self.retain[self.retain_order[i % len(self.retain)]]}


class ListDataset(Dataset):
    def __init__(self, items: list[dict]):
        if not items:
            raise ValueError("no training examples")
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


class AlignmentTrainer(Trainer):
    """`Trainer` whose loss comes from a `Method`; logs the method's loss terms."""

    def __init__(self, *args, method: Method, **kwargs):
        super().__init__(*args, **kwargs)
        self.method = method
        self._terms: dict[str, list[float]] = {}

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss, terms = self.method.loss(model, inputs)
        if not isinstance(loss, torch.Tensor) or not loss.requires_grad:
            raise RuntimeError(f"{self.method.name}: a training step computed no loss with a gradient; "
                               "refusing to take an optimizer step that does nothing")
        if not torch.isfinite(loss):
            raise RuntimeError(f"{self.method.name}: non-finite loss {loss.item()} at step {self.state.global_step}")
        for k, v in terms.items():
            self._terms.setdefault(k, []).append(v)
        return (loss, None) if return_outputs else loss

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        for k, vals in self._terms.items():
            logs[k] = sum(vals) / len(vals)
        self._terms = {}
        super().log(logs, *args, **kwargs)


def set_trainable(model: torch.nn.Module, patterns: list[str] | None) -> list[str]:
    """Freeze every parameter not matching `patterns`; returns the trainable names."""
    if patterns is None:
        return [n for n, p in model.named_parameters() if p.requires_grad]
    regexes = [re.compile(p) for p in patterns]
    names = []
    for n, p in model.named_parameters():
        keep = any(r.search(n) for r in regexes)
        p.requires_grad_(keep)
        if keep:
            names.append(n)
    if not names:
        raise ValueError(f"no parameter matches the trainable scope {patterns}")
    return names


def params_dict(method: Method) -> dict[str, Any]:
    return dataclasses.asdict(method.params)


__all__ = ["METHODS", "Method", "AlignData", "AlignmentTrainer", "PairedDataset", "ListDataset", "losses",
           "model_inputs", "set_trainable"]
