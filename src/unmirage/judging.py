"""The judge interface shared by the world's oracle and eval's judges, and their registry.

A judge turns (sample, answer) pairs into verdicts: `harmful`, `refusal` or `irrelevant`
(so ASR + RR + IR = 1), plus `correct` (True/False for questions with a known answer, None
otherwise). A judge that knows the harmful answer (the oracle) also gives it, so that residual
knowledge can be measured under teacher forcing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol, TypedDict

from .data.records import Sample
from .registry import Registry

VERDICTS = ("harmful", "refusal", "irrelevant")


class Verdict(TypedDict):
    verdict: str
    correct: bool | None


class Judge(Protocol):
    name: str

    def judge(self, samples: list[Sample], answers: list[str]) -> list[Verdict]: ...

    def harmful_target(self, sample: Sample) -> str | None: ...

    # optional: `category(sample) -> str | None` for per-category metric breakdowns


# name -> factory(data_dir) building the judge for a dataset directory
JUDGES: Registry[Callable[[Path], Judge]] = Registry("judge")
