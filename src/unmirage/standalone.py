"""Stages on their own, as `unmirage train` and `unmirage eval` run them: one arm's training on a
data directory, one model's evaluation. They resolve their config like the study (typed keys,
`--set` overrides) and read data through the same code (`data/layout.py`, `mixes.py`), so that a
mix or a key means the same here as in a study.
"""

from __future__ import annotations

from pathlib import Path

from accelerate import PartialState

from .attacks.one_word import read_attacks
from .config import (ArmConfig, BudgetConfig, ModelConfig, StudyConfig, apply_overrides, from_dict, load_config,
                     to_dict)
from .data.layout import TEST, DataDir
from .data.records import by_group
from .eval.runner import evaluate, make_judge
from .methods.base import METHODS
from .methods.train import train_arm
from .mixes import PAIRED_MIX, check_mix, training_mix
from .models.load import load_model
from .results import NAME as RESULTS, study_results, write_results


def arm_config(method: str, overrides: list[str]) -> tuple[ArmConfig, ModelConfig]:
    """The arm and the model config of `unmirage train`: `model.*` overrides set the model config,
    the others the arm (its mix defaults to the method's kind: forget+retain for paired methods)."""
    model_sets = [s[len("model."):] for s in overrides if s.startswith("model.")]
    arm_sets = [s for s in overrides if not s.startswith("model.")]
    base = {"method": method, "mix": PAIRED_MIX if METHODS.get(method).paired else "safety+retain", "seed": 0}
    arm = from_dict(ArmConfig, apply_overrides(base, arm_sets), "arm")
    if arm.seed is None:
        arm.seed = 0
    BudgetConfig().fill(arm)
    check_mix(arm.method, arm.mix, "unmirage train")
    return arm, from_dict(ModelConfig, apply_overrides({}, model_sets), "model")


def train_one(method: str, model_dir: Path, data_dir: Path, out: Path, overrides: list[str],
              show_progress: bool = True) -> dict:
    """Align the model in `model_dir` with `method` on the mix `arm.mix` of `data_dir`; save it to `out`."""
    arm, model_cfg = arm_config(method, overrides)
    data = DataDir(data_dir)
    data.check([arm.mix], test=False)
    main, retain = training_mix(arm.mix, data.load(), arm.seed, arm.safety_repeat)
    model, processor = load_model(model_dir, model_cfg.trust_remote_code)
    return train_arm(model, processor, arm, main, retain, data.images, out, model_cfg, show_progress)


def eval_config(overrides: list[str]) -> StudyConfig:
    """The config of `unmirage eval`: the study's keys (`eval.*`, `model.max_length`, `model.trust_remote_code`)."""
    return load_config(None, overrides)


def eval_one(model_dir: Path, data_dir: Path, out: Path, attacks: Path | None, overrides: list[str],
             show_progress: bool = True) -> dict:
    """Every split of `data_dir`'s test set (and the attack files in `attacks`), answered by the model in
    `model_dir` and judged; answers go to `out/samples.jsonl`. Returns the metrics."""
    cfg = eval_config([f"model.name={model_dir}", *overrides])
    data = DataDir(data_dir)
    splits = by_group(data.read(TEST))
    if attacks:
        for f in sorted(Path(attacks).glob("*.jsonl")):
            splits[f.stem.replace("_at_", "@")] = read_attacks(f)
    model, processor = load_model(model_dir, cfg.model.trust_remote_code)
    judge = make_judge(cfg.eval, data.root, data.images)
    metrics = evaluate(model, processor, splits, judge, data.images, out, cfg.eval, cfg.model.max_length,
                       show_progress)
    if PartialState().is_main_process:
        write_results(Path(out) / RESULTS, study_results(to_dict(cfg), {},
                                                         {Path(model_dir).name: metrics}, {}, {}, {}))
    return metrics
