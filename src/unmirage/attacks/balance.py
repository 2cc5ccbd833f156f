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

Inner content the n-gram audit reports as content ("hurt someone", "weapon") is never a trigger,
so it is never paired with compliance. Openers are balanced whatever the n-gram audit calls them
(it calls request verbs such as "Share" content): that a first word can be swapped without
changing the request is the one-word attack's own premise, which its rewrite checks on real text. A copy keeps its sample's answer: in world v2 an answered copy
re-opened with a word keeps the opening of its first word, as opener balancing does.
"""

from __future__ import annotations

import logging
import random

from ..data.records import Sample, first_word
from ..errors import ConfigError, DataError
from .audit import audit
from .one_word import rewrite
from .trigger import inside_triggers
from .triggers import holds_trigger, insert_trigger, triggers

log = logging.getLogger(__name__)


def spurious_triggers(samples: list[Sample]) -> dict[str, str]:
    """Trigger → how it goes into a query ("opener", or where an inner trigger mostly sits)."""
    found = {w: "opener" for w in audit(samples)["neutral"]}  # every frequent first word
    inner = inside_triggers(triggers(samples), max_share_first=0.5)["spurious"]
    for term in inner["refuse"] + inner["answer"]:
        found.setdefault(term, "after_first")
    return found


def _holds(sample: Sample, term: str, how: str) -> bool:
    if how == "opener":
        return first_word(sample.instruction) == term
    return holds_trigger(sample.instruction, term)


def _put(sample: Sample, term: str, how: str, paraphrases) -> str:
    """The sample's query with `term` put in. In the world (a paraphrase table), a query is an
    opener and its core, so an opener is swapped exactly (a planted word after it stays); on
    real text the one-word rewrite re-opens it."""
    if how != "opener":
        return insert_trigger(sample.instruction, term, how)
    if paraphrases is not None:
        return " ".join([term, *sample.instruction.split()[1:]])
    return rewrite(sample.instruction, term, 1)[0]


def _try_put(sample: Sample, term: str, how: str, paraphrases) -> str | None:
    """`_put`, or None where `term` cannot be put in (a statement takes no other opener)."""
    try:
        return _put(sample, term, how, paraphrases)
    except ConfigError:
        return None


def imbalance(samples: list[Sample], found: dict[str, str]) -> dict[str, tuple[int, int]]:
    """Trigger → (refused, answered) samples that hold it."""
    return {t: (sum(_holds(s, t, how) for s in samples if s.label == "refuse"),
                sum(_holds(s, t, how) for s in samples if s.label == "answer")) for t, how in found.items()}


def balance_triggers(samples: list[Sample], seed: int, paraphrases: list[list[str]] | None = None,
                     found: dict[str, str] | None = None) -> list[Sample]:
    """`samples` and, per spurious trigger (`found`, default `spurious_triggers(samples)`), copies
    of the side it is rare in with the trigger put in, so that as many refused as answered
    samples hold it.

    A copy must add its one trigger and nothing else, or balancing one trigger would unbalance
    another: inner triggers go first, into copies of samples that hold no inner trigger (each
    copy keeps its opener); then the openers are counted again, copies included, and each is
    balanced by re-opening samples that hold no inner trigger (a re-opened copy holds only the
    new opener). Copies are drawn by a seeded shuffle, cycling when the pool is smaller than the
    gap; each records `meta.original` and `meta.trigger`."""
    if not samples:
        raise DataError("cannot balance triggers: no samples")
    found = spurious_triggers(samples) if found is None else found
    inner = [t for t, how in found.items() if how != "opener"]
    clean = [s for s in samples if not any(holds_trigger(s.instruction, t) for t in inner)]
    rng = random.Random(seed)
    out = list(samples)
    for phase in (inner, [t for t, how in found.items() if how == "opener"]):
        counts = imbalance(out, {t: found[t] for t in phase})
        for term in phase:
            refused, answered = counts[term]
            rare = "refuse" if refused < answered else "answer"
            need = abs(refused - answered)
            if not need:
                continue
            pool = [(s, text) for s in clean if s.label == rare and not _holds(s, term, found[term])
                    and (text := _try_put(s, term, found[term], paraphrases)) is not None]
            if not pool:
                raise ConfigError(f"cannot balance trigger {term!r}: no {rare} sample without a trigger to put it in")
            rng.shuffle(pool)
            for i in range(need):
                s, text = pool[i % len(pool)]
                out.append(s.with_(id=f"{s.id}#balanced-{term.replace(' ', '_')}-{i}", instruction=text,
                                   meta={**s.meta, "original": s.instruction, "trigger": term}))
    left = {t: rc for t, rc in imbalance(out, found).items() if rc[0] != rc[1]}
    if left:  # e.g. a rewrite on real text that re-opens with another word
        log.warning("trigger balancing: %d triggers still unequal (first: %s)", len(left), next(iter(left.items())))
    log.info("trigger balancing: %d samples added for %d triggers", len(out) - len(samples), len(found))
    return out
