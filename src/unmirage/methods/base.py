"""One trainer for every method: `transformers.Trainer` → `AlignmentTrainer` → thin methods.

A method is a small registered class: its hyperparameters (a dataclass, checked like the rest
of the config), an optional `prepare` that precomputes what it needs from the model before
training (reference log-probs, frozen activations), and `loss`, which maps a batch to a scalar.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from accelerate.utils import send_to_device
from torch.utils.data import Dataset
from transformers import Trainer

from ..config import from_dict
from ..data.collate import MODEL_KEYS, model_inputs  # noqa: F401  (re-exported: methods import them from here)
from ..models.lora import is_peft
from ..registry import Registry
from . import losses

log = logging.getLogger(__name__)



@dataclass
class NoParams:
    pass


class Method:
    """Base class: `paired` methods see {"forget": batch, "retain": batch}, others one batch."""

    name: ClassVar[str] = ""
    paired: ClassVar[bool] = False
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


@dataclass
class AlignData:
    """Encoded examples: `main` (the SFT mix, or the forget set) and `retain` (paired methods)."""

    main: list[dict]
    retain: list[dict] | None = None


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


class ForgetDataset(ListDataset):
    """Forget examples alone, as {"forget": example}, for paired methods without a retain term."""

    def __getitem__(self, i: int) -> dict:
        return {"forget": self.items[i]}


class AlignmentTrainer(Trainer):
    """`Trainer` whose loss comes from a `Method`; logs the method's loss terms."""

    def __init__(self, *args, method: Method, **kwargs):
        super().__init__(*args, **kwargs)
        # A method's loss is a mean over its micro-batch, not a sum to be divided by the number of
        # items in the batch: the Trainer must divide it by the accumulation steps itself.
        self.model_accepts_loss_kwargs = False
        self.method = method
        self._terms: dict[str, list[float]] = {}
        self.tokens_seen = 0  # non-padding tokens of every example the optimizer saw (image tokens included)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss, terms = self.method.loss(model, inputs)
        if not isinstance(loss, torch.Tensor) or not loss.requires_grad:
            raise RuntimeError(f"{self.method.name}: a training step computed no loss with a gradient; "
                               "refusing to take an optimizer step that does nothing")
        if not torch.isfinite(loss):
            raise RuntimeError(f"{self.method.name}: non-finite loss {loss.item()} at step {self.state.global_step}")
        for k, v in terms.items():
            self._terms.setdefault(k, []).append(v)
        if model.training:
            self.tokens_seen += count_tokens(inputs)
        return (loss, None) if return_outputs else loss

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        for k, vals in self._terms.items():
            logs[k] = sum(vals) / len(vals)
        self._terms = {}
        super().log(logs, *args, **kwargs)


def count_tokens(batch: dict[str, Any]) -> int:
    """Non-padding tokens of a (possibly nested: forget/retain, chosen/rejected) batch."""
    if "attention_mask" in batch:
        return int(batch["attention_mask"].sum())
    return sum(count_tokens(v) for v in batch.values() if isinstance(v, dict))


def params_dict(method: Method) -> dict[str, Any]:
    return dataclasses.asdict(method.params)


__all__ = ["METHODS", "Method", "Reference", "AlignData", "AlignmentTrainer", "PairedDataset", "ListDataset", "losses",
           "model_inputs", "precompute", "sequence_logprobs"]
