"""The whole study, every arm: world → audit → attacks → train → eval → report.

Each stage writes files into the run directory before the next starts, and a rerun skips what
is already there (a built world, a saved model, answered samples), so a crash loses nothing.
Every model and every set of answers records what determines it (`artefacts.py`): a rerun
reuses one only when that record matches, and otherwise stops (or, with `stale: retrain`,
trains again) rather than evaluate a model of another world.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
from accelerate import PartialState
from transformers import SchedulerType, set_seed

from .artefacts import key_of, record, recorded, staleness
from .attacks.audit import attack_words, describe_words, write_audit
from .attacks.one_word import build_attacks, write_attacks
from .config import ArmConfig, StudyConfig, apply_overrides, from_dict, to_dict
from .data.layout import WORLD, DataDir
from .data.records import Sample, by_group
from .errors import ConfigError
from .registry import did_you_mean
from .eval.runner import evaluate, make_judge
from .eval.multiseed import aggregate_seeds
from .io import read_json, write_json, write_text_atomic
from .mixes import check_mix, training_mix
from .provenance import library_versions, stamp
from .results import NAME as RESULTS, read_results, study_results, write_results
from .judges import JUDGES
from .methods.base import METHODS, params_dict
from .methods.train import train_arm
from .models.load import is_saved_model, load_model, model_from_config
from .report import write_report
from .report.sweep import sweep_markdown, sweep_row
from .world.build import build_world, world_stamp

log = logging.getLogger(__name__)


class Study:
    def __init__(self, cfg: StudyConfig, show_progress: bool = True, announce=log.info):
        self.cfg, self.show_progress = cfg, show_progress
        self.announce = announce  # where the run says what it chose (the CLI prints it)
        self.run_dir = Path(cfg.out_dir) / cfg.name
        if cfg.eval.cache and not cfg.eval.cache_dir and not os.environ.get("UNMIRAGE_CACHE"):
            cfg = replace(cfg, eval=replace(cfg.eval, cache_dir=str(Path(cfg.out_dir) / "cache")))
            self.cfg = cfg
        self.data = DataDir(cfg.data_dir if cfg.data_dir else self.run_dir / "world")
        self.validate()

    def validate(self) -> None:
        """Fail on unknown methods, method parameters or judges before any work starts."""
        schedules = [s.value for s in SchedulerType]
        for name, arm in self.cfg.arms.items():
            if arm.method == "none":
                continue
            try:
                METHODS.get(arm.method)(arm.params)
            except ConfigError as e:
                raise ConfigError(f"arm {name}: {e}") from None
            check_mix(arm.method, arm.mix, f"arm {name}")
            if arm.scheduler not in schedules:
                raise ConfigError(f"arm {name}: unknown scheduler {arm.scheduler!r}; one of {', '.join(schedules)}."
                                  + did_you_mean(arm.scheduler, schedules))
        JUDGES.get(self.cfg.eval.judge)

    # ------------------------------------------------------------ stages
    def write_manifest(self) -> None:
        write_json(self.run_dir / "run.json", {
            **stamp(), "config": to_dict(self.cfg),
            "seeds": {"training": {name: self.cfg.arm(name).seed for name in self.cfg.run_order()},
                      "world": None if self.cfg.data_dir else self.cfg.world.seed,
                      "bootstrap": self.cfg.eval.bootstrap_seed},
            "torch": torch.__version__, "libraries": library_versions(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        })

    def world(self) -> None:
        if self.cfg.data_dir:
            self.data.check({self.cfg.arms[a].mix for a in self.cfg.run_order()})
            return
        stamp = self.data / WORLD
        if stamp.is_file() and read_json(stamp) == world_stamp(self.cfg.world):
            log.info("world already built in %s", self.data.root)
            return
        build_world(self.cfg.world, self.data.root)

    def world_spec(self) -> dict:
        """What the data is: the world's config, or the digests of a given data directory's files."""
        if not self.cfg.data_dir:
            return {"world": asdict(self.cfg.world)}
        return {"data": self.data.digests()}

    def model_spec(self, name: str) -> dict:
        """What arm `name`'s model is made from: its resolved arm (its seed and its method's params
        with their defaults spelt out), the model config, the data's key and the key of the model
        it starts from."""
        arm = self.cfg.arm(name)
        if arm.method == "none":
            return {"pretrained": self.cfg.model.name} if arm.init == "pretrained" else self.model_spec(arm.init)
        start = ("scratch" if arm.init == "scratch" else {"pretrained": self.cfg.model.name}
                 if arm.init == "pretrained" else key_of(self.model_spec(arm.init)))
        resolved = {**to_dict(arm), "params": params_dict(METHODS.get(arm.method)(arm.params))}
        return {"arm": resolved, "model": to_dict(self.cfg.model),
                "data": key_of(self.world_spec()), "init": start}

    def stale_models(self) -> dict[str, list[str]]:
        """Arms of this run whose saved model was made from something else, with what differs."""
        out = {}
        for name in self.cfg.run_order():
            path = self.run_dir / "models" / name
            if self.cfg.arms[name].method != "none" and is_saved_model(path):
                diffs = staleness(path, self.model_spec(name))
                if diffs:
                    out[name] = diffs
        return out

    def check_stale(self) -> set[str]:
        """Stop on stale models (the default), or return the arms to train again (`stale: retrain`)."""
        stale = self.stale_models()
        if stale and self.cfg.stale != "retrain":
            lines = "\n".join(f"  {name}: " + "; ".join(d[:4]) + (" ..." if len(d) > 4 else "")
                               for name, d in stale.items())
            raise ConfigError(f"{self.run_dir} holds models trained for another setup:\n{lines}\n"
                              "Run under another name to keep both (--set name=NEW), or replace them "
                              "(--set stale=retrain).")
        for name, diffs in stale.items():
            log.warning("arm %s: its model was trained for another setup (%s); training it again", name, diffs[0])
        return set(stale)

    def load_data(self) -> None:
        self.sets = self.data.load()

    def words(self, audit: dict) -> dict:
        a = self.cfg.attack
        # control candidates unused by the safety set: the first words of the base data and of the test set
        vocabulary = [s.first_word for s in self.sets.corpus + self.sets.test]
        words = attack_words(audit, a.attack_word, a.refusal_word, a.control_word, vocabulary)
        user = bool(a.attack_word or a.refusal_word or a.control_word)
        words = {**words, "shots": a.shots, "source": "user" if user else "audit"}
        for line in describe_words(words):
            self.announce(line)
        return words

    def eval_splits(self, words: dict) -> dict[str, list[Sample]]:
        splits = by_group(self.sets.test)
        attacks = build_attacks(self.sets.test, words["attack"], words["refusal"], words["control"], words["shots"],
                                self.sets.paraphrases, words["source"])
        write_attacks(attacks, self.run_dir / "attacks")
        splits.update(attacks)
        if self.sets.utility:
            splits["utility"] = self.sets.utility
        return splits

    def arm_data(self, name: str) -> tuple[list[Sample], list[Sample] | None]:
        arm = self.cfg.arm(name)
        return training_mix(arm.mix, self.sets, arm.seed, arm.safety_repeat)

    def fresh_model(self, seed: int):
        sets = self.sets
        texts = [s.instruction + " " + s.response for s in sets.corpus + sets.safety + sets.test + sets.forget]
        texts += [s.instruction for s in sets.utility]
        set_seed(seed)
        return model_from_config(self.cfg.model, texts, self.cfg.world.image_size)

    def model_path(self, name: str) -> Path | str:
        """Where arm `name`'s model is: its directory under models/, or, for an arm without
        training (method none), the model it starts from (`model.name` for init pretrained)."""
        arm = self.cfg.arms[name]
        if arm.method != "none":
            return self.run_dir / "models" / name
        return self.cfg.model.name if arm.init == "pretrained" else self.model_path(arm.init)

    def train(self, name: str, retrain: bool = False) -> dict | None:
        arm = self.cfg.arm(name)
        if arm.method == "none":
            return None
        out = self.run_dir / "models" / name
        if is_saved_model(out) and not retrain:
            log.info("arm %s: model already trained in %s", name, out)
            log_path = out / "train_log.json"
            return read_json(log_path) if log_path.is_file() else None
        if arm.init == "scratch":
            if self.cfg.model.name != "tiny":
                raise ConfigError(f"arm {name} starts from scratch, which needs model.name=tiny; "
                                  "start real models from init: pretrained")
            model, processor = self.fresh_model(arm.seed)
        else:
            start = self.cfg.model.name if arm.init == "pretrained" else self.model_path(arm.init)
            if isinstance(start, Path) and not is_saved_model(start):
                raise ConfigError(f"arm {name} starts from arm {arm.init}, whose model is not in {start}")
            model, processor = load_model(start, self.cfg.model.trust_remote_code)
        main, retain = self.arm_data(name)
        log_record = train_arm(model, processor, arm, main, retain, self.data.images, out, self.cfg.model,
                               self.show_progress)
        state = PartialState()
        if state.is_main_process:
            record(out, self.model_spec(name))
        state.wait_for_everyone()
        return log_record

    def previous_results(self) -> dict[str, dict]:
        """The per-arm parts of an earlier run's results.json in this directory, without the arms
        whose models were made from another setup (their numbers would describe other models)."""
        old = read_results(self.run_dir) if (self.run_dir / RESULTS).is_file() else {}
        results = {key: dict(old.get(key) or {}) for key in ("arms", "timings", "arm_words", "artefacts")}
        data_key = key_of(self.world_spec())
        for name in list(results["arms"]):
            made = results["artefacts"].get(name, {})
            # an arm of this config must match its model's key; another (an earlier sweep's) at least the data's
            keep = (made.get("model") == key_of(self.model_spec(name)) if name in self.cfg.arms
                    else made.get("data") == data_key)
            if not keep:
                log.warning("results.json: dropping arm %s, measured on a model of another setup", name)
                for key in ("arms", "timings", "arm_words", "artefacts"):
                    results[key].pop(name, None)
        return results

    # ------------------------------------------------------------ all of it
    def run(self) -> Path:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        retrain = self.check_stale()  # before any work: a stale model stops the run here
        self.write_manifest()
        self.world()
        self.load_data()
        audit = write_audit(self.sets.safety, self.run_dir)
        words = self.words(audit)
        splits = self.eval_splits(words)
        judge = make_judge(self.cfg.eval, self.data.root, self.data.images)
        results = self.previous_results()
        for name in self.cfg.run_order():
            log.info("arm %s: training", name)
            started = time.time()
            trained_before = is_saved_model(self.run_dir / "models" / name) and name not in retrain
            trained = self.train(name, retrain=name in retrain)
            model, processor = load_model(self.model_path(name), self.cfg.model.trust_remote_code)
            log.info("arm %s: evaluating", name)
            metrics = evaluate(model, processor, splits, judge, self.data.images, self.run_dir / "eval" / name,
                               self.cfg.eval, self.cfg.model.max_length, self.show_progress)
            if trained:
                metrics["budget"] = trained["budget"]
            results["arms"][name] = metrics
            results["arm_words"][name] = words
            results["artefacts"][name] = {"data": key_of(self.world_spec()), "model": key_of(self.model_spec(name)),
                                          "answers": (recorded(self.run_dir / "eval" / name) or {}).get("key")}
            if not (trained_before and name in results["timings"]):  # a resumed arm keeps its first timing
                results["timings"][name] = round(time.time() - started, 1)
            # after every arm: a crash keeps finished arms
            write_results(self.run_dir / RESULTS, study_results(to_dict(self.cfg), words, **results))
        write_report(self.run_dir)
        return self.run_dir


def seed_config(cfg: StudyConfig, seed: int) -> StudyConfig:
    """The study of one seed of a multi-seed study, in `<name>/seed_<seed>`: `seed` is its training
    seed and its bootstrap seed, and shifts the world's seed (unless the data is given)."""
    world = cfg.world if cfg.data_dir else replace(cfg.world, seed=cfg.world.seed + seed)
    return replace(cfg, name=f"{cfg.name}/seed_{seed}", seed=seed, seeds=[], world=world,
                   eval=replace(cfg.eval, bootstrap_seed=seed))


def run_study(cfg: StudyConfig, show_progress: bool = True, announce=log.info) -> Path:
    """Run the study; with `cfg.seeds`, one study per seed, then the mean ± std report in `<out_dir>/<name>`."""
    if not cfg.seeds:
        return Study(cfg, show_progress, announce).run()
    root = Path(cfg.out_dir) / cfg.name
    runs = {}
    for seed in cfg.seeds:
        log.info("seed %d of %s", seed, cfg.seeds)
        runs[seed] = Study(seed_config(cfg, seed), show_progress, announce).run()
    write_results(root / RESULTS, aggregate_seeds(runs, cfg.eval.bootstrap_seed, to_dict(cfg)))
    write_report(root)
    return root


def sweep(cfg: StudyConfig, arm: str, key: str, values: list, show_progress: bool = True) -> Path:
    """Train and evaluate `arm` once per value of its config `key` (e.g. `params.layer` for RMU's
    layer), in the study's run directory (so the base model is shared), and write `sweep_<arm>.md`
    and `.json`: one row per value with the headline metrics (and RMU's calibrated coefficient)."""
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
    write_json(run_dir / f"sweep_{arm}.json", {"arm": arm, "key": key, "rows": rows})
    path = run_dir / f"sweep_{arm}.md"
    write_text_atomic(path, sweep_markdown(arm, key, rows))
    return path
