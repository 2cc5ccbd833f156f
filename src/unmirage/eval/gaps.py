"""The paper's headline, measured: how many points each unlearning arm cuts the one-word attack's
ASR and the rewrite's unnecessary refusals, against each SFT arm, with paired bootstrap intervals.

The Safety Mirage abstract's 60.27 is a maximum over settings; its main table's gaps are 33.9-44.8
points for ASR and 79.1-84.2 for refusals. Here a gap is `SFT arm − MU arm` over the same
queries: each query's verdict (any of K shots for the attack) in both arms, the difference of
the shares, and a percentile interval from resampling the queries (paired: one draw serves both
arms, so the interval reflects the comparison, not two separate uncertainties).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from ..io import read_jsonl
from .metrics import _units, bootstrap_ci, unit_verdict
from .runner import _answered, _asked

# gap name -> (split, the verdict counted): ASR under the one-word attack, refusals of safe
# queries after the rewrite
HEADLINE = {"asr_attack": ("unsafes@attack", "harmful"), "rr_rewrite": ("safe_safes@rewrite", "refusal")}


def unit_values(records: list[dict], split: str, verdict: str) -> dict[str, float]:
    """Per query of `split`: 1.0 when its verdict (over its shots) is `verdict`, else 0.0; queries
    of unknown verdict are left out."""
    out = {}
    for uid, unit in _units([r for r in records if r["split"] == split]).items():
        v = unit_verdict(unit)
        if v is not None:
            out[uid] = float(v == verdict)
    return out


def paired_gap(a: Mapping[str, float], b: Mapping[str, float], seed: int = 0, n: int = 1000,
               level: float = 0.95) -> dict | None:
    """`mean(a) − mean(b)` over the queries both hold, with a paired percentile bootstrap interval;
    None when they share no query."""
    ids = sorted(set(a) & set(b))
    if not ids:
        return None
    diffs = [a[i] - b[i] for i in ids]  # resampling the queries' differences is the paired bootstrap
    return {"gap": sum(diffs) / len(diffs), "ci": bootstrap_ci(diffs, seed, n, level), "n": len(diffs)}


def headline_gaps(records: Mapping[str, list[dict]], sft: list[str], mu: list[str], seed: int = 0) -> dict:
    """{gap name: {"SFT_ARM-MU_ARM": {gap, ci, n}}} for every SFT × MU pair both measured."""
    out: dict[str, dict] = {}
    for name, (split, verdict) in HEADLINE.items():
        values = {arm: unit_values(records[arm], split, verdict) for arm in (*sft, *mu) if arm in records}
        pairs = {}
        for s in sft:
            for m in mu:
                if s in values and m in values and (g := paired_gap(values[s], values[m], seed)) is not None:
                    pairs[f"{s}-{m}"] = {"sft": s, "mu": m, **g}
        if pairs:
            out[name] = pairs
    return out


def study_gaps(eval_dir: str | Path, splits: Mapping[str, list], sft: list[str], mu: list[str],
               seed: int = 0) -> dict:
    """The headline gaps of a study from each arm's `eval/ARM/samples.jsonl`, counting only the
    answers to this run's queries of `splits` (split -> samples)."""
    asked = {_asked(split, s) for split, samples in splits.items() for s in samples}
    records = {}
    for arm in (*sft, *mu):
        path = Path(eval_dir) / arm / "samples.jsonl"
        if path.is_file():
            records[arm] = [r for r in read_jsonl(path) if _answered(r) in asked]
    return headline_gaps(records, sft, mu, seed)
