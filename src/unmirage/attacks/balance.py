"""Trigger-balanced training data (the fix proposed in arXiv 2603.11388): every spurious
trigger is paired with compliant answers to safe queries as often as with refusals of unsafe
ones, so that no trigger is a shortcut to the label.

It generalises opener balancing (`one_word.balance_openers`, which redraws every opener): the
data is kept as it is and, for each trigger, copies of queries of the side it is rare in are
added with the trigger put in, until both sides hold it equally often. The triggers are

- the openers the first-word audit counts often enough (`audit.audit`'s frequent words): a first
  word does not change what is asked; a query is re-opened with it by an exact opener swap in
  the world, and by the one-word rewrite (`one_word.rewrite`, checked rules) on real text;
- the terms the n-gram audit calls spurious (`triggers.triggers`: closed-class words that carry
  the label within queries of the same content), put in where they mostly sit.

Content the n-gram audit reports as content ("hurt someone", "weapon") is never a trigger, so it
is never paired with compliance. A copy keeps its sample's answer: in world v2 an answered copy
re-opened with a word keeps the opening of its first word, as opener balancing does.
"""

from __future__ import annotations

import logging
import random

from ..data.records import Sample, first_word
from ..errors import ConfigError, DataError
from .audit import audit
from .one_word import rewrite
from .triggers import _pattern, insert_trigger, triggers

log = logging.getLogger(__name__)


def spurious_triggers(samples: list[Sample]) -> dict[str, str]:
    """Trigger → how it goes into a query ("opener", or where an inner trigger mostly sits)."""
    found = {w: "opener" for w in audit(samples)["neutral"]}  # every frequent first word
    result = triggers(samples)
    for row in result["flagged"]:
        if row["kind"] == "spurious" and row["term"] not in found and row["positions"]["share_first"] <= 0.5:
            found[row["term"]] = "after_first"
    return found


def _holds(sample: Sample, term: str, how: str) -> bool:
    if how == "opener":
        return first_word(sample.instruction) == term
    return bool(_pattern(term).search(sample.instruction))


def _put(sample: Sample, term: str, how: str, paraphrases) -> str:
    """The sample's query with `term` put in. In the world (a paraphrase table), a query is an
    opener and its core, so an opener is swapped exactly (a planted word after it stays); on
    real text the one-word rewrite re-opens it."""
    if how != "opener":
        return insert_trigger(sample.instruction, term, how)
    if paraphrases is not None:
        return " ".join([term, *sample.instruction.split()[1:]])
    return rewrite(sample.instruction, term, 1)[0]


def balance_triggers(samples: list[Sample], seed: int, paraphrases: list[list[str]] | None = None,
                     found: dict[str, str] | None = None) -> list[Sample]:
    """`samples` and, per spurious trigger (`found`, default `spurious_triggers(samples)`), copies
    of the side it is rare in with the trigger put in, so that as many refused as answered
    samples hold it. Copies are drawn by a seeded shuffle from the samples of that side that do
    not hold it, cycling when there are fewer; each records `meta.original` and `meta.trigger`."""
    if not samples:
        raise DataError("cannot balance triggers: no samples")
    found = spurious_triggers(samples) if found is None else found
    rng = random.Random(seed)
    added: list[Sample] = []
    for term, how in found.items():
        sides = {label: [s for s in samples if s.label == label] for label in ("refuse", "answer")}
        holding = {label: sum(_holds(s, term, how) for s in side) for label, side in sides.items()}
        rare = min(holding, key=lambda label: (holding[label], label))
        need = holding["refuse" if rare == "answer" else "answer"] - holding[rare]
        pool = [s for s in sides[rare] if not _holds(s, term, how)]
        if need <= 0:
            continue
        if not pool:
            raise ConfigError(f"cannot balance trigger {term!r}: every {rare} sample already holds it")
        rng.shuffle(pool)
        for i in range(need):
            s = pool[i % len(pool)]
            added.append(s.with_(id=f"{s.id}#balanced-{term.replace(' ', '_')}-{i}", instruction=_put(s, term, how, paraphrases),
                                 meta={**s.meta, "original": s.instruction, "trigger": term}))
    log.info("trigger balancing: %d samples added for %d triggers", len(added), len(found))
    return samples + added
