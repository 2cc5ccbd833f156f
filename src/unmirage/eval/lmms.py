"""An optional bridge to lmms-eval (github.com/EvolvingLMMs-Lab/lmms-eval): its own utility
benchmarks (VQAv2, POPE, MME, MMBench, ...) run on the same model, their scores read into
`results.json` as `lmms/TASK/METRIC` (docs/results.md).

lmms-eval is never a dependency, nor needed by a test: `unmirage lmms-eval` runs its command
line (`python -m lmms_eval`) as a subprocess where it is installed, and says how to install it
where it is not. Unlike unmirage, lmms-eval fetches its tasks' data from the Hugging Face hub.

Its results file is read in the form lmms-eval 0.3 writes (the `EvaluationTracker` it took from
lm-evaluation-harness 0.4): `OUTPUT/<model>/<date>_results.json` holding `results` (and for
task groups `groups`) as TASK -> {"alias": ..., "METRIC,FILTER": value,
"METRIC_stderr,FILTER": value or "N/A"}, `n-samples` as TASK -> {"original", "effective"}, and
`versions`. Values keep lmms-eval's own scale (MME's perception score runs to 2000), so they
are no fractions.
"""

from __future__ import annotations

import importlib.util
import math
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError
from ..io import read_json
from ..results import NAME as RESULTS, study_results, write_results

INSTALL = ("pip install lmms-eval (it needs torchvision, which unmirage keeps optional: install the "
           "torchvision build that matches your torch)")
RAW = "lmms_eval"  # the folder of OUT that lmms-eval writes into
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def require_lmms_eval(find_spec: Callable[[str], Any] | None = None) -> None:
    """A `ConfigError` saying how to install lmms-eval where it is not importable (`find_spec`:
    `importlib.util.find_spec`, looked up at the call)."""
    if (find_spec or importlib.util.find_spec)("lmms_eval") is None:
        raise ConfigError(f"`unmirage lmms-eval` runs lmms-eval, which is not installed; {INSTALL}")


def task_list(tasks: str) -> list[str]:
    """The task names of `--tasks TASK[,TASK]`; an empty or malformed one is a `ConfigError`."""
    names = [t.strip() for t in tasks.split(",")]
    bad = [t for t in names if not _NAME.fullmatch(t)]
    if not names or bad:
        raise ConfigError(f"--tasks takes lmms-eval task names separated by commas, e.g. vqav2_val,pope; got {tasks!r}")
    return names


def lmms_command(model: str, tasks: list[str], out: Path, model_type: str = "llava_hf", batch_size: int = 1,
                 limit: int | None = None, python: str = sys.executable) -> list[str]:
    """lmms-eval's command line that runs `tasks` on `model` (a directory or hub id), writing under `out`."""
    if "," in model or "=" in model:
        raise ConfigError(f"model {model!r}: lmms-eval's --model_args cannot hold ',' or '='; rename or link it")
    if batch_size < 1 or (limit is not None and limit < 1):
        raise ConfigError(f"--batch-size and --limit must be >= 1, got {batch_size} and {limit}")
    return [python, "-m", "lmms_eval", "--model", model_type, "--model_args", f"pretrained={model}",
            "--tasks", ",".join(tasks), "--batch_size", str(batch_size), "--output_path", str(out),
            "--log_samples", *(["--limit", str(limit)] if limit is not None else [])]


def results_files(raw: Path) -> set[Path]:
    """Every results file lmms-eval has written under `raw` (`<date>_results.json`, or an older `results.json`)."""
    return {p for p in Path(raw).rglob("*results.json") if p.is_file()}


def _metric_name(key: str) -> str:
    """`METRIC,FILTER` as `METRIC`, or `METRIC[FILTER]` for a filter other than `none`."""
    metric, _, filt = key.partition(",")
    clean = [re.sub(r"[^A-Za-z0-9_.-]", "_", part) for part in (metric, filt)]
    return clean[0] if filt in ("", "none") else f"{clean[0]}[{clean[1]}]"


def parse_results(doc: Any, source: str) -> tuple[dict[str, float], dict[str, Any]]:
    """(`lmms/TASK/METRIC` -> value, what the run was: n-samples and versions) of a parsed lmms-eval
    results file. Entries that are no number (an alias, a "N/A" stderr, NaN) are left out."""
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), dict):
        raise DataError(f"{source}: not an lmms-eval results file (no 'results' mapping TASK -> metrics)")
    metrics: dict[str, float] = {}
    for section in ("results", "groups"):
        for task, entries in (doc.get(section) or {}).items():
            if not isinstance(entries, dict):
                raise DataError(f"{source}: {section}.{task} must map metrics to values")
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(task).strip())
            for key, v in entries.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v):
                    metrics[f"lmms/{name}/{_metric_name(key)}"] = float(v)
    info = {k: doc[k] for k in ("n-samples", "versions") if isinstance(doc.get(k), dict)}
    return metrics, info


def run_lmms_eval(model: str, tasks: str, out: Path, model_type: str = "llava_hf", batch_size: int = 1,
                  limit: int | None = None, run: Callable[..., Any] | None = None,
                  find_spec: Callable[[str], Any] | None = None) -> dict[str, float]:
    """Run lmms-eval's `tasks` on `model`; its files go to `out/lmms_eval/`, its scores to
    `out/results.json` (one arm, named after the model). Returns the metrics."""
    require_lmms_eval(find_spec)
    out, raw = Path(out), Path(out) / RAW
    cmd = lmms_command(model, task_list(tasks), raw, model_type, batch_size, limit)
    before = results_files(raw)
    done = (run or subprocess.run)(cmd, check=False)
    if done.returncode != 0:
        raise DataError(f"lmms-eval stopped with exit code {done.returncode} (its output above says why): "
                        + " ".join(cmd[1:]))
    new = sorted(results_files(raw) - before, key=lambda p: p.stat().st_mtime)
    if not new:
        raise DataError(f"lmms-eval wrote no results file under {raw}; its output above says why")
    metrics, info = parse_results(read_json(new[-1]), str(new[-1]))
    if not metrics:
        raise DataError(f"{new[-1]}: holds no numeric scores for {tasks}")
    arm = Path(model).name
    config = {"name": arm, "model": model, "lmms_eval": {"command": cmd[1:], "results": str(new[-1].relative_to(out)),
                                                          **info}}
    write_results(out / RESULTS, study_results(config, {}, {arm: metrics}, {}, {}, {}))
    return metrics
