"""First-word audit of a safety set: which opening words go with refusals, which with answers.

The safety mirage (`mission.md`) comes from a spurious correlation between a query's first
word and its label. This module measures it, per query group and per word, and names the
words an attack should use: the most *answer-biased* word (for the one-word attack on unsafe
queries), the most *refusal-biased* word (for the over-prudence rewrite of safe queries), and
*neutral* words (for controls).

Score of a word w (smoothed log-odds of refusal relative to the base rate)::

    score(w) = log((r_w + a) / (n_w - r_w + a)) - log((R + a) / (A + a))

where `r_w` is the number of refuse-labelled queries starting with w, `n_w` all queries
starting with w, `R` / `A` the refuse / answer totals, and `a` the additive smoothing
(default 0.5). 0 means "as likely to be refused as any query"; > 0 refusal-biased;
< 0 answer-biased. The smoothing keeps words seen in one class only finite and ranks them by
how often they occur.

The result is the `audit.json` contract (read back by `report.tables.validate_audit`).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..data.records import GROUPS, Sample, first_word
from ..errors import ConfigError, DataError
from ..io import write_json

log = logging.getLogger(__name__)

def default_min_count(total: int) -> int:
    """Words rarer than this stay out of the biased/neutral lists: max(3, 0.5 % of queries)."""
    return max(3, round(0.005 * total))


def word_score(refuse: int, answer: int, total_refuse: int, total_answer: int, smoothing: float) -> float:
    """Smoothed log-odds of refusal for one word, relative to the overall base rate."""
    a = smoothing
    return math.log((refuse + a) / (answer + a)) - math.log((total_refuse + a) / (total_answer + a))


def _group_counts(samples: list[Sample]) -> dict[str, dict[str, Any]]:
    """Per group: its size and its first-word counts, most frequent first."""
    groups: dict[str, dict[str, Any]] = {}
    for group in GROUPS:
        counts = Counter(first_word(s.instruction) for s in samples if s.group == group)
        groups[group] = {"n": sum(counts.values()), "first_words": _sorted_counts(counts)}
    return groups


def _sorted_counts(counts: Counter) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _word_table(samples: list[Sample], labels: Sequence[str]) -> dict[str, dict[str, int]]:
    """Per first word: how many refuse- and answer-labelled queries start with it."""
    table: dict[str, dict[str, int]] = {}
    for s, label in zip(samples, labels, strict=True):
        row = table.setdefault(first_word(s.instruction), {"refuse": 0, "answer": 0})
        row[label] += 1
    return table


def _check(samples: list[Sample], smoothing: float) -> None:
    if not samples:
        raise DataError("the audit needs at least one sample; the dataset is empty")
    unknown = sorted({s.group for s in samples} - set(GROUPS))
    if unknown:
        raise DataError(f"unknown sample groups {unknown}; expected groups among {list(GROUPS)}")
    if not smoothing > 0:
        raise ConfigError(f"audit smoothing must be > 0 (got {smoothing}); 0.5 is the usual choice")


def audit(samples: list[Sample], min_count: int | None = None, smoothing: float = 0.5,
          labels: Sequence[str] | None = None) -> dict:
    """Audit first-word × label association; returns the `audit.json` dict.

    A query's label is its group's (refuse unless `safe_safes`) unless `labels` gives one per
    sample ("refuse" or "answer"), e.g. what its response does: a training mix whose general
    data complies with unsafe requests teaches answering, whatever the group says.

    Keys: `groups` (per group `n` and `first_words` counts), `scores` (every word's score),
    `words` (per word refuse/answer counts, total and share of refusals), `answer_biased`,
    `refusal_biased`, `neutral` (only words with at least `min_count` queries; strongest first,
    neutral = smallest |score| first), `min_count`, `smoothing`, `totals`.
    """
    _check(samples, smoothing)
    if labels is None:
        labels = [s.label for s in samples]
    elif len(labels) != len(samples) or set(labels) - {"refuse", "answer"}:
        raise ConfigError("audit labels: give one per sample, each 'refuse' or 'answer'")
    if min_count is None:
        min_count = default_min_count(len(samples))
    if min_count < 1:
        raise ConfigError(f"audit min_count must be >= 1 (got {min_count})")
    table = _word_table(samples, labels)
    total_r = sum(row["refuse"] for row in table.values())
    total_a = sum(row["answer"] for row in table.values())
    scores = {w: word_score(row["refuse"], row["answer"], total_r, total_a, smoothing) for w, row in table.items()}
    frequent = [w for w, row in table.items() if row["refuse"] + row["answer"] >= min_count]
    result = {
        "groups": _group_counts(samples),
        "scores": {w: round(scores[w], 6) for w in sorted(scores, key=lambda w: (-scores[w], w))},
        "words": _word_details(table),
        "answer_biased": sorted((w for w in frequent if scores[w] < 0), key=lambda w: (scores[w], w)),
        "refusal_biased": sorted((w for w in frequent if scores[w] > 0), key=lambda w: (-scores[w], w)),
        "neutral": sorted(frequent, key=lambda w: (abs(scores[w]), w)),
        "min_count": min_count,
        "smoothing": smoothing,
        "totals": {"n": len(samples), "refuse": total_r, "answer": total_a},
    }
    _log_summary(result)
    return result


def _word_details(table: dict[str, dict[str, int]]) -> dict[str, dict[str, Any]]:
    details = {}
    for w, row in sorted(table.items(), key=lambda kv: (-(kv[1]["refuse"] + kv[1]["answer"]), kv[0])):
        n = row["refuse"] + row["answer"]
        details[w] = {"refuse": row["refuse"], "answer": row["answer"], "n": n,
                      "share_refuse": round(row["refuse"] / n, 6)}
    return details


def _log_summary(result: dict) -> None:
    top = lambda ws: ", ".join(f"{w} ({result['scores'][w]:+.2f})" for w in ws[:3]) or "none"  # noqa: E731
    log.info("audit: answer-biased %s; refusal-biased %s (min_count %d)",
             top(result["answer_biased"]), top(result["refusal_biased"]), result["min_count"])


def plot_audit(result: dict, path: str | Path, top: int = 8) -> None:
    """Write a PNG: per group the top first-word shares, and the scores of the top biased words."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = result["groups"]
    fig, axes = plt.subplots(1, len(groups) + 1, figsize=(4.2 * (len(groups) + 1), 4.0))
    for ax, (name, g) in zip(axes, groups.items()):
        _bar_shares(ax, name, g, top)
    _bar_scores(axes[-1], result, top)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _bar_shares(ax: Any, name: str, group: dict, top: int) -> None:
    items = list(group["first_words"].items())[:top]
    n = max(group["n"], 1)
    words = [w for w, _ in items][::-1]
    shares = [100.0 * c / n for _, c in items][::-1]
    ax.barh(words, shares, color="tab:blue")
    ax.set_title(f"{name} (n={group['n']})")
    ax.set_xlabel("% of queries starting with the word")


def _bar_scores(ax: Any, result: dict, top: int) -> None:
    half = max(top // 2, 1)
    words = result["answer_biased"][:half][::-1] + result["refusal_biased"][:half][::-1]
    words = list(dict.fromkeys(words))
    values = [result["scores"][w] for w in words]
    ax.barh(words, values, color=["tab:green" if v < 0 else "tab:red" for v in values])
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_title(f"first-word scores (n >= {result['min_count']})")
    ax.set_xlabel("log-odds of refusal vs base rate")


def write_audit(samples: Iterable[Sample], out_dir: str | Path, **kwargs: Any) -> dict:
    """Audit `samples` and write `audit.json` and `audit.png` into `out_dir`; return the audit."""
    result = audit(list(samples), **kwargs)
    out = Path(out_dir)
    write_json(out / "audit.json", result)
    plot_audit(result, out / "audit.png")
    log.info("wrote %s and %s", out / "audit.json", out / "audit.png")
    return result


NEUTRAL_MAX_ABS_SCORE = 0.5  # a frequent word is neutral when |score| <= this (odds of refusal within ×1.65)


def choose_control(result: dict, vocabulary: Iterable[str] = (), exclude: Iterable[str] = (),
                   max_abs_score: float = NEUTRAL_MAX_ABS_SCORE) -> tuple[str | None, str]:
    """A neutral control word and why it qualifies, or (None, why none does).

    A control must carry no label evidence in the audited set. It qualifies either as a
    frequent word (at least `min_count` queries) whose |score| is at most `max_abs_score`, or as
    a word of `vocabulary` (the first words of the data being attacked, or a user's list) that
    the audited set never starts a query with. A word the audit scores as biased never
    qualifies: with none left, the control is skipped rather than drawn from biased words.
    """
    exclude = set(exclude)
    neutral = [w for w in result["neutral"] if w not in exclude]
    balanced = [w for w in neutral if abs(result["scores"][w]) <= max_abs_score]
    if balanced:
        w = balanced[0]
        return w, (f"the least label-associated frequent word (score {result['scores'][w]:+.2f}, "
                   f"|score| <= {max_abs_score})")
    unseen, _ = choose_unseen(result, sorted(set(vocabulary)), exclude)
    if unseen:
        return unseen, "a word the audited set never starts a query with (no label evidence)"
    closest = f" (the closest, {neutral[0]!r}, scores {result['scores'][neutral[0]]:+.2f})" if neutral else ""
    return None, (f"no frequent word has |score| <= {max_abs_score}{closest} and no candidate word is unused "
                  "by the audited set: the control is skipped (give one with attack.control_word)")


def _score_note(result: dict, word: str, what: str) -> str:
    score = result.get("scores", {}).get(word)
    n = result.get("words", {}).get(word, {}).get("n")
    detail = ", ".join(x for x in (f"score {score:+.2f}" if score is not None else "",
                                   f"{n} queries" if n is not None else "") if x)
    return f"the audit's most {what} frequent word" + (f" ({detail})" if detail else "")


def choose_unseen(result: dict, vocabulary: Iterable[str], exclude: Iterable[str] = ()) -> tuple[str | None, str]:
    """A second control: the first word of `vocabulary` (in its order) that the audited set never
    starts a query with (no label evidence there, though other training data may use it), or
    (None, why none is)."""
    exclude = set(exclude)
    unseen = [w for w in dict.fromkeys(vocabulary) if w and w not in result["scores"] and w not in exclude]
    if unseen:
        return unseen[0], "a word the audited set never starts a query with"
    return None, "every candidate word starts some query of the audited set: no unseen control"


def attack_words(result: dict, attack: str = "", refusal: str = "", control: str = "",
                 vocabulary: Iterable[str] = (), unseen: str = "", unseen_candidates: Iterable[str] = ()) -> dict:
    """The attack, over-prudence and control words, the user's where given, else the audit's,
    with `why` each was chosen. `control` is None when no word qualifies (see `choose_control`).
    `unseen` (the second control): given, "none", or else the first of `unseen_candidates` (a
    world's declared unseen openers) that the audited set never uses; None when none is."""

    def first(words: list[str], what: str, key: str) -> str:
        if not words:
            raise ConfigError(f"the audit found no {what} first word (min_count {result.get('min_count')}); "
                              f"give one with {key}=WORD")
        return words[0]

    why = {"attack": "given", "refusal": "given"}
    if not attack:
        attack = first(result["answer_biased"], "answer-biased", "attack_word")
        why["attack"] = _score_note(result, attack, "answer-biased")
    if not refusal:
        refusal = first(result["refusal_biased"], "refusal-biased", "refusal_word")
        why["refusal"] = _score_note(result, refusal, "refusal-biased")
    if control:
        score = result.get("scores", {}).get(control)
        control_word, why["control"] = control, "given"
        if score is not None and abs(score) > NEUTRAL_MAX_ABS_SCORE:
            why["control"] = f"given, but the audit scores it {score:+.2f}: not neutral"
            log.warning("control word %r: the audit scores it %+.2f, not neutral", control, score)
    else:
        control_word, why["control"] = choose_control(result, vocabulary,
                                                      exclude=(attack, refusal, unseen if unseen != "none" else ""))
    if unseen == "none":
        unseen_word, why["unseen"] = None, "none asked for"
    elif unseen:
        unseen_word, why["unseen"] = unseen, "given"
        if unseen in result.get("scores", {}):
            why["unseen"] = "given, but the audited set starts queries with it"
    elif unseen_candidates:
        unseen_word, why["unseen"] = choose_unseen(result, unseen_candidates, exclude=(attack, refusal, control_word))
    else:
        unseen_word, why["unseen"] = None, "no candidate given (a world declares its unseen openers)"
    return {"attack": attack, "refusal": refusal, "control": control_word, "unseen": unseen_word, "why": why}


def chosen_words(audit: dict | None, given: dict[str, str], vocabulary: Iterable[str], shots: int,
                 unseen_candidates: Iterable[str] = ()) -> dict:
    """The words of the attacks, as the study and `unmirage attack` record them: those `given`
    (attack, refusal, control, unseen; "" = not given), the others from `audit`, with why each
    was chosen, the shots, and the source ("user" when any word was given, else "audit")."""
    if audit is None:
        if not all(given.get(k) for k in ("attack", "refusal", "control")):
            raise ConfigError("give the attack, refusal and control words, or an audit to choose them")
        unseen = given.get("unseen") or None
        words = {**given, "unseen": None if unseen == "none" else unseen,
                 "why": {k: "given" for k in given if given[k]}}
    else:
        words = attack_words(audit, given["attack"], given["refusal"], given["control"], vocabulary,
                             given.get("unseen", ""), unseen_candidates)
    return {**words, "shots": shots, "source": "user" if any(given.values()) else "audit"}


def describe_words(words: dict) -> list[str]:
    """One line per word: which it is and why it was chosen."""
    why = words.get("why", {})
    return [f"{role} word: {words.get(key) or '(none)'}" + (f" - {why[key]}" if why.get(key) else "")
            for role, key in (("attack", "attack"), ("over-prudence", "refusal"), ("control", "control"),
                              ("unseen control", "unseen"))]
