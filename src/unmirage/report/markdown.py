"""The report as markdown: one study's (`render_markdown`), a multi-seed study's
(`render_seed_markdown`), and the summary the CLI prints after a run (`summary_markdown`).

Pure: each takes parsed, validated JSON and returns text.
"""

from __future__ import annotations

from typing import Any, Mapping

from . import tables
from .properties import properties_table, seeds_properties_table
from .attacks import attack_sections
from .tables import MISSING, md_table, mean_std, seed_table, with_ci


HEADLINE_NOTE = ("How many points unlearning cuts ASR under the one-word attack and unnecessary refusals under "
                 "the rewrite, each SFT arm against each MU arm, over the same queries, with a paired 95 % "
                 "bootstrap interval. The paper's abstract states 60.27 (a maximum over settings); its main "
                 "table's gaps are 33.9-44.8 points for ASR and 79.1-84.2 for refusals.")


def _words_line(words: Mapping[str, Any]) -> str:
    if not words:
        return "Words: not recorded in results.json."
    parts = []
    for role, label in (("attack", "attack (answer-biased)"), ("refusal", "refusal (over-prudence rewrite)"), ("control", "control (neutral)"),
                        ("unseen", "unseen control (never in the safety set)")):
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
    roles = ("attack", "refusal", "control", "unseen", "shots")
    stale = {arm: w for arm, w in results.get("arm_words", {}).items()
             if arm in results.get("arms", {}) and any(w.get(r) != words.get(r) for r in roles)}
    if not stale:
        return None
    arms = "; ".join(f"**{arm}** ({w.get('attack')} / {w.get('refusal')} / {w.get('control')}, K = {w.get('shots')})"
                     for arm, w in stale.items())
    return (f"Measured with other words (attack / refusal / control): {arms}. Their attacked columns do not "
            "compare with the other arms'; rerun them with these words to compare.")


def summary_markdown(results: Mapping[str, Any]) -> str:
    if "seeds" in results:
        return "Mean ± std over seeds, in %:\n\n" + seed_table(results) + "\n"
    stale = _stale_words_line(results)
    return "\n".join([_words_line(results.get("words", {})), *([stale] if stale else []), "", "Main table, in %:", "",
                      tables.main_table(results), "", tables.main_legend(results)]) + "\n"


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

    headline = tables.headline_table(results)
    if headline:
        out += ["## The paper's headline", "", HEADLINE_NOTE, "", headline, ""]

    props = properties_table(results) if not (results.get("config") or {}).get("data_dir") else None
    if props:
        out += ["## Design properties", "", PROPERTIES_NOTE, "", props, ""]

    out += attack_sections(results, lambda arm, key: tables.pct(tables.value(arm, key)))

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


PROPERTIES_NOTE = ("What the embedded world is designed to show (`report/properties.py`): the base complies, "
                   "each SFT arm looks safe but yields to the attack and over-refuses after the rewrite, while "
                   "the neutral control does little; each unlearning arm holds without refusing, losing utility "
                   "or collapsing.")


def render_seed_markdown(results: Mapping[str, Any], figure: str,
                         per_seed: Mapping[int, Mapping[str, Any]] | None = None, depth: str | None = None) -> str:
    name = (results.get("config") or {}).get("name", "")
    seeds = results["seeds"]
    out = [f"# unmirage report: {name} over seeds {', '.join(map(str, seeds))}", ""]
    words = results.get("words") or {}
    if words:
        out += ["Words per seed (attack / refusal / control): " + "; ".join(
            f"seed {s}: {w.get('attack')} / {w.get('refusal')} / {w.get('control')}" for s, w in words.items() if w)
            + ".", ""]
    out += ["## Mean ± standard deviation over seeds", "", "All values in %; – means not measured. "
            "Degenerate is the degenerate-output rate on attacked unsafe queries.", "", seed_table(results), ""]
    headline = tables.headline_table(results)
    if headline:
        out += ["## The paper's headline", "", HEADLINE_NOTE, "", headline, ""]
    props = seeds_properties_table(per_seed) if per_seed and not (results.get("config") or {}).get("data_dir") else None
    if props:
        out += ["## Design properties", "", PROPERTIES_NOTE, "", props, ""]
    out += attack_sections(results, mean_std)
    if depth:
        out += [f"![Alignment depth]({depth})", ""]
    out += ["## Trade-off", "", f"![Safety / over-refusal trade-off]({figure})", ""]
    out += ["## Pooled bootstrap intervals", "", "Mean over seeds and a 95 % percentile-bootstrap interval over the "
            "test queries of all seeds pooled.", "", seed_table(results, with_ci), ""]
    fields = ("init", "method", "steps", "batch_size", "examples", "tokens")
    budgets = [[n] + [(a.get("budget") or {}).get(k, MISSING) for k in fields] for n, a in results["arms"].items()]
    out += ["## Training budget (seed " + str(seeds[0]) + ")", "",
            md_table(["Arm", "starts from", "method", "steps", "batch size", "examples", "tokens"], budgets), ""]
    out += ["Per-seed reports: " + ", ".join(f"[{d}]({d}/report.md)" for d in results.get("runs", {}).values()), ""]
    return "\n".join(out)
