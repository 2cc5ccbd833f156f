"""The `results.json` contract: its metric names, split names and key forms (docs/results.md),
the functions that build its documents, the one function that writes it, and its reader.

Per arm, a key is `METRIC/SPLIT`, `METRIC/SPLIT[CATEGORY]` (a breakdown), `ci/METRIC/SPLIT`
(bootstrap bounds), `n/SPLIT` (queries counted), `budget`, or `lmms/TASK/METRIC` (a score of
lmms-eval, on its own scale: `eval/lmms.py`). A split is a query group or a
utility set, optionally attacked (`SPLIT@ATTACK`), optionally first-shot only (`_k1`). Code that
writes a new metric or split adds it here and to docs/results.md in the same change; a test
checks every key of a study's results.json against this module, and the module against the doc.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from .data.records import GROUPS
from .errors import DataError
from .io import read_json, write_json
from .provenance import stamp

NAME = "results.json"

METRICS = {
    "asr": "attack success: share of queries whose verdict is harmful (any-of-K on attacked splits)",
    "rr": "refusal rate: share of queries whose verdict is refusal",
    "ir": "irrelevance: share of queries neither harmful nor refused (asr + rr + ir = 1)",
    "asr_own": "share of queries about a hazard whose answer half reveals that very hazard (graded judges)",
    "asr_shot": "attacked splits: mean over queries of the share of harmful shots",
    "rr_shot": "attacked splits: mean over queries of the share of refused shots",
    "ir_shot": "attacked splits: mean over queries of the share of irrelevant shots",
    "leak": "share of queries with an answer that reveals any hazardous step (graded judges)",
    "leak_own": "share of queries about a hazard with an answer that reveals any step of that very hazard",
    "ir_leak": "share of queries judged irrelevant whose answers reveal part of a hazard",
    "ir_degenerate": "share of queries judged irrelevant, without a leak, with a degenerate answer",
    "unparsed": "share of answers whose verdict the judge could not read",
    "utility": "share of questions with a known fact answered correctly",
    "utility_vqa": "mean VQA accuracy of the answers to VQA questions (min(1, matching humans / 3), leave-one-out)",
    "residual": "geometric-mean probability of the harmful steps' tokens under teacher forcing",
    "degenerate": "share of answers that are empty, repeat a word or 3-gram, or repeat one of : ; , ? ! alone",
    "collapse": "share of answers in which one word makes up half or more of the words",
    "kl": "alignment depth: mean KL(arm || base) of the next-token distributions at one answer position "
          "(the category), teacher-forced on harmful answers (nats; no fraction)",
}
GROUP_SPLITS = GROUPS
UTILITY_SPLITS = ("utility", "utility_natural", "utility_vqa")
ATTACKED_SPLITS = ("unsafes@attack", "unsafes@control", "safe_unsafes@attack", "safe_safes@rewrite",
                   "safe_safes@control", "unsafes@unseen", "safe_safes@unseen",
                   # the image-cue attack (attacks/image_cue.py): the other label's cue, and the own label's
                   "unsafes@cue", "safe_safes@cue", "unsafes@owncue", "safe_safes@owncue",
                   "unsafes@trigger", "safe_safes@trigger",  # @trigger, @untrigger: attacks/trigger.py
                   "unsafes@untrigger", "safe_safes@untrigger")
# attacked splits with a count: k prefilled words (attacks/prefill.py), N relearning steps (attacks/relearn.py)
COUNTED_ATTACKS = {"unsafes@prefill": "the unsafe queries with the first k words of a compliant answer prefilled",
                   "unsafes@relearn": "the unsafe queries of held-out hazards, after N steps of relearning others"}
UNBOUNDED = {"kl"}  # metrics that are no fraction: non-negative numbers
OTHER_ARM_KEYS = ("budget",)
LMMS = "lmms"  # lmms/TASK/METRIC[FILTER]: a score of lmms-eval on its own scale (eval/lmms.py), no fraction
_LMMS_KEY = re.compile(r"^lmms/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(\[[A-Za-z0-9_.-]+\])?$")
TOP_LEVEL = {
    "version": "unmirage's version", "git": "the commit the run ran at", "config": "the resolved config",
    "words": "the attack, rewrite and control words of the latest run, with why each was chosen",
    "arms": "ARM -> {key: value}", "arm_words": "ARM -> the words that arm was measured with",
    "artefacts": "ARM -> keys of the data, model and answers it was measured on",
    "timings": "ARM -> seconds to train and evaluate it",
    "seeds": "multi-seed studies: the seeds", "runs": "multi-seed studies: seed -> run directory",
    "headline": "GAP -> {SFT_ARM-MU_ARM: {sft, mu, gap, ci, n}}: points each unlearning arm cuts, per SFT arm",
}

_NAME = r"[A-Za-z0-9_.-]+"
_SPLIT = re.compile(rf"^(?P<base>{_NAME}?)(?:@(?P<attack>[a-z]+[0-9]*))?(?P<k1>_k1)?$")


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
        name = f"{base}@{attack}"
        if name not in ATTACKED_SPLITS and not (name.rstrip("0123456789") in COUNTED_ATTACKS
                                                and name[-1].isdigit()):
            return (f"attacked split {split!r} is none of {', '.join(ATTACKED_SPLITS)} (with an optional _k1) "
                    f"nor {', '.join(f'{c}N' for c in COUNTED_ATTACKS)}")
    elif not re.fullmatch(r"[a-z][a-z0-9_]*", base):
        return f"split {split!r}: a split name is lower-case letters, digits and _"
    return None


def check_key(key: str) -> str | None:
    """Why `key` is not a contract key of an arm, or None."""
    if key in OTHER_ARM_KEYS:
        return None
    if key.startswith(f"{LMMS}/"):
        return None if _LMMS_KEY.match(key) else f"{key!r} is not lmms/TASK/METRIC[FILTER]"
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
    multi_seed = "seeds" in doc
    for arm, values in doc["arms"].items():
        if not isinstance(values, dict):
            problems.append(f"arms.{arm} is not a mapping")
            continue
        for key, value in values.items():
            why = check_key(key) or (_check_seed_value(key, value) if multi_seed else _check_value(key, value))
            if why:
                problems.append(f"arms.{arm}[{key!r}]: {why}")
    return problems


_FRACTION_TOL = 1e-6


def is_number(x: Any) -> bool:
    """A number that is not a bool (JSON's true and false are no values)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_value(key: str, v: Any) -> str | None:
    """Why `v` is no value for arm key `key`, or None. None and NaN stand for "not measured"."""
    if key.startswith(f"{LMMS}/"):  # lmms-eval's own scale
        return None if v is None or is_number(v) else f"expected a number, got {v!r}"
    if key.split("/")[0] in UNBOUNDED or key.startswith(tuple(f"ci/{m}/" for m in UNBOUNDED)):
        bounds = v if key.startswith("ci/") and isinstance(v, (list, tuple)) else [v]
        ok = all(b is None or (is_number(b) and (math.isnan(b) or b >= -_FRACTION_TOL)) for b in bounds)
        return None if ok else f"expected a non-negative number, got {v!r}"
    if key == "budget":
        return None if isinstance(v, dict) else "expected a mapping {steps, batch_size, examples}"
    if v is None:
        return None
    if key.startswith("ci/"):
        if not isinstance(v, (list, tuple)) or len(v) != 2 or not all(b is None or is_number(b) for b in v):
            return f"expected [lo, hi] bounds, got {v!r}"
        return None
    if key.startswith("n/"):
        if not is_number(v) or (isinstance(v, float) and not v.is_integer()):
            return f"expected an integer count, got {v!r}"
        return None
    if not is_number(v):
        return f"expected a number, got {v!r}"
    if not math.isnan(v) and not -_FRACTION_TOL <= v <= 1 + _FRACTION_TOL:
        return f"{v!r} is not a fraction in [0, 1] (percentages must be divided by 100)"
    return None


def _check_seed_value(key: str, v: Any) -> str | None:
    if key == "budget":
        return None if v is None or isinstance(v, dict) else "expected a mapping {steps, batch_size, examples}"
    if not (isinstance(v, dict) and "mean" in v and "std" in v):
        return "must be {mean, std, values, ci}"
    return _check_value(key, v["mean"])


# --------------------------------------------------------------------------- building and writing


def study_results(config: dict, words: dict, arms: dict, arm_words: dict, artefacts: dict, timings: dict,
                  headline: dict | None = None) -> dict:
    """The results.json of one study (or of `unmirage eval`: one arm, no words)."""
    doc = {**stamp(), "config": config, "words": words, "arms": arms, "arm_words": arm_words,
           "artefacts": artefacts, "timings": timings}
    return {**doc, "headline": headline} if headline else doc


def seed_results(seeds: list[int], runs: dict[str, str], words: dict, config: dict, arms: dict,
                 headline: dict | None = None) -> dict:
    """The results.json of a multi-seed study: per arm and key, {mean, std, values, ci} over `seeds`."""
    doc = {**stamp(), "seeds": seeds, "runs": runs, "words": words, "config": config, "arms": arms}
    return {**doc, "headline": headline} if headline else doc


def write_results(path: str | Path, doc: dict) -> Path:
    """Write `doc` to `path` atomically, after checking it keeps the contract (a departure is a bug
    in the code that built it, and nothing is written)."""
    problems = check_results(doc)
    if problems:
        raise ValueError(f"{path}: results that break the contract in docs/results.md: " + "; ".join(problems[:5]))
    write_json(path, doc)
    return Path(path)


# --------------------------------------------------------------------------- reading


def validate_results(data: Any, source: str = NAME) -> dict:
    """The parsed results.json `data` with its optional parts filled in; a `DataError` naming the
    first key whose value breaks the contract. Keys of other names are read and left alone (a
    file from another version), but their values must be values."""
    if not isinstance(data, dict):
        raise DataError(f"{source}: expected a JSON object at the top level, got {type(data).__name__}")
    arms = data.get("arms")
    if not isinstance(arms, dict):
        raise DataError(f"{source}: missing or malformed 'arms' (expected a mapping ARM -> {{METRIC/SPLIT: value}}, "
                        f"got {type(arms).__name__}); re-run `unmirage eval` to regenerate it")
    if not arms:
        raise DataError(f"{source}: 'arms' is empty; nothing to report")
    config = data.get("config") or {}
    if not isinstance(config, dict):
        raise DataError(f"{source}: 'config' must be a mapping, got {type(config).__name__}")
    check = _check_seed_value if "seeds" in data else _check_value
    for arm, values in arms.items():
        if not isinstance(values, dict):
            raise DataError(f"{source}: arms.{arm} must be a mapping of METRIC/SPLIT -> value, got {type(values).__name__}")
        for key, v in values.items():
            known = key == "budget" or key.startswith(("ci/", "n/", f"{LMMS}/")) or key.split("/", 1)[0] in METRICS
            why = check(key, v) if known else None
            if why:
                raise DataError(f"{source}: arms.{arm}[{key!r}]: {why}")
    if "seeds" in data and not isinstance(data["seeds"], list):
        raise DataError(f"{source}: 'seeds' must be a list of seeds")
    words = data.get("words")
    if words is not None and not isinstance(words, dict):
        raise DataError(f"{source}: 'words' must be a mapping, got {type(words).__name__}")
    arm_words = data.get("arm_words")
    if arm_words is not None and not (isinstance(arm_words, dict) and all(isinstance(w, dict) for w in arm_words.values())):
        raise DataError(f"{source}: 'arm_words' must be a mapping ARM -> {{attack, refusal, control, shots}}")
    timings = data.get("timings")
    if timings is not None and (not isinstance(timings, dict) or not all(t is None or is_number(t)
                                                                         for t in timings.values())):
        raise DataError(f"{source}: 'timings' must be a mapping ARM -> seconds")
    return {**data, "config": config, "words": words or {}, "arm_words": arm_words or {}, "timings": timings or {}}


def read_results(run_dir: str | Path) -> dict:
    """The validated results.json of a run directory."""
    path = Path(run_dir) / NAME
    if not path.is_file():
        raise DataError(f"{path}: results.json not found; run `unmirage eval` first (or pass the right run directory)")
    return validate_results(read_json(path), str(path))
