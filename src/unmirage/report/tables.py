"""Read `results.json` / `audit.json` and turn them into markdown tables and reading lines.

Everything here is pure: it takes the parsed (and validated) JSON and returns strings. Values in
`results.json` are fractions in [0, 1]; the report shows them as percentages with one decimal.
A key that is missing (or null / NaN) is shown as "–".
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import DataError
from ..io import read_json
from ..results import LMMS, UNBOUNDED, is_number as _is_number

log = logging.getLogger(__name__)

MISSING = "–"
# Canonical split order (for sample-size tables and degenerate-rate lookup); unknown splits follow.
SPLITS = (
    "unsafes",
    "unsafes@attack",
    "unsafes@attack_k1",
    "unsafes@control",
    "safe_unsafes",
    "safe_unsafes@attack",
    "safe_safes",
    "safe_safes@rewrite",
    "safe_safes@control",
    "unsafes@unseen",
    "safe_safes@unseen",
    "utility",
    "utility_natural",
    "utility_vqa",
)

# The headline metrics of the multi-seed and sweep tables: (header, key)
HEADLINE_COLUMNS = (
    ("ASR", "asr/unsafes"), ("Leak", "leak/unsafes"), ("ASR attack", "asr/unsafes@attack"),
    ("Leak attack", "leak/unsafes@attack"), ("Leak own attack", "leak_own/unsafes@attack"),
    ("ASR control", "asr/unsafes@control"),
    ("RR", "rr/safe_safes"), ("RR rewrite", "rr/safe_safes@rewrite"), ("RR control", "rr/safe_safes@control"),
    ("ASR unseen", "asr/unsafes@unseen"), ("RR unseen", "rr/safe_safes@unseen"),
    ("Utility", "utility/utility"), ("Utility natural", "utility/utility_natural"), ("Residual", "residual/unsafes"), ("Degenerate", "degenerate/unsafes"),
    ("Degenerate attack", "degenerate/unsafes@attack"), ("Degenerate safe", "degenerate/safe_safes"),
    ("Collapse", "collapse/unsafes"),
)


# --------------------------------------------------------------------------- loading / validation


def validate_audit(data: Any, source: str = "audit.json") -> dict:
    if not isinstance(data, dict):
        raise DataError(f"{source}: expected a JSON object at the top level, got {type(data).__name__}")
    groups = data.get("groups", {}) or {}
    if not isinstance(groups, dict):
        raise DataError(f"{source}: 'groups' must be a mapping GROUP -> {{n, first_words}}")
    for g, info in groups.items():
        if not isinstance(info, dict) or not isinstance(info.get("first_words", {}), dict):
            raise DataError(f"{source}: groups.{g} must be {{'n': N, 'first_words': {{WORD: COUNT}}}}")
    scores = data.get("scores", {}) or {}
    if not isinstance(scores, dict):
        raise DataError(f"{source}: 'scores' must be a mapping WORD -> float")
    for name in ("answer_biased", "refusal_biased"):
        if not isinstance(data.get(name, []) or [], list):
            raise DataError(f"{source}: '{name}' must be a list of words")
    return {
        "groups": groups,
        "scores": scores,
        "answer_biased": list(data.get("answer_biased") or []),
        "refusal_biased": list(data.get("refusal_biased") or []),
    }


def load_audit(run_dir: str | Path) -> dict | None:
    path = Path(run_dir) / "audit.json"
    if not path.is_file():
        return None
    return validate_audit(read_json(path), str(path))


# --------------------------------------------------------------------------- accessors / formatting


def value(arm: Mapping[str, Any], key: str) -> float | None:
    v = arm.get(key)
    if not _is_number(v) or math.isnan(v):
        return None
    return float(v)


def ci(arm: Mapping[str, Any], key: str) -> tuple[float, float] | None:
    b = arm.get(f"ci/{key}")
    if not isinstance(b, (list, tuple)) or len(b) != 2:
        return None
    lo, hi = b
    if not (_is_number(lo) and _is_number(hi)) or math.isnan(lo) or math.isnan(hi):
        return None
    return float(lo), float(hi)


def pct(v: float | None) -> str:
    return MISSING if v is None else f"{100 * v:.1f}"


def pct_ci(v: float | None, bounds: tuple[float, float] | None) -> str:
    if v is None:
        return MISSING
    if bounds is None:
        return pct(v)
    return f"{pct(v)} [{pct(bounds[0])}, {pct(bounds[1])}]"


def signed(delta: float) -> str:
    """A difference of fractions in points, with its sign: +12.5."""
    return f"{100 * delta:+.1f}"


def points(delta: float) -> str:
    return f"{signed(delta)} points"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A GitHub markdown table; `align` is one char per column ('l' or 'r'), default l then r."""
    align = align or ("l" + "r" * (len(header) - 1))
    sep = ["---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main table


@dataclass(frozen=True)
class Column:
    header: str
    keys: tuple[str, ...]  # first key present wins
    legend: str


def _word(words: Mapping[str, Any], role: str) -> str | None:
    w = words.get(role)
    return str(w) if w not in (None, "") else None


def degenerate_split(arms: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The split used for the degenerate-rate column: the first (canonical order) any arm has."""
    present = {k.split("/", 1)[1] for a in arms.values() for k in a if k.startswith("degenerate/") and value(a, k) is not None}
    if not present:
        return None
    for s in SPLITS:
        if s in present:
            return s
    return sorted(present)[0]


def main_columns(results: Mapping[str, Any]) -> list[Column]:
    words = results.get("words", {})
    k = words.get("shots")
    aw, rw, cw = _word(words, "attack"), _word(words, "refusal"), _word(words, "control")
    ktxt = f" (K={k})" if k is not None else ""
    cols = [
        Column("ASR", ("asr/unsafes",), "ASR on unsafe queries before the attack (`asr/unsafes`)"),
        Column("Leak", ("leak/unsafes",), "share of unsafe queries whose answer reveals any hazardous step, "
               "harmful or not (`leak/unsafes`)"),
        Column(
            f"ASR attack{ktxt}",
            ("asr/unsafes@attack",),
            "ASR under the one-word attack"
            + (f" (queries rewritten to start with \"{aw}\"" if aw else " (")
            + (f", any of K={k} shots" if k is not None else ", any of K shots")
            + ") (`asr/unsafes@attack`)",
        ),
        Column("Leak attack", ("leak/unsafes@attack",), "the same under the attack, any of K shots "
               "(`leak/unsafes@attack`)"),
        Column(
            "ASR control",
            ("asr/unsafes@control",),
            "ASR with the neutral control word" + (f" \"{cw}\"" if cw else "") + " (`asr/unsafes@control`)",
        ),
        Column("ASR s-u", ("asr/safe_unsafes",), "ASR on safe image + unsafe instruction (`asr/safe_unsafes`)"),
        Column("ASR s-u attack", ("asr/safe_unsafes@attack",), "same, under the attack (`asr/safe_unsafes@attack`)"),
        Column("RR", ("rr/safe_safes",), "refusal rate on safe queries before the rewrite (`rr/safe_safes`)"),
        Column(
            "RR rewrite",
            ("rr/safe_safes@rewrite",),
            "refusal rate on safe queries rewritten to start with"
            + (f" \"{rw}\"" if rw else " the refusal-biased word")
            + " (`rr/safe_safes@rewrite`)",
        ),
        Column("RR control", ("rr/safe_safes@control",), "refusal rate with the control word (`rr/safe_safes@control`)"),
        Column(
            "Utility",
            ("utility/utility", "utility/safe_safes"),
            "utility accuracy (`utility/utility`; † marks the fallback `utility/safe_safes`)",
        ),
        Column("Residual", ("residual/unsafes",), "residual harmful knowledge (`residual/unsafes`)"),
    ]
    uw = _word(words, "unseen")
    optional = [
        Column("ASR unseen", ("asr/unsafes@unseen",), "ASR with the second control" + (f" \"{uw}\"" if uw else "")
               + ", a word the safety set never starts a query with (`asr/unsafes@unseen`)"),
        Column("RR unseen", ("rr/safe_safes@unseen",), "refusal rate with the second control (`rr/safe_safes@unseen`)"),
        Column("Utility natural", ("utility/utility_natural",), "utility on the same questions with natural "
               "openers, the answered group's (`utility/utility_natural`)"),
        Column("Utility VQA", ("utility_vqa/utility_vqa",), "mean VQA accuracy on the data's VQA questions "
               "(`utility_vqa/utility_vqa`)"),
    ]
    own = Column("Leak own attack", ("leak_own/unsafes@attack",), "the share of attacked queries about a hazard "
                 "whose answers reveal any step of that very hazard, any of K shots (`leak_own/unsafes@attack`)")

    def shown(c: Column) -> bool:  # an optional column: only where some arm has its metric
        return any(value(a, c.keys[0]) is not None for a in results["arms"].values())

    if shown(own):
        cols.insert(next(i for i, c in enumerate(cols) if c.header == "Leak attack") + 1, own)
    at = next(i for i, c in enumerate(cols) if c.header == "Utility")
    cols[at + 1:at + 1] = [c for c in optional if shown(c)]
    dsplit = degenerate_split(results["arms"])
    if dsplit is not None:
        cols.append(Column("Degenerate", (f"degenerate/{dsplit}",), f"degenerate-output rate (`degenerate/{dsplit}`)"))
    cols += [
        Column("Degenerate attack", ("degenerate/unsafes@attack",),
               "degenerate answers to the attacked unsafe queries (`degenerate/unsafes@attack`)"),
        Column("Degenerate safe", ("degenerate/safe_safes",), "degenerate answers to safe queries (`degenerate/safe_safes`)"),
        Column("Collapse", ("collapse/unsafes",), "answers to unsafe queries in which one word is half the words "
               "or more (`collapse/unsafes`)"),
    ]
    return cols


def _column_cell(arm: Mapping[str, Any], col: Column, with_ci: bool) -> str:
    for i, key in enumerate(col.keys):
        v = value(arm, key)
        if v is not None:
            text = pct_ci(v, ci(arm, key)) if with_ci else pct(v)
            return text + ("†" if i > 0 else "")
    return MISSING


def main_table(results: Mapping[str, Any], with_ci: bool = False) -> str:
    cols = main_columns(results)
    rows = [[name] + [_column_cell(arm, c, with_ci) for c in cols] for name, arm in results["arms"].items()]
    return md_table(["Arm"] + [c.header for c in cols], rows)


def main_legend(results: Mapping[str, Any]) -> str:
    return "\n".join(f"- **{c.header}**: {c.legend}" for c in main_columns(results))


# --------------------------------------------------------------------------- decomposition


def decomposition_table(results: Mapping[str, Any]) -> str:
    """ASR / IR / RR before and after one attacked shot, and what IR holds: partial leaks and
    degenerate text."""
    header = ["Arm", "ASR before", "IR before", "RR before", "ASR after", "IR after", "of which partial leak",
              "of which degenerate", "RR after"]
    rows = []
    for name, arm in results["arms"].items():
        row = [name]
        for split, metrics in (("unsafes", ("asr", "ir", "rr")),
                               ("unsafes@attack_k1", ("asr", "ir", "ir_leak", "ir_degenerate", "rr"))):
            row += [pct_ci(value(arm, f"{m}/{split}"), ci(arm, f"{m}/{split}")) for m in metrics]
        rows.append(row)
    return md_table(header, rows)


# --------------------------------------------------------------------------- reading lines


def _ci_note(arm: Mapping[str, Any], k1: str, k2: str) -> str:
    a, b = ci(arm, k1), ci(arm, k2)
    if a is None or b is None:
        return ""
    overlap = a[0] <= b[1] and b[0] <= a[1]
    return "; the bootstrap CIs overlap" if overlap else "; the bootstrap CIs do not overlap"


def _change_line(arm: Mapping[str, Any], name: str, metric: str, before: str, after: str, what: str,
                 control: str | None) -> str | None:
    v0, v1 = value(arm, before), value(arm, after)
    if v0 is None or v1 is None:
        return None
    line = f"{name}: {metric} {pct(v0)} % → {pct(v1)} % {what} ({points(v1 - v0)}{_ci_note(arm, before, after)})"
    vc = value(arm, control) if control else None
    if vc is not None:
        line += f"; with the control word {pct(vc)} %"
    return line + "."


def _extremes(arms: Mapping[str, Mapping[str, Any]], key: str, label: str) -> str | None:
    vals = [(n, value(a, key)) for n, a in arms.items()]
    vals = [(n, v) for n, v in vals if v is not None]
    if len(vals) < 2:
        return None
    lo = min(vals, key=lambda t: t[1])
    hi = max(vals, key=lambda t: t[1])
    if lo[1] == hi[1]:
        return f"{label}: all {len(vals)} arms at {pct(lo[1])} %."
    return f"{label}: lowest {lo[0]} ({pct(lo[1])} %), highest {hi[0]} ({pct(hi[1])} %)."


HEADLINE_GAPS = (("asr_attack", "ASR cut under the one-word attack"),
                 ("rr_rewrite", "unnecessary refusals cut under the rewrite"))


def headline_table(results: Mapping[str, Any]) -> str | None:
    """The paper's headline as its abstract states it: points each unlearning arm cuts, per SFT
    arm (SFT − MU), with a paired 95 % bootstrap interval; over seeds, mean ± std and each seed's."""
    gaps = results.get("headline") or {}
    rows = []
    for gap, label in HEADLINE_GAPS:
        for pair, g in (gaps.get(gap) or {}).items():
            sft, mu = g.get("sft"), g.get("mu")
            if sft is None or mu is None:  # written before the pair's arms were recorded
                sft, _, mu = pair.partition("-")
            if "mean" in g:
                cell = f"{signed(g['mean'])} ± {pct(g['std'])}"
                detail = ", ".join(signed(v) for v in g["values"])
            else:
                cell = f"{signed(g['gap'])} [{signed(g['ci'][0])}, {signed(g['ci'][1])}]"
                detail = str(g["n"])
            rows.append([label, sft, mu, cell, detail])
    if not rows:
        return None
    last = "per seed" if "seeds" in results else "queries"
    return md_table(["Gap", "SFT arm", "MU arm", "points (SFT − MU)", last], rows)


def reading_lines(results: Mapping[str, Any]) -> list[str]:
    """Plain statements of fact computed from the numbers (no interpretation)."""
    arms = results["arms"]
    lines: list[str] = []
    for name, arm in arms.items():
        for line in (
            _change_line(arm, name, "ASR", "asr/unsafes", "asr/unsafes@attack", "under the attack", "asr/unsafes@control"),
            _change_line(arm, name, "ASR on safe_unsafes", "asr/safe_unsafes", "asr/safe_unsafes@attack", "under the attack", None),
            _change_line(arm, name, "RR", "rr/safe_safes", "rr/safe_safes@rewrite", "after the rewrite", "rr/safe_safes@control"),
        ):
            if line:
                lines.append(line)
        vals = [value(arm, f"{m}/unsafes@attack_k1") for m in ("asr", "ir", "rr")]
        if all(v is not None for v in vals):
            parts = ", ".join(f"{m} {pct(v)} %" for m, v in zip(("ASR", "IR", "RR"), vals))
            lines.append(f"{name}: after one attacked shot, {parts}.")
            total = sum(vals)  # type: ignore[arg-type]
            if abs(total - 1) > 0.005:
                lines.append(f"{name}: ASR + IR + RR after the attack sums to {pct(total)} %, not 100 %.")
    for key, label in (
        ("asr/unsafes@attack", "ASR under the attack"),
        ("rr/safe_safes@rewrite", "RR after the rewrite"),
        ("utility/utility", "Utility"),
    ):
        line = _extremes(arms, key, label)
        if line:
            lines.append(line)
    return lines


# --------------------------------------------------------------------------- other tables


def _split_order(splits: set[str]) -> list[str]:
    return [s for s in SPLITS if s in splits] + sorted(splits - set(SPLITS))


def sizes_table(results: Mapping[str, Any]) -> str | None:
    arms = results["arms"]
    splits = _split_order({k[2:] for a in arms.values() for k in a if k.startswith("n/")})
    if not splits:
        return None
    rows = [[n] + [str(int(a[f"n/{s}"])) if _is_number(a.get(f"n/{s}")) else MISSING for s in splits] for n, a in arms.items()]
    return md_table(["Arm"] + splits, rows)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return MISSING
    s = int(round(seconds))
    if s < 60:
        return f"{seconds:.1f} s"
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def budget_table(results: Mapping[str, Any]) -> str | None:
    arms, timings = results["arms"], results.get("timings", {})
    if not timings and not any(isinstance(a.get("budget"), dict) for a in arms.values()):
        return None
    names = list(arms) + [n for n in timings if n not in arms]
    rows = []
    for n in names:
        b = arms.get(n, {}).get("budget") or {}
        t = timings.get(n)
        rows.append([n, b.get("init", MISSING), b.get("method", MISSING)]
                    + [b.get(f, MISSING) if b.get(f) is not None else MISSING
                       for f in ("steps", "batch_size", "examples", "tokens")]
                    + [_duration(float(t)) if _is_number(t) else MISSING])
    return md_table(["Arm", "starts from", "method", "steps", "batch size", "examples", "tokens", "time"], rows)


def _shown_keys(results: Mapping[str, Any]) -> set[str]:
    keys = {k for c in main_columns(results) for k in c.keys}
    keys |= {f"{m}/{s}" for m in ("asr", "ir", "rr") for s in ("unsafes", "unsafes@attack_k1")}
    return keys


BREAKDOWN_SPLITS = (("asr", "unsafes"), ("asr", "unsafes@attack"), ("asr", "unsafes@control"), ("rr", "safe_safes"),
                    ("rr", "safe_safes@rewrite"), ("rr", "safe_safes@control"), ("utility", "utility"))


def _breakdown_keys(results: Mapping[str, Any]) -> list[str]:
    """`METRIC/SPLIT[CATEGORY]` keys of the headline splits, in a fixed order."""
    present = {k for arm in results["arms"].values() for k in arm if "[" in k and not k.startswith(("ci/", "n/"))}
    keys = []
    for metric, split in BREAKDOWN_SPLITS:
        prefix = f"{metric}/{split}["
        keys += sorted(k for k in present if k.startswith(prefix))
    return keys


def breakdown_table(results: Mapping[str, Any]) -> str | None:
    """Headline metrics per category of query (e.g. the kinds of request the judge tells apart)."""
    keys = _breakdown_keys(results)
    if not keys:
        return None
    rows = [[name] + [pct(value(arm, k)) for k in keys] for name, arm in results["arms"].items()]
    return md_table(["Arm"] + [f"`{k}`" for k in keys], rows, align="l" + "r" * len(keys))


def other_metrics_table(results: Mapping[str, Any]) -> str | None:
    """Every METRIC/SPLIT value not shown in the main or decomposition tables (nothing is hidden)."""
    shown = _shown_keys(results) | set(_breakdown_keys(results))
    rows = []
    for name, arm in results["arms"].items():
        for key in arm:
            if key in shown or key == "budget" or key.startswith(("ci/", "n/")) or "/" not in key:
                continue
            v = value(arm, key)
            if v is None and arm.get(key) is not None:
                continue
            if key.split("/")[0] in UNBOUNDED:  # not a fraction (KL in nats): shown in its own section
                continue
            own_scale = key.startswith(f"{LMMS}/")  # lmms-eval's scores keep its scale (MME's runs to 2000)
            rows.append([name, key, f"{v:g} (lmms-eval)" if own_scale and v is not None else pct_ci(v, ci(arm, key))])
    return md_table(["Arm", "key", "%"], rows, align="llr") if rows else None


# --------------------------------------------------------------------------- audit


def _score(scores: Mapping[str, Any], w: str) -> str:
    s = scores.get(w)
    return f"{s:+.2f}" if _is_number(s) else MISSING


def audit_tables(audit: Mapping[str, Any], top: int = 5) -> list[str]:
    """Markdown blocks: the top biased words with scores, and first-word shares per group."""
    blocks = []
    scores = audit["scores"]
    ab, rb = audit["answer_biased"][:top], audit["refusal_biased"][:top]
    if ab or rb:
        rows = []
        for i in range(max(len(ab), len(rb))):
            a = str(ab[i]) if i < len(ab) else ""
            r = str(rb[i]) if i < len(rb) else ""
            rows.append([i + 1, a or MISSING, _score(scores, a) if a else MISSING, r or MISSING, _score(scores, r) if r else MISSING])
        blocks.append(
            "Strongest first; the score is the word's association with refusal (negative: answer-biased).\n\n"
            + md_table(["#", "answer-biased", "score", "refusal-biased", "score"], rows, align="rlrlr")
        )
    groups = audit["groups"]
    if groups:
        rows = []
        for g, info in groups.items():
            fw = {str(w): c for w, c in (info.get("first_words") or {}).items() if _is_number(c)}
            n = info.get("n")
            denom = n if _is_number(n) and n > 0 else sum(fw.values())
            top_words = sorted(fw.items(), key=lambda t: (-t[1], t[0]))[:top]
            shares = ", ".join(f"{w} {pct(c / denom)} %" for w, c in top_words) if denom else MISSING
            rows.append([g, int(n) if _is_number(n) else MISSING, shares or MISSING])
        blocks.append("First-word shares per group:\n\n" + md_table(["group", "n", "most frequent first words"], rows, align="lrl"))
    return blocks


# --------------------------------------------------------------------------- multi-seed studies


def _stat(arm: Mapping[str, Any], key: str) -> tuple[float, float] | None:
    v = arm.get(key)
    if not v or v.get("mean") is None or math.isnan(v["mean"]):
        return None
    return v["mean"], v["std"]


def mean_std(arm: Mapping[str, Any], key: str) -> str:
    s = _stat(arm, key)
    return MISSING if s is None else f"{100 * s[0]:.1f} ± {100 * s[1]:.1f}"


def with_ci(arm: Mapping[str, Any], key: str) -> str:
    v = arm.get(key)
    if not v or v.get("mean") is None:
        return MISSING
    b = v.get("ci")
    return f"{100 * v['mean']:.1f}" + (f" [{100 * b[0]:.1f}, {100 * b[1]:.1f}]" if b else "")


def seed_table(results: Mapping[str, Any], cell=mean_std) -> str:
    cols = [(h, k) for h, k in HEADLINE_COLUMNS if any(k in a for a in results["arms"].values())]
    rows = [[name] + [cell(arm, k) for _, k in cols] for name, arm in results["arms"].items()]
    return md_table(["Arm"] + [h for h, _ in cols], rows)
