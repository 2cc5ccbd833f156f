"""Aggregate a multi-seed study: per arm and metric, the mean, the standard deviation over seeds,
the per-seed values, and a percentile-bootstrap interval over the pooled test queries of all seeds."""

from __future__ import annotations

import math
import os
import statistics
from pathlib import Path

from ..errors import DataError
from ..io import read_jsonl
from ..results import NAME as RESULTS, read_results, seed_results
from .metrics import compute_metrics


def _metric_keys(arm: dict) -> list[str]:
    return [k for k, v in arm.items() if "/" in k and not k.startswith(("ci/", "n/"))
            and isinstance(v, (int, float)) and not isinstance(v, bool)]


def pooled_intervals(run_dirs: dict[int, Path], arm: str, seed: int = 0) -> dict[str, list[float]]:
    """Bootstrap intervals (`ci/METRIC/SPLIT`) over the answers of `arm` in every seed's run, pooled;
    ids are made unique per seed so any-of-K units never merge across seeds."""
    records = []
    for s, d in run_dirs.items():
        for r in read_jsonl(Path(d) / "eval" / arm / "samples.jsonl"):
            r = dict(r, id=f"{s}:{r['id']}", source_id=f"{s}:{r['source_id']}" if r.get("source_id") else None)
            records.append(r)
    if not records:
        return {}
    metrics = compute_metrics(records, seed, breakdown=False)
    return {k: v for k, v in metrics.items() if k.startswith("ci/")}


def aggregate_seeds(run_dirs: dict[int, Path], seed: int = 0, config: dict | None = None,
                    root: Path | None = None) -> dict:
    """The multi-seed `results.json` (`results.seed_results`): per arm and key, {mean, std, values, ci}.
    `runs` names each seed's run directory relative to `root` (where the aggregate is written;
    default: their parent).

    An arm counts only where every seed has it; std is the sample standard deviation (n - 1).
    """
    per_seed = {}
    for s, d in run_dirs.items():
        if not (Path(d) / RESULTS).is_file():
            raise DataError(f"{Path(d) / RESULTS}: the run of seed {s} has no {RESULTS}; rerun it")
        per_seed[s] = read_results(d)
    seeds = list(run_dirs)
    arm_names = [a for a in per_seed[seeds[0]]["arms"] if all(a in per_seed[s]["arms"] for s in seeds)]
    arms: dict[str, dict] = {}
    for name in arm_names:
        runs = [per_seed[s]["arms"][name] for s in seeds]
        keys = [k for k in _metric_keys(runs[0]) if all(k in r and r[k] is not None for r in runs)]
        intervals = pooled_intervals(run_dirs, name, seed)
        out: dict[str, object] = {}
        for k in keys:
            out[k] = {**over_seeds([float(r[k]) for r in runs]), "ci": intervals.get(f"ci/{k}")}
        out["budget"] = runs[0].get("budget")
        arms[name] = out
    runs = {str(s): Path(d).name if root is None else os.path.relpath(d, root) for s, d in run_dirs.items()}
    return seed_results(seeds, runs,
                        {str(s): per_seed[s].get("words") for s in seeds},
                        config if config is not None else per_seed[seeds[0]].get("config"), arms,
                        seed_gaps([per_seed[s].get("headline") or {} for s in seeds]))


def over_seeds(values: list[float]) -> dict:
    """{mean, std, values} of one number over seeds: the sample std (n - 1); NaNs left out of both."""
    finite = [v for v in values if not math.isnan(v)]
    return {"mean": statistics.fmean(finite) if finite else float("nan"),
            "std": statistics.stdev(finite) if len(finite) > 1 else 0.0, "values": values}


def seed_gaps(per_seed: list[dict]) -> dict:
    """The headline gaps over seeds: {mean, std, values, ci (each seed's)} where every seed has one."""
    out: dict[str, dict] = {}
    for gap in per_seed[0] if per_seed else {}:
        for pair in per_seed[0][gap]:
            runs = [h.get(gap, {}).get(pair) for h in per_seed]
            if all(r is not None for r in runs):
                out.setdefault(gap, {})[pair] = {"sft": runs[0].get("sft"), "mu": runs[0].get("mu"),
                                                 **over_seeds([r["gap"] for r in runs]),
                                                 "ci": [r["ci"] for r in runs]}
    return out
