"""`unmirage sweep ARM KEY VALUES`: train and evaluate one arm per value of one of its keys, in
the study's run directory (so the base model is shared), and write the table."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .config import ArmConfig, StudyConfig, apply_overrides, from_dict, to_dict
from .errors import ConfigError
from .io import read_json, write_json, write_text_atomic
from .registry import did_you_mean
from .report.sweep import sweep_markdown, sweep_row
from .results import read_results
from .study import Study


def sweep(cfg: StudyConfig, arm: str, key: str, values: list, show_progress: bool = True) -> Path:
    """Train and evaluate `arm` once per value of its config `key` (e.g. `params.layer` for RMU's
    layer), in the study's run directory (so the base model is shared), and write
    `sweep_<arm>_<key>.md` and `.json` (`<key>` its last part, so that sweeps of one arm over other
    keys keep their tables): one row per value with the headline metrics (and RMU's calibrated
    coefficient)."""
    if arm not in cfg.arms:
        raise ConfigError(f"no arm {arm!r} to sweep." + did_you_mean(arm, list(cfg.arms)))
    if not values:
        raise ConfigError("give at least one value to sweep over")
    arms = dict(cfg.arms)
    names = {}
    for v in values:
        name = f"{arm}@{key.split('.')[-1]}={v}"
        data = apply_overrides(to_dict(cfg.arms[arm]), [f"{key}={v}"])
        arms[name] = from_dict(ArmConfig, data, f"sweep {arm} {key}={v}")
        names[name] = v
    run_dir = Study(replace(cfg, arms=arms, run_arms=list(names), seeds=[]), show_progress).run()
    results = read_results(run_dir)["arms"]
    rows = []
    for name, v in names.items():
        log_path = run_dir / "models" / name / "train_log.json"
        calibration = read_json(log_path).get("calibration", {}) if log_path.is_file() else {}
        rows.append(sweep_row(v, name, results[name], calibration.get("coeff")))
    stem = f"sweep_{arm}_{key.split('.')[-1]}"
    write_json(run_dir / f"{stem}.json", {"arm": arm, "key": key, "rows": rows})
    path = run_dir / f"{stem}.md"
    write_text_atomic(path, sweep_markdown(arm, key, rows))
    return path
