"""The encoded examples an arm trains on, and how they become the Trainer's datasets: one list,
forget examples alone, or each forget example paired with a retain example."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import Dataset


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


class ForgetDataset(ListDataset):
    """Forget examples alone, as {"forget": example}, for paired methods without a retain term."""

    def __getitem__(self, i: int) -> dict:
        return {"forget": self.items[i]}
