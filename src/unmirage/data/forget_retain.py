"""Forget and retain sets for unlearning, built from any loaded safety data.

forget = the unsafe queries (groups `unsafes` and `safe_unsafes` by default) paired with a
*harmful* answer, which unlearning pushes down; retain = the safe queries (`safe_safes`) with
their helpful answers, optionally topped up with general data (e.g. instruction-tuning data) by
seeded sampling.

Harmful answers come either from the records (a field such as SPA-VL's `rejected`:
`answers_from_field`) or from unaligned models (`answers_from_models`): every model answers every
query, a harm score rates each answer, and the most harmful one is kept (the Safety Mirage
recipe: several LLaVA-1.5 variants answer, a Llama-2 judge picks). Models and judges are plain
callables, so this module loads nothing and tests drive it with fakes.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, DataError
from .layout import FORGET, RETAIN
from .records import REFUSE_GROUPS, Sample
from .samples_io import write_samples

if TYPE_CHECKING:
    from ..judges import Judge

log = logging.getLogger(__name__)

Generate = Callable[[list[Sample]], list[str]]  # a model: one answer per query
HarmScore = Callable[[list[Sample], list[str]], list[float]]  # higher = more harmful

_VERDICT_SCORE = {"harmful": 1.0, "irrelevant": 0.0, "refusal": -1.0}


@dataclass(frozen=True)
class ForgetRetain:
    forget: list[Sample]
    retain: list[Sample]

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write `forget.jsonl` and `retain.jsonl` (the embedded world's file names) into `out_dir`."""
        paths = {"forget": Path(out_dir) / FORGET, "retain": Path(out_dir) / RETAIN}
        write_samples(paths["forget"], self.forget)
        write_samples(paths["retain"], self.retain)
        return paths


def judge_score(judge: Judge) -> HarmScore:
    """A harm score from a verdict judge: harmful 1, irrelevant 0, refusal -1."""
    def score(samples: list[Sample], answers: list[str]) -> list[float]:
        return [_VERDICT_SCORE[v["verdict"]] for v in judge.judge(samples, answers)]

    return score


def answers_from_field(samples: list[Sample], field: str) -> list[Sample]:
    """Each sample with its harmful answer taken from `meta[field]` (or from `response` itself)."""
    out = []
    for s in samples:
        answer = s.response if field == "response" else s.meta.get(field)
        if not isinstance(answer, str) or not answer.strip():
            raise DataError(f"sample {s.id!r}: no harmful answer in field {field!r}; give every unsafe record "
                            "one, or generate answers with unaligned models (answers_from_models)")
        meta = {**s.meta, "harmful_source": field}
        if field != "response":
            meta["original_response"] = s.response
        out.append(s.with_(response=answer, meta=meta))
    return out


def _checked(values: Sequence, n: int, what: str, kind: type | tuple[type, ...]) -> list:
    values = list(values)
    if len(values) != n or not all(isinstance(v, kind) and not isinstance(v, bool) for v in values):
        raise DataError(f"{what} returned {len(values)} values for {n} queries, or a value of the wrong type; "
                        f"it must return one {getattr(kind, '__name__', 'number')} per query, in order")
    return values


def answers_from_models(samples: list[Sample], models: Mapping[str, Generate] | Sequence[Generate],
                        score: HarmScore, min_score: float | None = None) -> list[Sample]:
    """Each sample with the most harmful of the models' answers (ties: the first model's).

    `score(samples, answers)` rates every answer (higher = more harmful). With `min_score`,
    queries whose best answer scores below it (every model refused) are dropped: a refusal is
    nothing to forget.
    """
    named = dict(models) if isinstance(models, Mapping) else {f"model{i}": m for i, m in enumerate(models)}
    if not named:
        raise ConfigError("answers_from_models needs at least one model")
    n = len(samples)
    answers = {name: _checked(gen(list(samples)), n, f"model {name!r}", str) for name, gen in named.items()}
    scores = {name: _checked(score(list(samples), a), n, f"the harm score on {name!r}'s answers", (int, float))
              for name, a in answers.items()}
    out = []
    for i, s in enumerate(samples):
        best = max(named, key=lambda name: scores[name][i])  # max keeps the first of equal scores
        if min_score is not None and scores[best][i] < min_score:
            continue
        out.append(s.with_(response=answers[best][i],
                           meta={**s.meta, "harmful_source": best, "harm_score": float(scores[best][i]),
                                 "original_response": s.response}))
    if len(out) < n:
        log.info("dropped %d of %d queries whose best answer scored below %s", n - len(out), n, min_score)
    return out


def build_forget_retain(samples: list[Sample], answers_field: str | None = None,
                        models: Mapping[str, Generate] | Sequence[Generate] | None = None,
                        score: HarmScore | None = None, min_score: float | None = None,
                        general: list[Sample] | None = None, retain_size: int | None = None, seed: int = 0,
                        forget_groups: Sequence[str] = REFUSE_GROUPS) -> ForgetRetain:
    """Forget and retain sets from a safety set; the same inputs and seed give the same sets.

    Harmful answers come from `answers_field` or from `models` judged by `score` (give exactly
    one source). `general` samples (all `safe_safes`) top the retain set up to `retain_size`
    items by seeded sampling (all of them when `retain_size` is None).
    """
    if (answers_field is None) == (models is None):
        raise ConfigError("give exactly one source of harmful answers: answers_field= or models= (with score=)")
    if models is not None and score is None:
        raise ConfigError("models= needs score=, a harm score that picks the most harmful answer")
    candidates = [s for s in samples if s.group in forget_groups]
    if not candidates:
        raise DataError(f"no samples in the forget groups {list(forget_groups)}; is this a safety set?")
    if answers_field is not None:
        forget = answers_from_field(candidates, answers_field)
    else:
        forget = answers_from_models(candidates, models, score, min_score)  # type: ignore[arg-type]
    retain = [s for s in samples if s.group == "safe_safes"] + _topup(general or [], retain_size, seed, samples)
    if not retain:
        raise DataError("the retain set is empty: the data has no safe_safes samples; pass general= safe data")
    return ForgetRetain(forget, retain)


def _topup(general: list[Sample], retain_size: int | None, seed: int, samples: list[Sample]) -> list[Sample]:
    bad = [s.id for s in general if s.group != "safe_safes"]
    if bad:
        raise DataError(f"general retain data must be safe_safes samples; {len(bad)} are not (first: {bad[0]!r})")
    have = sum(s.group == "safe_safes" for s in samples)
    want = len(general) if retain_size is None else max(0, retain_size - have)
    if want > len(general):
        log.warning("retain_size %d needs %d general samples, only %d given: using all", retain_size, want,
                    len(general))
        want = len(general)
    picked = random.Random(seed).sample(general, want)
    return [s.with_(meta={**s.meta, "retain_source": "general"}) for s in picked]
