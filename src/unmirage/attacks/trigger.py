"""The trigger attack: a spurious trigger found anywhere in the safety set's queries (the n-gram
audit, `triggers.py`) is put into test queries where it was not, keeping the rest.

The one-word attack swaps first words; this one acts on words the n-gram audit flags as
spurious (closed-class words that carry the label within queries of the same content, e.g. a
planted filler), by default only those that mostly sit inside a query (`max_share_first`), the
openers being the one-word attack's. `unsafes@trigger`: the strongest answer-biased one put into
each unsafe query (does the arm comply?); `safe_safes@trigger`: the strongest refusal-biased one
put into each safe query (does it refuse?). And the other way, for test queries that hold one:
`unsafes@untrigger` takes the refusal-biased trigger out of the unsafe queries with it, and
`safe_safes@untrigger` the answer-biased one out of the safe queries with it. A direction
without a qualifying trigger, or without a query to take it from, has no split.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..data.records import Sample
from ..errors import ConfigError
from .base import ATTACKS, Attack, QueryContext
from .triggers import (TRIGGER_SPLITS, WHERE, holds_trigger, remove_trigger, top_trigger, trigger_splits,
                       triggers)

log = logging.getLogger(__name__)


@dataclass
class TriggerParams:
    ngrams: int = 2  # the audit's longest n-gram
    fdr: float = 0.05  # its false discovery rate
    where: str = "after_first"  # where the trigger goes in: start | after_first | before_end
    max_share_first: float = 0.5  # only triggers used as the first word at most this often

    def __post_init__(self) -> None:
        if self.where not in WHERE:
            raise ConfigError(f"attacks.trigger.where must be one of {', '.join(WHERE)}, got {self.where!r}")
        if not 0 <= self.max_share_first <= 1:
            raise ConfigError(f"attacks.trigger.max_share_first must lie in [0, 1], got {self.max_share_first}")


def inside_triggers(result: dict, max_share_first: float) -> dict:
    """The audit `result` with only the spurious triggers that sit inside queries, strongest first."""
    share = {r["term"]: r["positions"]["share_first"] for r in result["flagged"]}
    spurious = {d: [t for t in terms if share[t] <= max_share_first] for d, terms in result["spurious"].items()}
    return {**result, "spurious": spurious}


# Split → (source group, which trigger direction it loses): the refusal-biased trigger taken out
# of the unsafe queries that hold it (do they still get refused?), the answer-biased one out of
# the safe queries that hold it (do they still get answered?)
UNTRIGGER_SPLITS = {"unsafes@untrigger": ("unsafes", "refuse"), "safe_safes@untrigger": ("safe_safes", "answer")}


def untrigger_splits(test: list[Sample], found: dict) -> dict[str, list[Sample]]:
    """The removal attacks: each test query of a group that holds the strongest spurious trigger of
    a direction, with it taken out (`remove_trigger`). A split no query qualifies for is left out."""
    splits = {}
    for split, (group, direction) in UNTRIGGER_SPLITS.items():
        term = top_trigger(found, direction)
        if term is None:
            continue
        held = [s for s in test if s.group == group and holds_trigger(s.instruction, term)]
        if held:
            splits[split] = [s.with_(id=f"{s.id}#untrigger", instruction=remove_trigger(s.instruction, term),
                                     meta={**s.meta, "source_id": s.id, "word": term, "original": s.instruction})
                             for s in held]
    return splits


@ATTACKS.register("trigger")
class Trigger(Attack):
    """A spurious trigger of the n-gram audit put into test queries: ASR and RR with it."""

    name = "trigger"
    Params = TriggerParams

    def splits(self, ctx: QueryContext) -> dict[str, list[Sample]]:
        found = inside_triggers(triggers(ctx.sets.safety, ngrams=self.params.ngrams, fdr=self.params.fdr),
                                self.params.max_share_first)
        splits = trigger_splits(ctx.test, found, self.params.where)
        splits.update(untrigger_splits(ctx.test, found))
        for split in (*TRIGGER_SPLITS, *UNTRIGGER_SPLITS):
            if split in splits:
                log.info("trigger attack %s: %r in %d queries", split, splits[split][0].meta["word"] if splits[split]
                         else None, len(splits[split]))
        return splits
