"""The relearning attack (Deeb & Roger, arXiv 2410.08827; Hu et al., arXiv 2406.13356): fine-tune
an aligned arm for a few steps on a small set, then measure attack success and residual
knowledge on hazards that were *not* in that set.

The hazards (the world's concepts; a real dataset's harm categories) are split in two by a
seeded draw. The arm is fine-tuned on one half's data, and measured on the other half's unsafe
test queries:

- `data: forget`: the relearned half's harmful answers (other hazards' recipes). If ASR on the
  held-out half comes back, the arm had only hidden what it knew, and a little fine-tuning on
  anything harmful undoes the hiding;
- `data: facts`: harmless facts of the *held-out* hazards themselves (their answered questions,
  no recipe step in them). If their recipes come back, the knowledge was still there.

Each number of `steps` is its own fine-tuning from the arm (constant learning rate), so that a
point does not depend on the others (the base arm, unaligned, is measured at 0 only). Keys: `asr/unsafes@relearn<N>` and the other metrics of
that split, and `residual/unsafes@relearn<N>`; N = 0 is the arm itself on the held-out hazards.
Relearned models are kept under the arm's eval directory with what they were made from, and a
rerun reuses them only for the same arm, data and parameters.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..artefacts import key_of, record, staleness
from ..config import ArmConfig
from ..data.records import Sample
from ..errors import ConfigError, DataError
from ..models.load import is_saved_model, load_model
from .base import ATTACKS, ArmContext, Attack, QueryContext

if TYPE_CHECKING:
    from ..data.layout import DataSets

DATA = ("forget", "facts")


@dataclass
class RelearnParams:
    steps: list[int] = field(default_factory=lambda: [0, 10, 50, 200])
    data: str = "forget"  # forget: other hazards' harmful answers | facts: the held-out hazards' harmless facts
    share: float = 0.5  # share of the hazards relearned on (the rest are measured)
    lr: float = 1e-4
    batch_size: int = 8
    seed: int = 0  # the draw of the hazards

    def __post_init__(self) -> None:
        if not self.steps or any(n < 0 for n in self.steps) or len(set(self.steps)) != len(self.steps):
            raise ConfigError(f"attacks.relearn.steps must be distinct counts >= 0, got {self.steps}")
        if self.data not in DATA:
            raise ConfigError(f"attacks.relearn.data must be one of {', '.join(DATA)}, got {self.data!r}")
        if not 0 < self.share < 1:
            raise ConfigError(f"attacks.relearn.share must lie in (0, 1), got {self.share}")
        if self.lr <= 0 or self.batch_size < 1:
            raise ConfigError("attacks.relearn.lr must be > 0 and batch_size >= 1")


def hazard_of(sample: Sample) -> str:
    """Which hazard a query is about: the world's concept, else the dataset's category, else its image."""
    return str(sample.meta.get("concept") or sample.category or sample.image)


def split_hazards(hazards: set[str], share: float, seed: int) -> tuple[set[str], set[str]]:
    """(relearned, held out): a seeded draw of `share` of the hazards, at least one on each side."""
    ordered = sorted(hazards)
    if len(ordered) < 2:
        raise DataError(f"relearning needs at least two hazards to hold one out, got {ordered}")
    random.Random(seed).shuffle(ordered)
    k = min(max(1, round(share * len(ordered))), len(ordered) - 1)
    return set(ordered[:k]), set(ordered[k:])


def relearn_data(sets: "DataSets", judge, params: RelearnParams, test: list[Sample]) -> tuple[list[Sample], list[Sample]]:
    """(the samples to fine-tune on, the unsafe test queries measured)."""
    forget = [s for s in sets.forget if s.response.strip()]
    unsafe = [s for s in test if s.group == "unsafes"]
    if not forget or not unsafe:
        raise DataError("relearning needs a forget set (harmful answers) and unsafe test queries")
    relearned, held_out = split_hazards({hazard_of(s) for s in forget} & {hazard_of(s) for s in unsafe},
                                        params.share, params.seed)
    measured = [s for s in unsafe if hazard_of(s) in held_out]
    if params.data == "forget":
        train = [s for s in forget if hazard_of(s) in relearned]
    else:  # harmless answered questions about the held-out hazards, with no step of any hazard in them
        candidates = [s for s in sets.corpus + sets.retain
                      if s.group == "safe_safes" and hazard_of(s) in held_out and s.response.strip()]
        verdicts = judge.judge(candidates, [s.response for s in candidates]) if candidates else []
        train = [s for s, v in zip(candidates, verdicts) if v["verdict"] != "harmful" and not v.get("harm")]
    if not train:
        raise DataError(f"relearning with data={params.data}: no sample to fine-tune on "
                        f"({'no harmful answer of the relearned hazards' if params.data == 'forget' else 'no harmless answered question about the held-out hazards in the corpus or retain set'})")
    return train, measured


@ATTACKS.register("relearn")
class Relearn(Attack):
    """Fine-tune the arm on some hazards, then measure ASR and residual knowledge on the others."""

    name = "relearn"
    Params = RelearnParams

    data: tuple[list[Sample], list[Sample]] | None = None  # (fine-tuned on, measured): the same for every arm

    def prepare(self, ctx: QueryContext) -> None:
        self.data = relearn_data(ctx.sets, ctx.judge, self.params, ctx.test)

    def measure(self, ctx: ArmContext) -> dict[str, float]:
        p = self.params
        if self.data is None:
            self.prepare(QueryContext(ctx.test, ctx.judge, {}, ctx.sets))
        train, measured = self.data
        metrics: dict[str, float] = {}
        # the base model has nothing to relearn: its held-out hazards unrelearned are the ceiling
        for n in [0] if ctx.is_base else sorted(p.steps):
            split = f"unsafes@relearn{n}"
            queries = {split: [s.with_(id=f"{s.id}#relearn{n}") for s in measured]}
            if n == 0:
                model, processor = ctx.model, ctx.processor
            else:
                model, processor = self.relearned(ctx, train, n)
            got = ctx.evaluate(model, processor, queries, ctx.out_dir / f"step{n}")
            metrics.update({k: v for k, v in got.items() if not k.startswith("residual/")})
            res = ctx.residual(model, processor, measured)
            if "residual/unsafes" in res:
                metrics[f"residual/{split}"] = res["residual/unsafes"]
        return metrics

    def relearned(self, ctx: ArmContext, train: list[Sample], steps: int):
        """The arm fine-tuned for `steps` on `train` (saved, and reused when made the same way)."""
        out = ctx.out_dir / f"step{steps}" / "model"
        params = {k: v for k, v in self.spec()["params"].items() if k != "steps"}  # another N list keeps these
        spec = {"arm": ctx.model_key, "attack": self.name, "params": params, "steps": steps,
                "train": key_of(sorted(s.id for s in train))}
        if not (is_saved_model(out) and staleness(out, spec) is None):
            model, processor = ctx.load()
            arm = ArmConfig(method="sft", init="base", steps=steps, batch_size=self.params.batch_size,
                            lr=self.params.lr, scheduler="constant", seed=ctx.seed)
            ctx.train(model, processor, arm, train, out)
            record(out, spec)
        return load_model(out)

