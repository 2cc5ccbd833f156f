"""What every method is: a small registered class (`Method`) that `AlignmentTrainer`
(methods/train.py) calls for its loss, and what methods share (the reference model, precomputed
per-example quantities, sequence log-probs).

A method is a small registered class: its hyperparameters (a dataclass, checked like the rest
of the config), an optional `prepare` that precomputes what it needs from the model before
training (reference log-probs, frozen activations), and `loss`, which maps a batch to a scalar.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from accelerate.utils import send_to_device

from ..artefacts import without_unkeyed
from ..config import from_dict
from ..data.inputs import model_inputs
from ..models.lora import is_peft
from ..registry import Registry
from . import losses

if TYPE_CHECKING:
    from .examples import AlignData

@dataclass
class NoParams:
    pass


class Method:
    """Base class: `paired` methods see {"forget": batch, "retain": batch}, others one batch."""

    name: ClassVar[str] = ""
    paired: ClassVar[bool] = False
    unlearns: ClassVar[bool] = False  # removes knowledge (the paper's MU arms), rather than teaching refusals
    Params: ClassVar[type] = NoParams

    def __init__(self, params: dict[str, Any] | None = None, seed: int = 0):
        self.params = from_dict(self.Params, params or {}, f"{self.name} params")
        self.seed = seed  # the arm's training seed, for what a method draws itself (RMU's direction)

    @property
    def uses_retain(self) -> bool:
        """Whether batches carry retain examples (paired methods with a retain term)."""
        return False

    def trainable(self, model: torch.nn.Module) -> list[str] | None:
        """Regexes of the parameter names to train (None: every parameter that requires grad)."""
        return None

    def encode(self, encoder, sample) -> dict:
        """One training example of the main data (DPO overrides it to encode a pair of answers)."""
        return encoder.encode(sample)

    def prepare(self, model: torch.nn.Module, data: "AlignData", collate) -> None:
        """Precompute per-example extras (stored under `ref_*` keys) before training."""

    def loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError


METHODS: Registry[type[Method]] = Registry("method")


class Reference:
    """The model before alignment, for terms computed against it on the fly (e.g. KL on retain data).

    Under PEFT the reference is the same model with its adapters disabled, so no second copy
    exists. Otherwise a frozen copy is taken when training starts (`attach`). Methods whose
    reference quantities are fixed per example (NPO's and DPO's log-probs) precompute them in
    `prepare` instead and need neither.
    """

    def __init__(self) -> None:
        self.frozen: torch.nn.Module | None = None
        self.peft = False

    def attach(self, model: torch.nn.Module) -> None:
        self.peft = is_peft(model)
        if not self.peft:
            self.frozen = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def logits(self, model: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        if self.peft:
            inner = getattr(model, "module", model)  # under DDP the PEFT model is the wrapper's `.module`
            with inner.disable_adapter():
                return inner(**model_inputs(batch)).logits.detach()
        if self.frozen is None:
            raise RuntimeError("Reference.logits called before attach(model)")
        return self.frozen(**model_inputs(batch)).logits


@torch.no_grad()
def precompute(model: torch.nn.Module, items: list[dict], collate, fn, key: str, batch_size: int = 32) -> None:
    """Store `fn(model, batch)[i]` (a per-example tensor) under `items[i][key]`, in eval mode."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        values = fn(model, send_to_device(collate(chunk), device))
        for item, v in zip(chunk, values):
            item[key] = v.detach().to("cpu", copy=True)  # batches move to the device with the rest
    model.train(was_training)


def sequence_logprobs(model: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
    """log π(y|x) of each sequence of a batch. (batch,)"""
    return losses.sequence_logprob(model(**model_inputs(batch)).logits, batch["labels"])


def params_dict(method: Method) -> dict[str, Any]:
    return dataclasses.asdict(method.params)


def key_params(method: Method) -> dict[str, Any]:
    """The params that make a model's key: all of them, but a param added after models were
    first recorded is left out at the value that trains those models (its Params class lists
    them as `UNKEYED_DEFAULTS`), so that adding it leaves the models saved before it current."""
    return without_unkeyed(params_dict(method), getattr(type(method.params), "UNKEYED_DEFAULTS", {}))


__all__ = ["METHODS", "Method", "Reference", "losses", "model_inputs", "precompute", "sequence_logprobs"]
