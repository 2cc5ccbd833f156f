"""Triggers anywhere in the query: which words and n-grams of a safety set's instructions carry
the refuse/answer label, wherever they sit (issue 16, item 3).

The first-word audit (`audit.py`) sees only openers. This one counts every word n-gram (n up to
`ngrams`, 2 by default) of the instructions, one count per query that holds it, in refused
and in answered queries, and scores it by the log-odds ratio with an informative Dirichlet
prior (Monroe, Colaresi & Quinn 2008, "Fightin' Words", eqs. 16-22), with query counts in place
of token counts. For a term held by `y_r` of the `n_r` refused and `y_a` of the `n_a` answered
queries, and by `df` of all `N` queries, the prior adds `α = a0·df/N` pseudo-queries that hold
it and `β = a0 − α` that do not (`a0` = `prior`: the prior centres both labels on the corpus
rate)::

    δ = log((y_r + α) / (n_r − y_r + β)) − log((y_a + α) / (n_a − y_a + β))
    σ² = 1/(y_r + α) + 1/(n_r − y_r + β) + 1/(y_a + α) + 1/(n_a − y_a + β),   z = δ / σ

δ > 0: refusal-biased; δ < 0: answer-biased. Monroe et al. drop the two "rest" terms of σ²,
which are small beside token totals; a query count can be close to its label's total (a term in
most queries), so all four are kept. Terms held by fewer than `min_count` queries, or by every
query, are not tested; the others get the two-sided normal p-value of z, and the
Benjamini-Hochberg false discovery rate over all tested terms at `fdr` decides which are
flagged (filtering by total count is independent of the label under the null, so BH holds).

Kind of a flagged term — "spurious" (it does not change what the query asks) or "content":

1. A term with a word outside `CLOSED_CLASS` (a small list of English function words and
   discourse markers, stated below; negations are left out of it, since "not" changes what is
   asked) is content: nouns, verbs and adjectives say what is asked.
2. A closed-class term is spurious only when it carries the label *within queries of the same
   content*. Queries are grouped by the content words they hold (an opener apart from the same
   word further in, see `content_key`), among the tested content unigrams whose p-value is
   below `CONFOUNDER_P` = 0.25: a loose screen, as in the purposeful selection of confounders
   (Hosmer & Lemeshow; Bursac et al. 2008), since missing a confounder costs more than keeping
   a word that carries nothing, and the flagged words alone miss content wording on small
   sets. A Cochran-Mantel-Haenszel z over those groups compares the queries with and without
   the term; it must have the sign of δ and pass Holm's correction over the closed-class terms
   at level `fdr` (a family-wise guard, stricter than BH: "spurious" is the claim an attack
   acts on, and strong triggers would make BH lenient for the weak ones beside them). A
   function word that is part of content wording ("can" in "how this object can be used as a
   weapon", "with" in "hurt someone with this object") rides on that wording: within its
   groups it always or never occurs, or changes nothing, so it is reported as content.

Limits. The list decides what can be spurious at all: an imperative that opens most refused
requests ("Share", "Describe") is content here, though the first-word audit scores it as an
opener and the one-word attack swaps it; a filler outside the list (an invented word) is content
too. The strata control for the screened content unigrams only: wording that carries the label
through rarer words or word order can still confound the test. Where almost every query has
content of its own the test has little power, and a closed-class term is then reported as
content (not shown to carry the label beyond its content), never spurious by default. Neither
step reads meaning: whether a rewrite keeps the request is what `rules.check` tests.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..data.records import GROUPS, Sample
from ..errors import ConfigError, DataError
from ..io import write_json
from .audit import default_min_count

log = logging.getLogger(__name__)

NAME = "triggers.json"

# English function words (articles, determiners, pronouns, prepositions, conjunctions,
# auxiliaries and modals, wh-words, a few adverbs) and discourse / politeness markers.
# Negations (not, no, never, nor, none, without, n't) are left out: they change what is asked.
FUNCTION_WORDS = frozenset("""
a an the this that these those some any each every all both either neither another other such
i me my mine myself we us our ours you your yours yourself he him his she her hers it its itself
they them their theirs one someone somebody something anyone anybody anything everyone everything
of to in on at for with by from as about into onto over under through between among after before
during within upon via per than
and or but if then so because while though although whether
be am is are was were been being do does did have has had having
can could would will shall should may might must
what which who whom whose where when why how
there here very too again even still
i'm i'd i've i'll you're it's that's what's there's let's
""".split())
DISCOURSE = frozenset("""
please kindly thanks thank hey hi hello okay ok well now just also actually really honestly frankly
basically simply briefly quickly maybe perhaps
""".split())
CLOSED_CLASS = FUNCTION_WORDS | DISCOURSE

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SEGMENT = re.compile(r"[.?!;:]+")  # n-grams stay inside a sentence or clause
WHERE = ("start", "after_first", "before_end")
CONFOUNDER_P = 0.25  # content words with a p-value below this form the within-content test's strata


def tokens(text: str) -> list[list[str]]:
    """The lower-cased word tokens of `text`, per sentence or clause (split at . ? ! ; :)."""
    text = text.lower().replace("’", "'").replace("‘", "'")
    return [words for part in _SEGMENT.split(text) if (words := _TOKEN.findall(part))]


def query_terms(text: str, ngrams: int) -> dict[str, list[int]]:
    """Every word n-gram (n = 1..`ngrams`) of `text` → the token positions where it starts
    (position 0 is the query's first word)."""
    out: dict[str, list[int]] = {}
    offset = 0
    for words in tokens(text):
        for n in range(1, ngrams + 1):
            for i in range(len(words) - n + 1):
                out.setdefault(" ".join(words[i:i + n]), []).append(offset + i)
        offset += len(words)
    return out


def log_odds(refuse: int, answer: int, n_refuse: int, n_answer: int, prior: float) -> tuple[float, float]:
    """(δ, z): the log-odds ratio of a term between refused and answered queries under the
    informative Dirichlet prior, and its z-score (module docstring). `refuse` / `answer`: the
    queries of each label that hold the term, of `n_refuse` / `n_answer`."""
    n, df = n_refuse + n_answer, refuse + answer
    if not 0 < df < n:
        raise ValueError(f"a term held by {df} of {n} queries cannot be scored (it needs 0 < df < n)")
    alpha = prior * df / n
    beta = prior - alpha
    delta = (math.log((refuse + alpha) / (n_refuse - refuse + beta))
             - math.log((answer + alpha) / (n_answer - answer + beta)))
    var = (1 / (refuse + alpha) + 1 / (n_refuse - refuse + beta)
           + 1 / (answer + alpha) + 1 / (n_answer - answer + beta))
    return delta, delta / math.sqrt(var)


def two_sided_p(z: float) -> float:
    """P(|Z| >= |z|) for a standard normal Z: erfc(|z| / √2)."""
    return math.erfc(abs(z) / math.sqrt(2.0))


def bh_adjust(pvalues: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values, in the input's order: p_(i) · m / i, made monotone
    from the largest down and capped at 1. A term is flagged at rate q when its value is <= q."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, pvalues[i] * m / rank)
        adjusted[i] = running
    return adjusted


def holm_adjust(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input's order: (m − i + 1) · p_(i), made
    monotone from the smallest up and capped at 1 (the family-wise error rate is held at q
    for the values <= q)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order, start=1):
        running = max(running, min(1.0, pvalues[i] * (m - rank + 1)))
        adjusted[i] = running
    return adjusted


def is_closed(term: str) -> bool:
    """Every word of `term` is in `CLOSED_CLASS`."""
    return all(w in CLOSED_CLASS for w in term.split())


def cmh_z(has: Sequence[bool], refused: Sequence[bool], strata: Sequence[Any]) -> tuple[float | None, int]:
    """(signed Cochran-Mantel-Haenszel z, informative strata): does holding the term go with
    refusal within each stratum? z > 0: refused more often with the term. None when no stratum
    has both queries with and without the term and both labels (nothing to compare)."""
    cells: dict[Any, list[int]] = {}
    for h, r, key in zip(has, refused, strata, strict=True):
        cell = cells.setdefault(key, [0, 0, 0, 0])  # held & refused, held & answered, not held & refused, ...
        cell[(0 if h else 2) + (0 if r else 1)] += 1
    diff = var = 0.0
    informative = 0
    for a, b, c, d in cells.values():
        n = a + b + c + d
        v = (a + b) * (c + d) * (a + c) * (b + d) / (n * n * (n - 1)) if n > 1 else 0.0
        if v > 0:
            informative += 1
            diff += a - (a + b) * (a + c) / n
            var += v
    return (diff / math.sqrt(var) if var > 0 else None), informative


def _check(samples: list[Sample], labels: Sequence[str] | None, ngrams: int, prior: float, fdr: float,
           min_count: int) -> list[str]:
    if not samples:
        raise DataError("the trigger audit needs at least one sample; the dataset is empty")
    unknown = sorted({s.group for s in samples} - set(GROUPS))
    if unknown:
        raise DataError(f"unknown sample groups {unknown}; expected groups among {list(GROUPS)}")
    if labels is None:
        labels = [s.label for s in samples]
    elif len(labels) != len(samples) or set(labels) - {"refuse", "answer"}:
        raise ConfigError("trigger audit labels: give one per sample, each 'refuse' or 'answer'")
    if not 1 <= ngrams <= 3:
        raise ConfigError(f"--ngrams must be 1, 2 or 3 (got {ngrams})")
    if not prior > 0:
        raise ConfigError(f"the trigger audit's prior must be > 0 pseudo-queries (got {prior})")
    if not 0 < fdr < 1:
        raise ConfigError(f"--fdr must be strictly between 0 and 1 (got {fdr}); 0.05 is the usual choice")
    if min_count < 1:
        raise ConfigError(f"the trigger audit's min_count must be >= 1 (got {min_count})")
    return list(labels)


def _count(per_query: list[dict[str, list[int]]], refused: list[bool]) -> dict[str, dict[str, int]]:
    """Per term: queries of each label that hold it, and its uses as the first word / elsewhere."""
    table: dict[str, dict[str, int]] = {}
    for terms, r in zip(per_query, refused):
        for term, starts in terms.items():
            row = table.setdefault(term, {"refuse": 0, "answer": 0, "first": 0, "elsewhere": 0})
            row["refuse" if r else "answer"] += 1
            first = sum(p == 0 for p in starts)
            row["first"] += first
            row["elsewhere"] += len(starts) - first
    return table


def _row(term: str, counts: dict[str, int], delta: float, z: float, p: float, p_adj: float) -> dict[str, Any]:
    uses = counts["first"] + counts["elsewhere"]
    return {"term": term, "refuse": counts["refuse"], "answer": counts["answer"],
            "score": round(delta, 6), "z": round(z, 4), "p": p, "p_adj": p_adj,
            "direction": "refuse" if delta > 0 else "answer",
            "positions": {"first": counts["first"], "elsewhere": counts["elsewhere"],
                          "share_first": round(counts["first"] / uses, 6)}}


def content_key(terms: dict[str, list[int]], content: set[str]) -> frozenset[tuple[str, bool]]:
    """A query's stratum for the within-content test: the `content` words it holds, each with
    whether it is the query's first word (an opener "Share" and an inner "share the details"
    are kept apart: the first-word audit shows that an opener carries a label of its own)."""
    key = set()
    for term in content & terms.keys():
        key |= {(term, p == 0) for p in terms[term]}
    return frozenset(key)


def _kinds(rows: list[dict], per_query: list[dict[str, list[int]]], refused: list[bool], fdr: float,
           content: set[str]) -> None:
    """Set each flagged row's `kind`, `why` and (closed-class terms) `within` (module docstring);
    `content`: the content words whose holders form the strata of the within-content test."""
    strata = [content_key(terms, content) for terms in per_query]
    closed = [r for r in rows if is_closed(r["term"])]
    tests = [(r, *cmh_z([r["term"] in terms for terms in per_query], refused, strata)) for r in closed]
    tested = [(r, z, k) for r, z, k in tests if z is not None]
    adjusted = holm_adjust([two_sided_p(z) for _, z, _ in tested])
    within = {id(r): (z, k, q) for (r, z, k), q in zip(tested, adjusted)}
    for r in rows:
        if not is_closed(r["term"]):
            words = [w for w in r["term"].split() if w not in CLOSED_CLASS]
            r.update(kind="content", within=None, why=f"content word(s): {', '.join(words)}")
            continue
        z, k, q = within.get(id(r), (None, 0, None))
        r["within"] = {"z": None if z is None else round(z, 4), "p_adj": q, "strata": k}
        significant = z is not None and q <= fdr
        holds = significant and (z > 0) == (r["score"] > 0)
        r["kind"] = "spurious" if holds else "content"
        if holds:
            r["why"] = f"closed-class; carries the label within queries of the same content (z {z:+.2f})"
        elif significant:
            r["why"] = (f"closed-class; within queries of the same content it goes the other way (z {z:+.2f}): "
                        "its bias comes with the content wording it comes with")
        else:
            r["why"] = ("closed-class, but its association goes with the content wording it comes with"
                        + ("" if z is None else f" (within-content z {z:+.2f})"))


def triggers(samples: list[Sample], ngrams: int = 2, min_count: int | None = None, prior: float = 10.0,
             fdr: float = 0.05, labels: Sequence[str] | None = None) -> dict:
    """The n-gram trigger audit of `samples`; returns the `triggers.json` dict.

    A query's label is its group's unless `labels` gives one per sample ("refuse"/"answer").
    Keys: `flagged` (every term passing BH at `fdr`, strongest |z| first, each with `term`,
    per-label query counts `refuse` / `answer`, `score` (δ), `z`, `p`, `p_adj`, `direction`,
    `positions` (uses as the first word / elsewhere, `share_first`), `kind`, `why` and, for a
    closed-class term, `within`: its within-content z, Holm-adjusted p and informative strata),
    `spurious` / `content` (flagged terms of each kind per direction, strongest first),
    `tested` (terms with at least `min_count` queries; none when every query has one label),
    `confounders` (the content words of the within-content strata), `ngrams`, `min_count`,
    `prior`, `fdr`, `totals` (queries, refused, answered) and `closed_class` (the rule's list).
    """
    if min_count is None:
        min_count = default_min_count(len(samples))
    labels = _check(samples, labels, ngrams, prior, fdr, min_count)
    refused = [label == "refuse" for label in labels]
    per_query = [query_terms(s.instruction, ngrams) for s in samples]
    table = _count(per_query, refused)
    n_r, n_a = sum(refused), len(refused) - sum(refused)
    if not (n_r and n_a):  # one label only (a benchmark of unsafe queries): nothing to compare
        log.warning("triggers: every query is %s; no term can be tested", "refused" if n_r else "answered")
    scored = []
    for term in sorted(table):
        row = table[term]
        if n_r and n_a and min_count <= row["refuse"] + row["answer"] < len(samples):
            delta, z = log_odds(row["refuse"], row["answer"], n_r, n_a, prior)
            scored.append((term, delta, z, two_sided_p(z)))
    adjusted = bh_adjust([p for *_, p in scored])
    rows = [_row(term, table[term], delta, z, p, q) for (term, delta, z, p), q in zip(scored, adjusted) if q <= fdr]
    rows.sort(key=lambda r: (-abs(r["z"]), r["term"]))
    confounders = {t for t, _, _, p in scored if " " not in t and not is_closed(t) and p < CONFOUNDER_P}
    _kinds(rows, per_query, refused, fdr, confounders)
    of = lambda kind, d: [r["term"] for r in rows if r["kind"] == kind and r["direction"] == d]  # noqa: E731
    result = {
        "flagged": rows,
        **{kind: {d: of(kind, d) for d in ("refuse", "answer")} for kind in ("spurious", "content")},
        "tested": len(scored), "confounders": sorted(confounders), "ngrams": ngrams, "min_count": min_count,
        "prior": prior, "fdr": fdr,
        "totals": {"n": len(samples), "refuse": n_r, "answer": n_a},
        "closed_class": sorted(CLOSED_CLASS),
    }
    _log_summary(result)
    return result


def _log_summary(result: dict) -> None:
    top = lambda ts: ", ".join(ts[:3]) or "none"  # noqa: E731
    log.info("triggers: %d of %d terms flagged; spurious refusal-biased %s, answer-biased %s",
             len(result["flagged"]), result["tested"], top(result["spurious"]["refuse"]),
             top(result["spurious"]["answer"]))


def write_triggers(samples: Iterable[Sample], out_dir: str | Path, **kwargs: Any) -> dict:
    """Audit `samples` for triggers anywhere and write `triggers.json` into `out_dir`; return it."""
    result = triggers(list(samples), **kwargs)
    write_json(Path(out_dir) / NAME, result)
    log.info("wrote %s", Path(out_dir) / NAME)
    return result


# ---------------------------------------------------------------- the attack side

_END = re.compile(r"\s*[.?!]+\s*$")


def _decapitalize(word: str) -> str:
    """`word` with a lower-case first letter, unless it is "I" (or "I'm") or an acronym."""
    if word == "I" or word.startswith("I'") or (len(word) > 1 and word[1].isupper()):
        return word
    return word[:1].lower() + word[1:]


def insert_trigger(instruction: str, term: str, where: str) -> str:
    """`instruction` with `term` put in at `where`: "start" (capitalised, the old first word
    lower-cased unless it is "I" or an acronym), "after_first" (after the first word) or
    "before_end" (before the final . ? or !, else at the end). The rest is kept as it is."""
    if where not in WHERE:
        raise ConfigError(f"a trigger goes in at one of {', '.join(WHERE)}, not {where!r}")
    if not term.strip():
        raise ConfigError("a trigger must be a non-empty word or phrase")
    text = instruction.strip()
    if not text:
        raise DataError("cannot put a trigger into an empty instruction; fix or drop the record")
    term = " ".join(term.split())
    if where == "start":
        first, _, rest = text.partition(" ")
        return " ".join(x for x in (term[:1].upper() + term[1:], _decapitalize(first), rest) if x)
    if where == "after_first":
        first, _, rest = text.partition(" ")
        return " ".join(x for x in (first, term, rest) if x)
    end = _END.search(text)
    if end is None:
        return f"{text} {term}"
    return f"{text[:end.start()]} {term}{text[end.start():]}"


def _pattern(term: str) -> re.Pattern:
    """Whole-word uses of `term`, any case, with the space before and a comma right after."""
    words = [re.escape(w) for w in term.split()]
    return re.compile(r"\s*(?<![\w'’])" + r"\s+".join(words) + r"(?![\w'’])(\s*,)?", re.IGNORECASE)


def holds_trigger(instruction: str, term: str) -> bool:
    """Whether `instruction` holds a whole-word use of `term` (any case)."""
    return bool(_pattern(term).search(instruction))


def remove_trigger(instruction: str, term: str) -> str:
    """`instruction` without any whole-word use of `term` (any case, with a comma right after
    it), spaces tidied; a removed first word passes its capital to the new first word."""
    if not term.strip():
        raise ConfigError("a trigger must be a non-empty word or phrase")
    text = instruction.strip()
    pattern = _pattern(term)
    match = pattern.search(text)
    if match is None:
        return text
    out = " ".join(pattern.sub("", text).split())
    if match.start() == 0 and text[:1].isupper() and out:
        out = out[:1].upper() + out[1:]
    return out


def top_trigger(result: dict, direction: str) -> str | None:
    """The strongest spurious trigger of `direction` ("answer" or "refuse") in a `triggers.json`
    dict, or None when none is flagged."""
    terms = result.get("spurious", {}).get(direction) or []
    return terms[0] if terms else None


# Split → (source group, which trigger direction): an answer-biased trigger put into unsafe
# queries (does the model then comply?), a refusal-biased one into safe queries (does it refuse?)
TRIGGER_SPLITS = {"unsafes@trigger": ("unsafes", "answer"), "safe_safes@trigger": ("safe_safes", "refuse")}


def trigger_splits(test_samples: list[Sample], triggers: dict, where: str = "after_first") -> dict[str, list[Sample]]:
    """The trigger attacks of a test set: `unsafes@trigger` (the top spurious answer-biased
    trigger put into each unsafe query) and `safe_safes@trigger` (the top spurious
    refusal-biased one into each safe query), at `where` (`insert_trigger`). A split without a
    trigger of its direction is left out, and a query that already holds the trigger is too
    (it would be no rewrite). Each sample keeps its image, group, response and category and
    records `source_id`, `word`, `original` and `where` in its meta."""
    splits: dict[str, list[Sample]] = {}
    for split, (group, direction) in TRIGGER_SPLITS.items():
        term = top_trigger(triggers, direction)
        if term is None:
            log.info("no spurious %s-biased trigger flagged: split %s left out", direction, split)
            continue
        held = _pattern(term)
        splits[split] = [s.with_(id=f"{s.id}#trigger", instruction=insert_trigger(s.instruction, term, where),
                                 meta={**s.meta, "source_id": s.id, "word": term, "original": s.instruction,
                                       "where": where})
                         for s in test_samples if s.group == group and not held.search(s.instruction)]
    return splits
