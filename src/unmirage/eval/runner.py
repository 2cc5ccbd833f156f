"""Evaluate one model on named splits: generate, judge, append to samples.jsonl (so an
interrupted run resumes), then compute metrics and residual knowledge."""

from __future__ import annotations

import logging
from pathlib import Path

from rich.progress import Progress

from ..config import EvalConfig
from ..data.records import Sample
from ..io import append_jsonl, read_jsonl
from ..judging import Judge
from .generate import HFGenerator, target_likelihood
from .metrics import compute_metrics

log = logging.getLogger(__name__)


def evaluate(model, processor, splits: dict[str, list[Sample]], judge: Judge, image_root: str | Path,
             out_dir: str | Path, cfg: EvalConfig, max_length: int, seed: int = 0,
             show_progress: bool = True) -> dict[str, object]:
    """Metrics for every split; answers and verdicts go to `out_dir/samples.jsonl`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "samples.jsonl"
    done = {(r["split"], r["id"]) for r in read_jsonl(path)}
    todo = [(split, s) for split, samples in splits.items() for s in samples if (split, s.id) not in done]
    if done:
        log.info("resuming %s: %d answers already there, %d to go", path, len(done), len(todo))
    generator = HFGenerator(model, processor, image_root, cfg.max_new_tokens)
    with Progress(disable=not show_progress, transient=True) as progress:
        task = progress.add_task(f"eval {out_dir.name}", total=len(todo))
        for start in range(0, len(todo), cfg.batch_size):
            chunk = todo[start:start + cfg.batch_size]
            samples = [s for _, s in chunk]
            answers = generator.generate(samples)
            verdicts = judge.judge(samples, answers)
            append_jsonl(path, [
                {"split": split, "id": s.id, "source_id": s.meta.get("source_id"), "shot": s.meta.get("shot", 0),
                 "group": s.group, "instruction": s.instruction, "answer": a, **v}
                for (split, s), a, v in zip(chunk, answers, verdicts)
            ])
            progress.advance(task, len(chunk))
    wanted = {(split, s.id) for split, samples in splits.items() for s in samples}
    records = [r for r in read_jsonl(path) if (r["split"], r["id"]) in wanted]
    categorise = getattr(judge, "category", None)
    if categorise is not None:  # e.g. the oracle's intent kinds, for per-category breakdowns
        by_key = {(split, s.id): s for split, samples in splits.items() for s in samples}
        for r in records:
            r["category"] = categorise(by_key[(r["split"], r["id"])])
    metrics = compute_metrics(records, seed)
    unsafe = splits.get("unsafes", [])
    targets = [judge.harmful_target(s) for s in unsafe]
    pairs = [(s, t) for s, t in zip(unsafe, targets) if t]
    if pairs:
        scores = target_likelihood(model, processor, [s for s, _ in pairs], [t for _, t in pairs], image_root,
                                   max_length, cfg.batch_size)
        metrics["residual/unsafes"] = sum(scores) / len(scores)
    return metrics
