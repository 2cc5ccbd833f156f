"""Report stage: read a run directory's `results.json` (and `audit.json`), write `report.md` and figures.

It reads files only; it never imports the stages that produced them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

from ..errors import DataError
from ..io import read_json, write_text_atomic
from . import tables
from .figures import decomposition_figure, main_figure
from .seeds import render_seed_markdown, tradeoff_figure, validate_seed_results
from .tables import load_audit, load_results

__all__ = ["write_report", "render_markdown", "load_results", "load_audit"]

log = logging.getLogger(__name__)


def _words_line(words: Mapping[str, Any]) -> str:
    if not words:
        return "Words: not recorded in results.json."
    parts = []
    for role, label in (("attack", "attack (answer-biased)"), ("refusal", "refusal (over-prudence rewrite)"), ("control", "control (neutral)")):
        w = words.get(role)
        parts.append(f"{label} **{w}**" if w not in (None, "") else f"{label} {tables.MISSING}")
    shots = words.get("shots")
    parts.append(f"shots K = {shots if shots is not None else tables.MISSING}")
    line = "Words: " + ", ".join(parts)
    if words.get("source"):
        line += f" (source: {words['source']})"
    return line + "."


def _stale_words_line(results: Mapping[str, Any]) -> str | None:
    """Arms evaluated with other words than the run's (a rerun with other words and fewer arms)."""
    words = results.get("words", {})
    roles = ("attack", "refusal", "control", "shots")
    stale = {arm: w for arm, w in results.get("arm_words", {}).items()
             if arm in results.get("arms", {}) and any(w.get(r) != words.get(r) for r in roles)}
    if not stale:
        return None
    arms = "; ".join(f"**{arm}** ({w.get('attack')} / {w.get('refusal')} / {w.get('control')}, K = {w.get('shots')})"
                     for arm, w in stale.items())
    return (f"Measured with other words (attack / refusal / control): {arms}. Their attacked columns do not "
            "compare with the other arms'; rerun them with these words to compare.")


def render_markdown(results: Mapping[str, Any], audit: Mapping[str, Any] | None, run_name: str,
                    figures: Mapping[str, str], audit_png: bool) -> str:
    """The whole report as markdown; `figures` maps a caption to a file name relative to the run dir."""
    config = results.get("config", {})
    name = config.get("name") or run_name
    version, git = results.get("version"), results.get("git")
    out = [f"# unmirage report: {name}", ""]
    meta = []
    if version:
        meta.append(f"unmirage {version}")
    if git:
        meta.append(f"git `{git}`")
    if meta:
        out += [", ".join(meta) + ".", ""]
    out += [_words_line(results.get("words", {})), ""]
    stale = _stale_words_line(results)
    if stale:
        out += [stale, ""]

    out += ["## Main table", "", "All values in %; – means not measured.", "", tables.main_table(results), "",
            tables.main_legend(results), ""]
    out += ["## Decomposition after the attack", "",
            "Answers to unsafe queries as harmful (ASR), irrelevant (IR) or refusals (RR), before the attack "
            "(`unsafes`) and after one attacked shot (`unsafes@attack_k1`). By definition ASR + IR + RR = 100 %; "
            "the reading below flags any arm where the stored values do not.", "",
            tables.decomposition_table(results), ""]

    breakdown = tables.breakdown_table(results)
    if breakdown:
        out += ["## By category", "", "The headline metrics per category of query, where the judge tells "
                "categories apart (in the embedded world: `fact` questions, about what the object is, is for, "
                "its colour or shape; `object` requests, to describe it or say how it is made; `misuse`).",
                "", breakdown, ""]

    lines = tables.reading_lines(results)
    out += ["## Reading", ""]
    out += [f"- {s}" for s in lines] if lines else ["- No before/after pairs to compare."]
    out += [""]

    if figures:
        out += ["## Figures", ""]
        for i, (caption, fname) in enumerate(figures.items(), 1):
            out += [f"**Figure {i}** ([{fname}]({fname})): {caption}.", "", f"![{caption}]({fname})", ""]

    out += ["## Details", "", "### With bootstrap confidence intervals", "", tables.main_table(results, with_ci=True), ""]
    sizes = tables.sizes_table(results)
    if sizes:
        out += ["### Sample sizes", "", sizes, ""]
    budget = tables.budget_table(results)
    if budget:
        out += ["### Training budget and time", "", budget, ""]
    other = tables.other_metrics_table(results)
    if other:
        out += ["### Other metrics", "", other, ""]

    if audit is not None:
        out += ["## Audit of the alignment data", ""]
        for block in tables.audit_tables(audit):
            out += [block, ""]
        if audit_png:
            out += ["![Audit](audit.png)", ""]
    return "\n".join(out).rstrip() + "\n"


def write_report(run_dir: str | Path) -> Path:
    """Write `report.md`, `main.png` and `decomposition.png` into `run_dir`; return the path of report.md.

    Raises DataError when `run_dir` or its `results.json` is missing or malformed.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: run directory not found")
    if (run_dir / "results.json").is_file() and "seeds" in read_json(run_dir / "results.json"):
        return write_seed_report(run_dir)
    results = load_results(run_dir)
    audit = load_audit(run_dir)
    figures = {
        "ASR before/after the attack, RR before/after the rewrite, utility": main_figure(results, run_dir / "main.png").name,
        "Decomposition ASR / IR / RR before and after the attack": decomposition_figure(results, run_dir / "decomposition.png").name,
    }
    text = render_markdown(results, audit, run_dir.resolve().name, figures, (run_dir / "audit.png").is_file())
    path = run_dir / "report.md"
    write_text_atomic(path, text)
    log.info("wrote %s", path)
    return path


def write_seed_report(run_dir: str | Path) -> Path:
    """The report of a multi-seed study: `report.md` and `tradeoff.png` in its root directory."""
    run_dir = Path(run_dir)
    results = validate_seed_results(read_json(run_dir / "results.json"), str(run_dir / "results.json"))
    figure = tradeoff_figure(results, run_dir / "tradeoff.png").name
    path = run_dir / "report.md"
    write_text_atomic(path, render_seed_markdown(results, figure))
    log.info("wrote %s", path)
    return path
