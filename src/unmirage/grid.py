"""`unmirage grid CONFIG`: a study's seeds × the values of any swept keys (`grid:`), each cell one
study run as a job through submitit, on SLURM where it is there and as local processes otherwise.

A cell is keyed by a hash of its resolved config and writes to `<out_dir>/<name>/cells/<key>/`,
so that it is idempotent: a resubmitted grid skips the cells that finished, and a cell that was
killed resumes like any study (its world, models and answers are reused where they match). When
every cell is done, the cells of each combination of swept values are aggregated over seeds as a
multi-seed study is (`results.json`, `report.md`); with no swept key, in `<out_dir>/<name>/`.

The arms of one cell run together, so that they share the base model they start from.
"""

from __future__ import annotations

import itertools
import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from .artefacts import key_of, without_unkeyed
from .config import ArmConfig, StudyConfig, apply_overrides, from_dict, to_dict
from .errors import ConfigError
from .eval.multiseed import aggregate_seeds
from .io import read_json, write_json
from .report import write_report
from .results import NAME as RESULTS, write_results
from .study import seed_config

log = logging.getLogger(__name__)
EXECUTORS = ("auto", "local", "slurm")
DONE = "done.json"  # written into a cell's directory when its study finished
# settings that decide how a cell runs, not what it measures: left out of its key, so that turning
# checkpoints on or another batch size resumes the same cells
OPERATIONAL = {"train": ("save_steps",), "eval": ("batch_size", "judge_batch_size", "cache", "cache_dir", "backend"),
               "": ("name", "out_dir", "threads", "stale")}


# keys added since cells were first keyed: left out at their defaults, so that a grid's finished
# cells keep their keys (as `world_spec` keeps the worlds')
ADDED = {"": ("data", "attacks"), "world": ("planted", "image_cue", "opener_draw"),
         "attack": ("rewriter", "rewriter_attempts")}


def measured(config: dict) -> dict:
    """A cell's resolved config without its operational settings and the added keys at their defaults,
    with what it runs resolved: the world's unsafe intents (`unsafe_on_hazard` [] is
    `WorldConfig.unsafe_intents`) and only the arms it trains (`run_order`, in the order of `arms`),
    so that a config that pins what an earlier default was keys the same cells."""
    spec = json.loads(json.dumps(config))
    default = to_dict(StudyConfig())
    try:
        study = from_dict(StudyConfig, config, "a grid cell")
    except ConfigError:  # a record this code cannot read is left as it is, and matches no cell
        study = None
    if study is not None:
        spec["world"]["unsafe_on_hazard"] = study.world.unsafe_intents
        runs = set(study.run_order())
        spec["arms"] = {name: arm for name, arm in spec["arms"].items() if name in runs}
        spec["run_arms"] = []  # the arms left are those that run
    for section, keys in OPERATIONAL.items():
        part = spec if not section else spec[section]
        for k in keys:
            part.pop(k, None)
    for section, keys in ADDED.items():
        part, base = (spec, default) if not section else (spec[section], default[section])
        for k in keys:
            if k in part and part[k] == base[k]:
                part.pop(k)
    if "arms" in spec:  # arm fields added later, as a model's key leaves them
        spec["arms"] = {name: without_unkeyed(arm, ArmConfig.UNKEYED_DEFAULTS) for name, arm in spec["arms"].items()}
    return spec


def cell_key(cell: StudyConfig) -> str:
    return key_of(measured(to_dict(cell)))


def cells(cfg: StudyConfig) -> list[tuple[dict[str, Any], int, StudyConfig]]:
    """(swept values, seed, the cell's study config) of every cell, in a fixed order."""
    seeds = cfg.seeds or [cfg.seed]
    keys = list(cfg.grid)
    if budgeted := [k for k in keys if k.split(".")[0] == "budget"]:
        raise ConfigError(f"grid: {budgeted} cannot be swept (every arm's budget is filled in when the config "
                          "loads); sweep arms.NAME.steps or arms.NAME.batch_size instead")
    out = []
    base = to_dict(replace(cfg, grid={}, seeds=[]))
    for combo in itertools.product(*(cfg.grid[k] for k in keys)):
        values = dict(zip(keys, combo))
        swept = from_dict(StudyConfig, apply_overrides(base, [f"{k}={_yaml(v)}" for k, v in values.items()]),
                          f"grid {values}")
        for seed in seeds:
            cell = seed_config(swept, seed)
            out.append((values, seed, replace(cell, name=f"{cfg.name}/cells/{cell_key(cell)}")))
    return out


def _yaml(value: Any) -> str:
    return json.dumps(value)  # JSON is YAML: the override parses back to the same value


def cell_dir(cell: StudyConfig) -> Path:
    return Path(cell.out_dir) / cell.name


def is_done(cell: StudyConfig) -> bool:
    done = cell_dir(cell) / DONE
    return done.is_file() and measured(read_json(done).get("config") or {}) == measured(to_dict(cell))


def run_cell(config: dict) -> str:
    """One cell's study (what a job runs); returns its run directory."""
    from .study import Study

    cell = from_dict(StudyConfig, config)
    run_dir = Study(cell, show_progress=False).run()
    write_json(run_dir / DONE, {"config": to_dict(cell)})
    return str(run_dir)


def executor(kind: str, folder: Path, timeout_min: int, slurm: dict[str, Any], gpus: int = 0):
    """A submitit executor: `local` processes (every cell at once), `slurm` jobs, or `auto` (SLURM
    where `srun` exists). Each cell gets `gpus` GPUs (submitit hides them all with 0)."""
    import submitit

    if kind not in EXECUTORS:
        raise ConfigError(f"unknown executor {kind!r}; one of {', '.join(EXECUTORS)}")
    ex = submitit.AutoExecutor(folder=folder, cluster=None if kind == "auto" else kind)
    ex.update_parameters(timeout_min=timeout_min, gpus_per_node=gpus,
                         **({f"slurm_{k}": v for k, v in slurm.items()} if ex.cluster == "slurm" else {}))
    return ex


def run_grid(cfg: StudyConfig, kind: str = "auto", timeout_min: int = 240, slurm: dict[str, Any] | None = None,
             announce=log.info, gpus: int = 0) -> list[Path]:
    """Submit the cells that are not done, wait for them, then write each group's aggregate report."""
    all_cells = cells(cfg)
    todo = [c for c in all_cells if not is_done(c[2])]
    announce(f"grid {cfg.name}: {len(all_cells)} cells, {len(all_cells) - len(todo)} done, {len(todo)} to run")
    if todo:
        ex = executor(kind, Path(cfg.out_dir) / cfg.name / "submitit", timeout_min, slurm or {}, gpus)
        jobs = [ex.submit(run_cell, to_dict(cell)) for _, _, cell in todo]
        for job, (values, seed, _) in zip(jobs, todo):
            announce(f"  cell {values or ''} seed {seed}: job {job.job_id}")
        failed = []
        for job, (values, seed, cell) in zip(jobs, todo):  # every job waited for, so none runs on unseen
            try:
                job.result()
            except Exception as e:  # noqa: BLE001  (a cell's error, with its log in the submitit folder)
                failed.append(f"cell {values or ''} seed {seed} ({cell_dir(cell)}): {str(e).strip().splitlines()[-1]}")
        if failed:
            raise ConfigError(f"{len(failed)} of {len(jobs)} cells failed (their logs are in "
                              f"{Path(cfg.out_dir) / cfg.name / 'submitit'}):\n  " + "\n  ".join(failed))
    return aggregate(cfg, all_cells)


def aggregate(cfg: StudyConfig, all_cells) -> list[Path]:
    """Per combination of swept values, the multi-seed results.json and report of its cells."""
    groups: dict[str, tuple[dict, dict[int, Path]]] = {}
    for values, seed, cell in all_cells:
        label = ",".join(f"{k}={v}" for k, v in values.items()).replace("/", "_")  # a hub id names no folder
        groups.setdefault(label, (values, {}))[1][seed] = cell_dir(cell)
    roots = []
    for label, (values, runs) in groups.items():
        root = Path(cfg.out_dir) / cfg.name / (f"grid/{label}" if label else "")
        config = to_dict(replace(cfg, grid={k: [v] for k, v in values.items()}))
        write_results(root / RESULTS, aggregate_seeds(runs, cfg.eval.bootstrap_seed, config, root))
        write_report(root)
        roots.append(root)
    return roots
