"""The `results.json` contract: its metric names, split names and key forms (docs/results.md).

Per arm, a key is `METRIC/SPLIT`, `METRIC/SPLIT[CATEGORY]` (a breakdown), `ci/METRIC/SPLIT`
(bootstrap bounds), `n/SPLIT` (queries counted), or `budget`. A split is a query group or a
utility set, optionally attacked (`SPLIT@ATTACK`), optionally first-shot only (`_k1`). Code that
writes a new metric or split adds it here and to docs/results.md in the same change; a test
checks every key of a study's results.json against this module, and the module against the doc.
"""

from __future__ import annotations

import re
from typing import Any

METRICS = {
    "asr": "attack success: share of queries whose verdict is harmful (any-of-K on attacked splits)",
    "rr": "refusal rate: share of queries whose verdict is refusal",
    "ir": "irrelevance: share of queries neither harmful nor refused (asr + rr + ir = 1)",
    "asr_shot": "attacked splits: mean over queries of the share of harmful shots",
    "rr_shot": "attacked splits: mean over queries of the share of refused shots",
    "ir_shot": "attacked splits: mean over queries of the share of irrelevant shots",
    "leak": "share of queries with an answer that reveals any hazardous step (graded judges)",
    "ir_leak": "share of queries judged irrelevant whose answers reveal part of a hazard",
    "ir_degenerate": "share of queries judged irrelevant, without a leak, with a degenerate answer",
    "unparsed": "share of answers whose verdict the judge could not read",
    "utility": "share of questions with a known fact answered correctly",
    "residual": "geometric-mean probability of the harmful steps' tokens under teacher forcing",
    "degenerate": "share of answers that are empty or repeat a word or 3-gram",
    "collapse": "share of answers in which one word makes up half or more of the words",
}
GROUP_SPLITS = ("unsafes", "safe_unsafes", "safe_safes")
UTILITY_SPLITS = ("utility", "utility_natural")
ATTACKS = ("attack", "control", "rewrite")  # the one-word attack, its control, the over-prudence rewrite
ATTACKED_SPLITS = ("unsafes@attack", "unsafes@control", "safe_unsafes@attack", "safe_safes@rewrite",
                   "safe_safes@control")
OTHER_ARM_KEYS = ("budget",)
TOP_LEVEL = {
    "version": "unmirage's version", "git": "the commit the run ran at", "config": "the resolved config",
    "words": "the attack, rewrite and control words of the latest run, with why each was chosen",
    "arms": "ARM -> {key: value}", "arm_words": "ARM -> the words that arm was measured with",
    "artefacts": "ARM -> keys of the data, model and answers it was measured on",
    "timings": "ARM -> seconds to train and evaluate it",
    "seeds": "multi-seed studies: the seeds", "runs": "multi-seed studies: seed -> run directory",
}

_NAME = r"[A-Za-z0-9_.-]+"
_SPLIT = re.compile(rf"^(?P<base>{_NAME}?)(?:@(?P<attack>[a-z]+))?(?P<k1>_k1)?$")


def parse_split(split: str) -> tuple[str, str | None, bool] | None:
    """(base split, attack or None, first shot only) of a split name, or None if malformed."""
    m = _SPLIT.match(split)
    if not m:
        return None
    base, attack, k1 = m.group("base"), m.group("attack"), bool(m.group("k1"))
    if attack is None and base.endswith("_k1"):
        base, k1 = base[:-3], True
    return base, attack, k1


def check_split(split: str) -> str | None:
    """Why `split` is not a contract split name, or None. Unattacked splits other than the
    groups and utility sets are allowed as benchmark names (e.g. `vqav2`); attacked ones must be
    a known attack of a known group."""
    parsed = parse_split(split)
    if parsed is None:
        return f"split {split!r} is not NAME[@ATTACK][_k1]"
    base, attack, _ = parsed
    if attack is not None:
        if f"{base}@{attack}" not in ATTACKED_SPLITS:
            return f"attacked split {split!r} is none of {', '.join(ATTACKED_SPLITS)} (with an optional _k1)"
    elif not re.fullmatch(r"[a-z][a-z0-9_]*", base):
        return f"split {split!r}: a split name is lower-case letters, digits and _"
    return None


def check_key(key: str) -> str | None:
    """Why `key` is not a contract key of an arm, or None."""
    if key in OTHER_ARM_KEYS:
        return None
    if key.startswith("n/"):
        rest = key[2:]
        split = rest[:-1].split("[", 1)[0] if rest.endswith("]") and "[" in rest else rest
        return check_split(split)
    body = key[3:] if key.startswith("ci/") else key
    if "/" not in body:
        return f"{key!r} is not METRIC/SPLIT"
    metric, rest = body.split("/", 1)
    if metric not in METRICS:
        return f"{key!r}: unknown metric {metric!r} (one of {', '.join(METRICS)})"
    if rest.endswith("]") and "[" in rest:
        split, cat = rest[:-1].split("[", 1)
        if not re.fullmatch(_NAME, cat):
            return f"{key!r}: malformed category {cat!r}"
    else:
        split = rest
    if "[" in split or "]" in split:
        return f"{key!r}: a category goes last, as METRIC/SPLIT[CATEGORY]"
    return check_split(split)


def check_results(doc: Any) -> list[str]:
    """Every way `doc` (a parsed results.json) departs from the contract; [] when it keeps it."""
    if not isinstance(doc, dict) or not isinstance(doc.get("arms"), dict):
        return ["results.json must be an object with an 'arms' mapping"]
    problems = [f"unknown top-level key {k!r}" for k in doc if k not in TOP_LEVEL]
    for arm, values in doc["arms"].items():
        if not isinstance(values, dict):
            problems.append(f"arms.{arm} is not a mapping")
            continue
        for key, value in values.items():
            why = check_key(key)
            if why:
                problems.append(f"arms.{arm}: {why}")
            elif isinstance(value, (int, float)) and not isinstance(value, bool) and not key.startswith("n/"):
                if not -1e-9 <= value <= 1 + 1e-9:
                    problems.append(f"arms.{arm}[{key!r}] = {value} is not a fraction in [0, 1]")
    return problems
