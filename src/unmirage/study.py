"""The whole study, every arm: world → audit → attacks → train → eval → report.

Each stage writes files into the run directory before the next starts, and a rerun skips what
is already there (a built world, a saved model, answered samples), so a crash loses nothing.
"""

from __future__ import annotations

import logging
import subprocess
import time
from dataclasses import asdict
from pathlib import Path

import torch
from transformers import SchedulerType, set_seed

from . import __version__
from .attacks.audit import attack_words, write_audit
from .attacks.one_word import build_attacks, write_attacks
from .config import StudyConfig, to_dict
from .data.records import Sample, by_group
from .data.samples_io import read_samples
from .data.vlguard import load_vlguard
from .errors import ConfigError, DataError
from .registry import did_you_mean
from .eval import judges as _judges  # noqa: F401  (registers the keyword judge)
from .eval.runner import evaluate
from .io import read_json, write_json
from .judging import JUDGES
from .methods import npo as _npo, rmu as _rmu, sft as _sft  # noqa: F401  (register methods)
from .methods.base import METHODS
from .methods.train import train_arm
from .models.load import is_saved_model, load_model
from .models.tiny import build_model, build_processor, train_tokenizer
from .report import write_report
from .world import oracle as _oracle  # noqa: F401  (registers the oracle judge)
from .world.build import build_world

log = logging.getLogger(__name__)
IMAGE_ROOT = "images"


def git_hash() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=5).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class Study:
    def __init__(self, cfg: StudyConfig, show_progress: bool = True):
        self.cfg, self.show_progress = cfg, show_progress
        self.run_dir = Path(cfg.out_dir) / cfg.name
        self.data_dir = Path(cfg.data) if cfg.data else self.run_dir / "world"
        self.validate()

    def validate(self) -> None:
        """Fail on unknown methods, method parameters or judges before any work starts."""
        schedules = [s.value for s in SchedulerType]
        for name, arm in self.cfg.arms.items():
            try:
                METHODS.get(arm.method)(arm.params)
            except ConfigError as e:
                raise ConfigError(f"arm {name}: {e}") from None
            if arm.scheduler not in schedules:
                raise ConfigError(f"arm {name}: unknown scheduler {arm.scheduler!r}; one of {', '.join(schedules)}."
                                  + did_you_mean(arm.scheduler, schedules))
        JUDGES.get(self.cfg.eval.judge)

    # ------------------------------------------------------------ stages
    def write_manifest(self) -> None:
        write_json(self.run_dir / "run.json", {
            "version": __version__, "git": git_hash(), "config": to_dict(self.cfg),
            "seeds": {"study": self.cfg.seed, "world": self.cfg.world.seed, "rmu_direction": [
                a.params.get("seed", 0) for a in self.cfg.arms.values() if a.method == "rmu"]},
            "torch": torch.__version__, "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        })

    def world(self) -> None:
        if self.cfg.data:
            for name in ("train.json", "test.json", "corpus.jsonl", "forget.jsonl", "retain.jsonl"):
                if not (self.data_dir / name).is_file():
                    raise DataError(f"data directory {self.data_dir} lacks {name}; build one with `unmirage world`")
            return
        stamp = self.data_dir / "world.json"
        if stamp.is_file() and read_json(stamp) == asdict(self.cfg.world):
            log.info("world already built in %s", self.data_dir)
            return
        build_world(self.cfg.world, self.data_dir)

    def load_data(self) -> None:
        d = self.data_dir
        self.safety = load_vlguard(d / "train.json")
        self.test = load_vlguard(d / "test.json")
        self.corpus = read_samples(d / "corpus.jsonl")
        self.forget = read_samples(d / "forget.jsonl")
        self.retain = read_samples(d / "retain.jsonl")
        self.utility = read_samples(d / "utility.jsonl") if (d / "utility.jsonl").is_file() else []
        facts = d / "facts.json"
        self.paraphrases = list(read_json(facts)["phrasings"].values()) if facts.is_file() else None

    def words(self, audit: dict) -> dict:
        a = self.cfg.attack
        words = attack_words(audit, a.attack_word, a.refusal_word, a.control_word,
                             [s.first_word for s in self.corpus])
        user = bool(a.attack_word or a.refusal_word or a.control_word)
        return {**words, "shots": a.shots, "source": "user" if user else "audit"}

    def eval_splits(self, words: dict) -> dict[str, list[Sample]]:
        splits = by_group(self.test)
        attacks = build_attacks(self.test, words["attack"], words["refusal"], words["control"], words["shots"],
                                self.paraphrases, words["source"])
        write_attacks(attacks, self.run_dir / "attacks")
        splits.update(attacks)
        if self.utility:
            splits["utility"] = self.utility
        return splits

    def arm_data(self, name: str) -> tuple[list[Sample], list[Sample] | None]:
        arm = self.cfg.arms[name]
        if arm.data == "corpus":
            return self.corpus, None
        if arm.data == "corpus+safety":
            return self.corpus + self.safety * arm.safety_repeat, None
        if arm.data == "safety+retain":
            return self.safety + self.retain, None
        return self.forget, self.retain

    def fresh_model(self):
        texts = [s.instruction + " " + s.response for s in self.corpus + self.safety + self.test + self.forget]
        texts += [s.instruction for s in self.utility]
        tokenizer = train_tokenizer(texts)
        processor = build_processor(tokenizer, self.cfg.model, self.cfg.world.image_size)
        set_seed(self.cfg.seed)
        return build_model(tokenizer, self.cfg.model, self.cfg.world.image_size), processor

    def train(self, name: str) -> dict | None:
        out = self.run_dir / "models" / name
        if is_saved_model(out):
            log.info("arm %s: model already trained in %s", name, out)
            log_path = out / "train_log.json"
            return read_json(log_path) if log_path.is_file() else None
        arm = self.cfg.arms[name]
        if arm.init == "scratch":
            if self.cfg.model.name != "tiny":
                raise ConfigError(f"arm {name} starts from scratch, which needs model.name=tiny")
            model, processor = self.fresh_model()
        else:
            base = self.run_dir / "models" / "base"
            model, processor = load_model(base)
        main, retain = self.arm_data(name)
        return train_arm(model, processor, arm, main, retain, self.data_dir / IMAGE_ROOT, out, self.cfg.seed,
                         self.cfg.model.max_length, self.show_progress)

    # ------------------------------------------------------------ all of it
    def run(self) -> Path:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        self.write_manifest()
        self.world()
        self.load_data()
        audit = write_audit(self.safety, self.run_dir)
        words = self.words(audit)
        splits = self.eval_splits(words)
        judge = JUDGES.get(self.cfg.eval.judge)(self.data_dir)
        results_path = self.run_dir / "results.json"
        results = read_json(results_path) if results_path.is_file() else {}
        results.update({"version": __version__, "git": git_hash(), "config": to_dict(self.cfg), "words": words})
        results.setdefault("arms", {})
        results.setdefault("timings", {})
        arms = self.cfg.selected_arms()
        if "base" not in arms and any(self.cfg.arms[a].init == "base" for a in arms):
            arms = ["base"] + arms
        order = sorted(arms, key=lambda a: (a != "base", self.cfg.arms[a].init == "base"))
        for name in order:
            log.info("arm %s: training", name)
            started = time.time()
            record = self.train(name)
            model, processor = load_model(self.run_dir / "models" / name)
            log.info("arm %s: evaluating", name)
            metrics = evaluate(model, processor, splits, judge, self.data_dir / IMAGE_ROOT,
                               self.run_dir / "eval" / name, self.cfg.eval, self.cfg.model.max_length,
                               self.cfg.seed, self.show_progress)
            if record:
                metrics["budget"] = record["budget"]
            results["arms"][name] = metrics
            results["timings"][name] = round(time.time() - started, 1)
            write_json(results_path, results)  # after every arm: a crash keeps finished arms
        write_report(self.run_dir)
        return self.run_dir


def run_study(cfg: StudyConfig, show_progress: bool = True) -> Path:
    return Study(cfg, show_progress).run()
