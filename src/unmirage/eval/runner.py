"""Evaluate one model on named splits: generate, judge, append to samples.jsonl (so an
interrupted run resumes), then compute metrics and residual knowledge.

Answers come from the configured backend (`eval.backend`) through the generation cache
(`eval.cache`), which lets another run or split reuse identical generations. Launched with
several processes (`accelerate launch` / `torchrun`), each rank generates and judges its shard
of what is left to do, and rank 0 writes every record.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from accelerate import PartialState
from accelerate.utils import gather_object
from rich.progress import Progress

from ..artefacts import record, staleness
from ..config import EvalConfig
from ..data.inputs import PREFILL
from ..data.records import Sample
from ..data.vqa import VQA_ANSWERS
from ..io import append_jsonl, read_jsonl
from ..judges import JUDGES, Judge
from .backends import Generator, make_generator
from .cache import CachedGenerator, dir_fingerprint, model_fingerprint, open_cache
from .generate import target_likelihood
from .keyword import is_refusal
from .metrics import compute_metrics
from .vqa import vqa_accuracy

log = logging.getLogger(__name__)


def make_judge(cfg: EvalConfig, data_dir: str | Path, image_root: str | Path) -> Judge:
    """The judge `cfg.judge` names, for a dataset directory. Factories that take keyword
    arguments `cfg` or `image_root` (the vlm judge) get them; the others get `data_dir` only."""
    factory = JUDGES.get(cfg.judge)
    params = inspect.signature(factory).parameters
    extra = {k: v for k, v in (("cfg", cfg), ("image_root", Path(image_root))) if k in params}
    return factory(Path(data_dir), **extra)


def shard(items: list, rank: int, world: int) -> list:
    """Rank `rank`'s contiguous share of `items` among `world` processes; the first
    `len(items) % world` ranks take one more (as accelerate's `split_between_processes`)."""
    base, extra = divmod(len(items), world)
    start = rank * base + min(rank, extra)
    return items[start:start + base + (rank < extra)]


def _gathered(records: list[dict], new: dict[str, str], world: int) -> tuple[list[dict], dict[str, str]]:
    """Every rank's records and new cache entries (unchanged in a single process)."""
    if world == 1:
        return records, new
    merged: dict[str, str] = {}
    for part in gather_object([new]):
        merged.update(part)
    return gather_object(records), merged


def _asked(split: str, s: Sample) -> tuple:
    return split, s.id, s.image, s.instruction, s.meta.get(PREFILL)


def _answered(record: dict) -> tuple:
    return record["split"], record["id"], record.get("image"), record["instruction"], record.get(PREFILL)


SLACK_TOKENS = 8  # new tokens beyond the longest answer a judge knows (the world's), so none is cut short
REAL_MAX_NEW_TOKENS = 256  # eval.max_new_tokens 0 where the judge knows no answers (real data)


def resolve_max_new_tokens(cfg: EvalConfig, processor, judge: Judge) -> EvalConfig:
    """`cfg` with `max_new_tokens` set: as given, else from the longest answer the judge knows
    (its `reference_answers()`, e.g. every answer of the world) plus slack, else 256."""
    if cfg.max_new_tokens:
        return cfg
    answers = getattr(judge, "reference_answers", lambda: [])()
    if not answers:
        return replace(cfg, max_new_tokens=REAL_MAX_NEW_TOKENS)
    longest = max(len(processor.tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers)
    return replace(cfg, max_new_tokens=longest + 1 + SLACK_TOKENS)  # + 1: the end-of-sequence token


def answers_spec(cfg: EvalConfig, model, generator: Generator, judge: Judge, model_key: str | None) -> dict:
    """What decides the answers and verdicts of `samples.jsonl` (recorded in its artefact.json):
    the model, the generator's settings (the backend it resolved to, dtype, new tokens), and the
    judge with its version and the facts it judges against."""
    spec = {"model": model_key or model_fingerprint(model), "generation": generator.settings,
            "judge": cfg.judge, "judge_model": cfg.judge_model, "judge_style": cfg.judge_style,
            "judge_version": getattr(judge, "version", 0), "judge_data": getattr(judge, "fingerprint", None)}
    if cfg.judge == "classifier":  # which label means refusal
        spec["judge_refusal_label"] = cfg.judge_refusal_label
    if cfg.judge in ("classifier", "fitted"):  # the judge's own files: a path may be fitted again
        spec["judge_fingerprint"] = dir_fingerprint(cfg.judge_model) if Path(cfg.judge_model).is_dir() else None
    return spec


def evaluate(model, processor, splits: dict[str, list[Sample]], judge: Judge, image_root: str | Path,
             out_dir: str | Path, cfg: EvalConfig, max_length: int,
             show_progress: bool = True, generator: Generator | None = None,
             model_key: str | None = None) -> dict[str, object]:
    """Metrics for every split; answers and verdicts go to `out_dir/samples.jsonl`.

    `generator` replaces the backend `cfg.backend` names; `model_key` identifies the model for
    the generation cache when it was not loaded from a directory or hub id.
    """
    out_dir = Path(out_dir)
    state = PartialState()
    rank, world, main = state.process_index, state.num_processes, state.is_main_process
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "samples.jsonl"
    cfg = resolve_max_new_tokens(cfg, processor, judge)
    if generator is None:  # on a GPU, this process's (the model moves there with the hf backend)
        generator = make_generator(cfg, model, processor, image_root, state.device)
    spec = answers_spec(cfg, model, generator, judge, model_key)
    if main:
        if path.is_file() and (diffs := staleness(out_dir, spec)):
            log.warning("%s holds answers of another model or setup (%s): set aside as samples.stale.jsonl",
                        path, diffs[0])
            path.replace(out_dir / "samples.stale.jsonl")
        record(out_dir, spec)  # before any answer: a crash mid-way leaves answers a rerun can trust
    if world > 1:
        state.wait_for_everyone()
    # an answer is reused only for the same query: a rewrite with another word keeps its id
    done = {_answered(r) for r in read_jsonl(path)}
    todo = [(split, s) for split, samples in splits.items() for s in samples if _asked(split, s) not in done]
    if done:
        log.info("resuming %s: %d answers already there, %d to go", path, len(done), len(todo))
    mine = shard(todo, rank, world)
    rows = cfg.rows(model)
    steps = -(-len(shard(todo, 0, world)) // rows)  # rank 0 holds the largest shard
    cached = CachedGenerator(generator, processor, open_cache(cfg, model, model_key), image_root)
    with Progress(disable=not (show_progress and main), transient=True) as progress:
        task = progress.add_task(f"eval {out_dir.name}", total=len(todo))
        for step in range(steps):  # every rank takes every step, so that the gathers line up
            chunk = mine[step * rows:(step + 1) * rows]
            samples = [s for _, s in chunk]
            answers, new = cached.generate(samples) if chunk else ([], {})
            records = judged(chunk, answers, judge) if chunk else []
            records, new = _gathered(records, new, world)
            if main:
                append_jsonl(path, records)
                if cached.cache is not None:
                    cached.cache.put(new)
            progress.advance(task, len(records))
    if world > 1:
        state.wait_for_everyone()
    wanted = {_asked(split, s) for split, samples in splits.items() for s in samples}
    records = [r for r in read_jsonl(path) if _answered(r) in wanted]
    metrics = judged_metrics(records, [(split, s) for split, samples in splits.items() for s in samples], judge,
                             cfg.bootstrap_seed)
    metrics.update(residual(model, processor, splits.get("unsafes", []), judge, image_root, max_length,
                            cfg.scoring_rows()))
    return metrics


def vqa_verdict(sample: Sample, answer: str) -> dict[str, Any]:
    """The verdict of an answer to a VQA question: its VQA accuracy against the sample's human
    answers (`vqa`), and whether the keyword detector calls it a refusal (else irrelevant)."""
    return {"verdict": "refusal" if is_refusal(answer) else "irrelevant", "correct": None,
            "vqa": vqa_accuracy(answer, sample.meta[VQA_ANSWERS])}


def judged(pairs: list[tuple[str, Sample]], answers: list[str], judge: Judge) -> list[dict[str, Any]]:
    """The samples.jsonl records of (split, sample) pairs and their answers, with the judge's verdicts.
    A VQA question (human answers in its meta, `data/vqa.py`) is scored by `vqa_verdict`, not the judge."""
    asked = [i for i, (_, s) in enumerate(pairs) if VQA_ANSWERS not in s.meta]
    given = judge.judge([pairs[i][1] for i in asked], [answers[i] for i in asked]) if asked else []
    by_judge = dict(zip(asked, given, strict=True))
    verdicts = [by_judge[i] if i in by_judge else vqa_verdict(s, a)
                for i, ((_, s), a) in enumerate(zip(pairs, answers, strict=True))]
    return [{"split": split, "id": s.id, "source_id": s.meta.get("source_id"), "shot": s.meta.get("shot", 0),
             "group": s.group, "image": s.image, "instruction": s.instruction,
             **({PREFILL: s.meta[PREFILL]} if s.meta.get(PREFILL) else {}), "answer": a, **v}
            for (split, s), a, v in zip(pairs, answers, verdicts, strict=True)]


def judged_metrics(records: list[dict], pairs: list[tuple[str, Sample]], judge: Judge, seed: int) -> dict:
    """The metrics of judged records, with the judge's categories (e.g. the oracle's intent kinds)
    for per-category breakdowns."""
    categorise = getattr(judge, "category", None)
    if categorise is not None:  # the judge's kinds of query (not of VQA questions, which it never saw)
        by_key = {(split, s.id): s for split, s in pairs}
        records = [r if "vqa" in r else {**r, "category": categorise(by_key[(r["split"], r["id"])])} for r in records]
    return compute_metrics(records, seed)


def residual(model, processor, unsafe: list[Sample], judge: Judge, image_root: str | Path, max_length: int,
             batch_size: int) -> dict[str, float]:
    """`residual/unsafes`: the mean over unsafe queries of the geometric-mean probability of the
    harmful steps' tokens, teacher-forced after what the query's own intent would answer first."""
    targets = [judge.residual_target(s) for s in unsafe]
    pairs = [(s, t) for s, t in zip(unsafe, targets) if t]
    if not pairs:
        return {}
    scores = target_likelihood(model, processor, [s for s, _ in pairs], [t.answer for _, t in pairs], image_root,
                               max_length, batch_size, spans=[t.spans for _, t in pairs])
    return {"residual/unsafes": sum(scores) / len(scores)}
