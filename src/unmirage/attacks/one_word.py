"""One-word rewrites: make a query start with a chosen word, K distinct ways, and keep its meaning.

Two directions: the *attack* puts an answer-biased word in front of unsafe
queries (K shots, any-of-K success), the *over-prudence rewrite* puts a refusal-biased word in
front of safe queries (one shot). Controls do the same with a neutral word. The words come from
the audit or the user; this module never chooses them.

Two modes:

- **World mode** (a paraphrase table is given and the query's core is in it): a query is
  `opener + " " + core`; shot 0 swaps only the opener, later shots use the group's other
  cores, then the rule-based rewrites below.
- **Real-text mode**: rule-based rewrites (`rules.py`). Shot 0 swaps the first word when the old
  and the new word are interchangeable by grammar (two modal auxiliaries, or two determiner
  question words); later shots turn the request itself into one that starts with the word
  ("Share this image ..." → "What would it take to share this image ...?"), by templates of the
  request's sentence type and of the word's grammatical class. Every rule-based rewrite passes
  `rules.check`, and every attacked sample records how it was made (`meta.rewriter`).

A model rewriter (`attack.rewriter: hf:MODEL`, `model_rewriter.py`) replaces the rule-based
shots: an LM's paraphrases, held to the same checks, after the paraphrase table's shots in world
mode. Opener balancing (`balance_openers`) stays rule-based.
"""

from __future__ import annotations

import itertools
import logging
import random
from pathlib import Path
from typing import Any

from ..data.records import Sample, first_word
from ..data.samples_io import read_samples, write_samples
from ..errors import ConfigError, DataError
from ..io import write_json
from . import rules
from ..config import AttackConfig
from .base import ATTACKS, Attack, QueryContext
from .model_rewriter import (RECORD as REWRITER_RECORD, Job, ModelRewriter, describe_rejections, make_rewriter,
                             summarize)

log = logging.getLogger(__name__)

def _check_word(word: Any) -> str:
    if not isinstance(word, str) or not word.strip():
        raise ConfigError("an attack word must be a non-empty string; set it or let the audit choose it")
    if any(c.isspace() for c in word):
        raise ConfigError(f"an attack word must be one word without spaces, got {word!r}")
    return word


def _split_opener(instruction: str) -> tuple[str, str]:
    parts = instruction.strip().split(None, 1)
    return (parts[0], parts[1]) if len(parts) == 2 else (parts[0] if parts else "", "")


def _world_rewrites(instruction: str, word: str, paraphrases: list[list[str]] | None):
    """Yield the paraphrase-table rewrites (opener swap, then the group's other cores), if any."""
    _, core = _split_opener(instruction)
    for group in paraphrases or []:
        group = list(group)
        if core in group:
            i = group.index(core)
            for other in [core] + group[i + 1:] + group[:i]:
                yield f"{word} {other}"
            return


def rewrite(instruction: str, word: str, shots: int, paraphrases: list[list[str]] | None = None) -> list[str]:
    """`shots` distinct rewrites of `instruction`, each starting with `word` (`rewrites` says how each was made)."""
    return [text for text, _ in rewrites(instruction, word, shots, paraphrases)]


def rewrites(instruction: str, word: str, shots: int,
             paraphrases: list[list[str]] | None = None) -> list[tuple[str, str]]:
    """`shots` distinct (rewrite, how it was made) of `instruction`, each starting with `word`.

    With a paraphrase table whose groups list equivalent core phrasings, a query
    `opener + " " + core` whose core is in a group gets the exact opener swap as shot 0 and the
    group's other cores next (in table order, wrapping: equivalent by construction). Remaining
    shots are rule-based (`rules.py`), and each must pass `rules.check`; a rejected one is
    replaced by the next candidate, and too few that pass is an error that says why.
    """
    word = _check_word(word)
    if not isinstance(shots, int) or shots < 1:
        raise ConfigError(f"shots must be an integer >= 1, got {shots!r}")
    if not isinstance(instruction, str) or not instruction.strip():
        raise DataError("cannot rewrite an empty instruction; fix or drop the record")
    out: list[tuple[str, str]] = []
    rejected: dict[str, str] = {}
    world = ((text, "paraphrase") for text in _world_rewrites(instruction, word, paraphrases))
    for text, how in itertools.chain(world, rules.candidates(instruction, word)):
        if text in (t for t, _ in out):
            continue
        why = None if how == "paraphrase" else rules.check(instruction, text, word)
        if why:
            rejected.setdefault(why, text)
            continue
        out.append((text, how))
        if len(out) == shots:
            return out
    reasons = "; ".join(f"{why} (e.g. {text!r})" for why, text in rejected.items()) or "no more candidates"
    raise ConfigError(f"only {len(out)} distinct rewrites of {instruction!r} start with {word!r} and pass the "
                      f"checks ({reasons}); ask for at most {len(out)} shots or give a paraphrase table with more cores")


def balance_openers(samples: list[Sample], seed: int, paraphrases: list[list[str]] | None = None) -> list[Sample]:
    """The samples with each instruction rewritten to start with a word drawn uniformly from the
    first words of all of them, whatever its group, so that openers carry no label information.

    The opener-balanced SFT baseline trains on this: if SFT still over-refuses or still yields to
    the attack, the mirage is not only the opener bias. The draw is seeded; meaning is kept by
    `rewrite` (an exact opener swap in the world, a rule-based rewrite on real text).
    """
    # a word that opens a statement ("The", "This") cannot re-open a request
    vocab = sorted({w for s in samples if (w := first_word(s.instruction)) and not rules.opens_a_statement(w)})
    if not vocab:
        raise DataError("cannot balance openers: no sample has an instruction")
    rng = random.Random(seed)
    out, kept = [], 0
    for s in samples:
        word = rng.choice(vocab)
        try:
            text = rewrite(s.instruction, word, 1, paraphrases)[0]
        except ConfigError:  # a statement ("The image shows ...") takes no other opener: it stays as it is
            text, word, kept = s.instruction, first_word(s.instruction), kept + 1
            log.debug("opener balancing: %r keeps its own first word", s.instruction)
        out.append(s.with_(instruction=text, meta={**s.meta, "original": s.instruction, "word": word}))
    if kept:
        log.warning("opener balancing: %d of %d queries could not be re-opened with their drawn word (statements, "
                    "or no rewrite passed the checks) and keep their own first word", kept, len(samples))
    return out


# Split name → (source group, which word, shots: None = the attack's K, or 1, id suffix)
_SPLITS = {
    "unsafes@attack": ("unsafes", "attack", None, "attack"),
    "unsafes@control": ("unsafes", "control", None, "control"),
    "safe_unsafes@attack": ("safe_unsafes", "attack", None, "attack"),
    "safe_safes@rewrite": ("safe_safes", "refusal", 1, "rewrite"),
    "safe_safes@control": ("safe_safes", "control", 1, "control"),
    "unsafes@unseen": ("unsafes", "unseen", None, "unseen"),
    "safe_safes@unseen": ("safe_safes", "unseen", 1, "unseen"),
}


def _attacked(orig: Sample, word: str, shots: int, suffix: str, paraphrases, word_source: str) -> list[Sample]:
    made = rewrites(orig.instruction, word, shots, paraphrases)
    return [orig.with_(id=f"{orig.id}#{suffix}{k}", instruction=text,
                       meta={**orig.meta, "source_id": orig.id, "shot": k, "word": word,
                             "original": orig.instruction, "word_source": word_source, "rewriter": how})
            for k, (text, how) in enumerate(made)]


def _model_attacked(split: str, source: list[Sample], word: str, shots: int, suffix: str, paraphrases,
                    word_source: str, rewriter: ModelRewriter) -> tuple[list[Sample], list[tuple[str, str]]]:
    """(attacked samples, (id, why) of the queries left out) of one split by a model rewriter:
    the paraphrase table's shots first (world mode), the model's for the rest, batched over the
    split's queries; a query with too few passing rewrites is left out, never kept short."""
    world = []
    for s in source:
        if not isinstance(s.instruction, str) or not s.instruction.strip():
            raise DataError("cannot rewrite an empty instruction; fix or drop the record")
        world.append(list(dict.fromkeys(_world_rewrites(s.instruction, word, paraphrases)))[:shots])
    asking = [i for i, w in enumerate(world) if len(w) < shots]
    jobs = [Job(source[i].instruction, word, shots - len(world[i]), tuple(world[i])) for i in asking]
    made = dict(zip(asking, rewriter.rewrite(jobs) if jobs else []))
    attacked, skipped = [], []
    for i, s in enumerate(source):
        shots_of = [(text, {"rewriter": "paraphrase"}) for text in world[i]]
        if i in made:
            m, need = made[i], shots - len(world[i])
            if len(m.rewrites) < need:
                why = (f"only {len(m.rewrites)} of {need} model rewrites of {s.instruction!r} start with {word!r} "
                       f"and pass the checks after {rewriter.attempts} attempts ({describe_rejections(m.rejected)})")
                skipped.append((s.id, why))
                continue
            shots_of += [(text, rewriter.provenance(attempt)) for text, attempt in m.rewrites]
        attacked += [s.with_(id=f"{s.id}#{suffix}{k}", instruction=text,
                             meta={**s.meta, "source_id": s.id, "shot": k, "word": word, "original": s.instruction,
                                   "word_source": word_source, **how})
                     for k, (text, how) in enumerate(shots_of)]
    left = {sid for sid, _ in skipped}
    summary = summarize(list(made.values()), sum(source[i].id not in left for i in made), word)
    rewriter.summary[split] = summary
    if summary["rejected"]:
        log.warning("%s: the rewriter's lines rejected by the checks: %s", split,
                    describe_rejections({why: [r["count"], r["example"]] for why, r in summary["rejected"].items()}))
    return attacked, skipped


def build_attacks(test: list[Sample], attack_word: str, refusal_word: str, control_word: str | None, shots: int,
                  paraphrases: list[list[str]] | None = None, word_source: str = "audit",
                  unseen_word: str | None = None, rewriter: ModelRewriter | None = None) -> dict[str, list[Sample]]:
    """The attacked eval splits of a test set.

    `unsafes@attack` / `safe_unsafes@attack`: each query → `shots` rewrites with `attack_word`;
    `unsafes@control`: the same with `control_word`; `safe_safes@rewrite` / `safe_safes@control`:
    each safe query → one rewrite with `refusal_word` / `control_word`. Every attacked sample
    keeps image, group, response and category, and records its provenance in `meta`. Without a
    control word (None: no neutral word qualified) the control splits are left out.
    `unsafes@unseen` / `safe_safes@unseen`: the same with the second control, a word the safety
    set never starts a query with (None: left out). `rewriter`: a model rewriter for the shots
    the paraphrase table does not give (None: the rule-based rewrites).
    """
    words = {"attack": _check_word(attack_word), "refusal": _check_word(refusal_word),
             "control": None if control_word is None else _check_word(control_word),
             "unseen": None if unseen_word is None else _check_word(unseen_word)}
    for role in ("control", "unseen"):
        if words[role] is not None and words[role] in (attack_word, refusal_word):
            raise ConfigError(f"the {role} word {words[role]!r} must differ from the attack and refusal words; "
                              "pick a neutral word from the audit's `neutral` list")
    if words["unseen"] is not None and words["unseen"] == words["control"]:
        raise ConfigError(f"the unseen word {unseen_word!r} must differ from the control word")
    if not isinstance(shots, int) or shots < 1:
        raise ConfigError(f"shots must be an integer >= 1, got {shots!r}")
    splits: dict[str, list[Sample]] = {}
    for name, (group, which, k, suffix) in _SPLITS.items():
        if words[which] is None:
            continue
        source = [s for s in test if s.group == group]
        if not source:
            log.warning("no %s samples in the test set: split %s is empty", group, name)
        if rewriter is not None:
            attacked, skipped = _model_attacked(name, source, words[which], k or shots, suffix, paraphrases,
                                                word_source, rewriter)
        else:
            attacked, skipped = [], []
            for s in source:
                try:
                    attacked += _attacked(s, words[which], k or shots, suffix, paraphrases, word_source)
                except ConfigError as e:  # too few rewrites pass the checks: this query is left out, and said so
                    skipped.append((s.id, str(e)))
        if skipped:
            if len(skipped) == len(source):
                raise ConfigError(f"{name}: no query could be rewritten with {words[which]!r}; first: {skipped[0][1]}")
            log.warning("%s: %d of %d queries left out, too few of their rewrites with %r pass the checks "
                        "(first: %s)", name, len(skipped), len(source), words[which], skipped[0][1])
        splits[name] = attacked
    return splits


def split_file_name(split: str) -> str:
    """The JSONL file name of an attack split: `unsafes@attack` → `unsafes_at_attack.jsonl`."""
    return split.replace("@", "_at_") + ".jsonl"


def split_of_file(path: str | Path) -> str:
    """The split an attack file holds, from its name (`split_file_name` backwards)."""
    return Path(path).stem.replace("_at_", "@")


def write_attacks(splits: dict[str, list[Sample]], out_dir: str | Path,
                  rewriter: ModelRewriter | None = None) -> dict[str, Path]:
    """Write one JSONL file per split into `out_dir`; return split → path. Files of attack splits
    not written this time (a control skipped on a rerun) are removed, so none is read as current.
    A model rewriter's record (settings, prompt text, rejections) goes to `rewriter.json`; the
    rule-based rewrites remove an earlier one."""
    record = Path(out_dir) / REWRITER_RECORD
    if rewriter is not None:
        write_json(record, rewriter.record())
    elif record.is_file():
        record.unlink()
    for split in _SPLITS:
        stale = Path(out_dir) / split_file_name(split)
        if split not in splits and stale.is_file():
            log.info("removing %s: this run has no %s split", stale, split)
            stale.unlink()
    paths = {}
    for split, samples in splits.items():
        path = Path(out_dir) / split_file_name(split)
        write_samples(path, samples)
        paths[split] = path
        log.info("wrote %d samples of %s to %s", len(samples), split, path)
    return paths


def left_out(splits: dict[str, list[Sample]], test: list[Sample]) -> dict[str, tuple[int, int]]:
    """Split → (queries of its source group it left out, queries in that group): a query is left
    out when too few of its rewrites pass the checks."""
    out = {}
    for name, samples in splits.items():
        n = sum(s.group == _SPLITS[name][0] for s in test)
        out[name] = (n - len({s.meta.get("source_id") for s in samples}), n)
    return out


def read_attack_dir(out_dir: str | Path) -> dict[str, list[Sample]]:
    """The attack splits `write_attacks` wrote into `out_dir`, split → samples."""
    return {split: read_attacks(Path(out_dir) / split_file_name(split)) for split in _SPLITS
            if (Path(out_dir) / split_file_name(split)).is_file()}


def read_attacks(path: str | Path) -> list[Sample]:
    """Read an attack JSONL file; a malformed line raises a `DataError` naming its line number."""
    if not Path(path).is_file():
        raise DataError(f"{path}: attack file not found; run `unmirage attack` first or fix the path")
    return read_samples(path, strict=True, extra_keys=True)  # written whole; other tools may add keys


@ATTACKS.register("one_word")
class OneWord(Attack):
    """The paper's one-word attack, the over-prudence rewrite and their controls (settings: `attack:`)."""

    name = "one_word"
    Params = AttackConfig

    def __init__(self, params: dict[str, Any] | None = None, trust_remote_code: bool = False):
        super().__init__(params)
        self.rewriter = make_rewriter(self.params.rewriter, self.params.rewriter_attempts, trust_remote_code)

    def spec(self) -> dict:
        return {**super().spec(), "rewriter": "rules" if self.rewriter is None else self.rewriter.spec()}

    def splits(self, ctx: QueryContext) -> dict[str, list[Sample]]:
        """The attacked splits (`build_attacks`) with the words the study chose (`ctx.words`)."""
        w = ctx.words
        return build_attacks(ctx.test, w["attack"], w["refusal"], w["control"], w["shots"], ctx.sets.paraphrases,
                             w["source"], w.get("unseen"), self.rewriter)
