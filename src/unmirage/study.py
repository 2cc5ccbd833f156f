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
from dataclasses import replace
from pathlib import Path

import torch
from transformers import SchedulerType

from .arms import Arms
from .artefacts import key_of, record, recorded, staleness
from .attacks.audit import chosen_words, describe_words, write_audit
from .attacks.triggers import write_triggers
from .attacks.base import ATTACKS, ArmContext, QueryContext, make_attacks
from .attacks.image_audit import IMAGE_CLUSTERS, write_image_audit
from .attacks.one_word import left_out, read_attack_dir, write_attacks
from .config import StudyConfig, to_dict
from .data.cues import world_named_cue
from .data.layout import WORLD, DataDir, needed_files
from .data.records import Sample, by_group
from .errors import ConfigError
from .eval.gaps import study_gaps
from .eval.multiseed import aggregate_seeds
from .eval.runner import evaluate, make_judge, residual
from .methods.train import train_arm
from .io import read_json, write_json
from .judges import JUDGES
from .methods.base import METHODS
from .mixes import check_mix
from .models.load import load_model
from .provenance import library_versions, machine, stamp
from .registry import did_you_mean
from .report import write_report
from .report.properties import roles
from .results import NAME as RESULTS, check_results, read_results, study_results, write_results
from .world.build import build_world, world_stamp

log = logging.getLogger(__name__)
ARM_PARTS = ("arms", "timings", "arm_words", "artefacts")  # what results.json holds per arm


class Study:
    def __init__(self, cfg: StudyConfig, show_progress: bool = True, announce=log.info):
        if cfg.eval.cache and not cfg.eval.cache_dir and not os.environ.get("UNMIRAGE_CACHE"):
            cfg = replace(cfg, eval=replace(cfg.eval, cache_dir=str(Path(cfg.out_dir) / "cache")))
        self.cfg, self.show_progress = cfg, show_progress
        self.announce = announce  # where the run says what it chose (the CLI prints it)
        self.run_dir = Path(cfg.out_dir) / cfg.name
        self.data = DataDir(cfg.data_dir, spec=cfg.data) if cfg.data_dir else DataDir(self.run_dir / "world")
        self.arms = Arms(cfg, self.run_dir, self.data, show_progress)
        self.registered = make_attacks(cfg.attacks)  # their parameters checked before any work
        self.validate()

    def validate(self) -> None:
        """Fail on unknown methods, method parameters, mixes or judges before any work starts."""
        schedules = [s.value for s in SchedulerType]
        for name, arm in self.cfg.arms.items():
            if arm.method == "none":
                continue
            try:
                METHODS.get(arm.method)(arm.params)
            except ConfigError as e:
                raise ConfigError(f"arm {name}: {e}") from None
            check_mix(arm.method, arm.mix, f"arm {name}", arm.group_by_length)
            if arm.scheduler not in schedules:
                raise ConfigError(f"arm {name}: unknown scheduler {arm.scheduler!r}; one of {', '.join(schedules)}."
                                  + did_you_mean(arm.scheduler, schedules))
        JUDGES.get(self.cfg.eval.judge)
        if (needs := [a.name for a in self.registered if a.needs_base]) and "base" not in self.cfg.run_order():
            raise ConfigError(f"attack(s) {', '.join(needs)} compare each arm with the base arm: add base to "
                              "run_arms (or run every arm)")

    # ------------------------------------------------------------ stages
    def write_manifest(self) -> None:
        write_json(self.run_dir / "run.json", {
            **stamp(), "config": to_dict(self.cfg),
            "seeds": {"training": {name: self.cfg.arm(name).seed for name in self.cfg.run_order()},
                      "world": None if self.cfg.data_dir else self.cfg.world.seed,
                      "bootstrap": self.cfg.eval.bootstrap_seed},
            "torch": torch.__version__, "libraries": library_versions(), "machine": machine(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        })

    def world(self) -> None:
        if self.cfg.data_dir:
            self.data.check(self.trained_mixes())
            return
        stamp_path = self.data / WORLD
        if stamp_path.is_file() and read_json(stamp_path) == world_stamp(self.cfg.world):
            log.info("world already built in %s", self.data.root)
            return
        build_world(self.cfg.world, self.data.root)

    def load_data(self) -> None:
        self.sets = self.data.load(required=needed_files(self.trained_mixes()))

    def trained_mixes(self) -> set[str]:
        """The mixes the arms to run train on (an arm of method none trains on nothing)."""
        return {self.cfg.arms[a].mix for a in self.cfg.run_order() if self.cfg.arms[a].method != "none"}

    def words(self, audit: dict) -> dict:
        a = self.cfg.attack
        # control candidates unused by the safety set: the first words of the base data and of the test set
        vocabulary = [s.first_word for s in self.sets.corpus + self.sets.test if s.meta.get("kind") != "document"]
        # the second control's candidates: a v2 world's declared unseen openers (none on real data)
        declared = ((self.data.facts() or {}).get("openers") or {}).get("unseen") or []
        given = {"attack": a.attack_word, "refusal": a.refusal_word, "control": a.control_word, "unseen": a.unseen_word}
        words = chosen_words(audit, given, vocabulary, a.shots, declared)
        for line in describe_words(words):
            self.announce(line)
        return words

    def eval_splits(self, words: dict) -> dict[str, list[Sample]]:
        splits = by_group(self.sets.test)
        splits.update(self.attacks(words))
        if self.sets.utility:
            splits["utility"] = self.sets.utility
        if self.sets.utility_natural:
            splits["utility_natural"] = self.sets.utility_natural
        if self.sets.vqa:  # VQAv2-style questions, scored by the VQA accuracy
            splits["utility_vqa"] = self.sets.vqa
        return splits

    def attacks(self, words: dict) -> dict[str, list[Sample]]:
        """The attack splits, written to attacks/ with what they are made from (data, words,
        rewriter) in its artefact.json. Rule-based ones are remade every run (they take seconds);
        a model rewriter's are read back when that record matches, and made again when it does not."""
        out = self.run_dir / "attacks"
        one_word = ATTACKS.get("one_word")(to_dict(self.cfg.attack), self.cfg.model.trust_remote_code)
        rewriter = one_word.rewriter
        spec = {"data": key_of(self.arms.data_spec()), "words": words,
                "rewriter": "rules" if rewriter is None else rewriter.spec()}
        if rewriter is not None and staleness(out, spec) is None:
            log.info("attacks by %s already made in %s", self.cfg.attack.rewriter, out)
            return read_attack_dir(out)
        attacks = one_word.splits(QueryContext(self.sets.test, None, words, self.sets))
        write_attacks(attacks, out, rewriter)
        record(out, spec)
        for split, (n, of) in left_out(attacks, self.sets.test).items():
            if n:
                self.announce(f"{split}: {n} of {of} queries left out, too few of their rewrites pass the checks")
        return attacks

    def previous_results(self) -> dict[str, dict]:
        """The per-arm parts of an earlier run's results.json in this directory, without the arms
        whose models were made from another setup (their numbers would describe other models)."""
        old = read_results(self.run_dir) if (self.run_dir / RESULTS).is_file() else {}
        results = {part: dict(old.get(part) or {}) for part in ARM_PARTS}
        data_key = key_of(self.arms.data_spec())
        for name in list(results["arms"]):
            made = results["artefacts"].get(name, {})
            # an arm of this config must match its model's key; another (an earlier sweep's) at least the data's
            keep = (made.get("model") == key_of(self.arms.spec(name)) if name in self.cfg.arms
                    else made.get("data") == data_key)
            if not keep:
                log.warning("results.json: dropping arm %s, measured on a model of another setup", name)
            elif made.get("attacks") != self.attacks_key():
                log.warning("results.json: dropping arm %s, attacked with other registered attacks", name)
                keep = False
            elif bad := check_results({"arms": {name: results["arms"][name]}}):
                log.warning("results.json: dropping arm %s, whose results break the contract (%s)", name, bad[0])
                keep = False
            if not keep:
                for part in ARM_PARTS:
                    results[part].pop(name, None)
        return results

    # ------------------------------------------------------------ all of it
    def run(self) -> Path:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        retrain = self.arms.check_stale()  # before any work: a stale model stops the run here
        self.write_manifest()
        self.world()
        self.load_data()
        words = self.words(write_audit(self.sets.safety, self.run_dir))
        write_triggers(self.sets.safety, self.run_dir)  # triggers anywhere (triggers.json): chooses no word
        judge = make_judge(self.cfg.eval, self.data.root, self.data.images)
        splits = self.eval_splits(words)
        for attack in self.registered:  # the other registered attacks' queries (e.g. prefilled answers)
            query = QueryContext(self.sets.test, judge, words, self.sets, self.data.images, self.data.facts())
            splits.update(attack.splits(query))
            attack.prepare(query)  # what a per-arm attack needs, checked before any arm trains
        results = self.previous_results()
        for name in self.cfg.run_order():
            log.info("arm %s: training", name)
            started = time.time()
            resumed = self.arms.is_trained(name) and name not in retrain
            trained = self.arms.train(name, self.sets, retrain=name in retrain)
            model, processor = load_model(self.arms.path(name), self.cfg.model.trust_remote_code)
            if name == self.cfg.run_order()[0]:  # the model every other arm starts from
                self.image_audit(name, model, processor)
            log.info("arm %s: evaluating", name)
            metrics = evaluate(model, processor, splits, judge, self.data.images, self.run_dir / "eval" / name,
                               self.cfg.eval, self.cfg.model.max_length, self.show_progress)
            for attack in self.registered:  # per-arm attacks: relearning, alignment depth
                log.info("arm %s: attack %s", name, attack.name)
                metrics.update(attack.measure(self.arm_context(name, model, processor, judge, attack.name)))
            if trained:
                metrics["budget"] = trained["budget"]
            results["arms"][name] = metrics
            results["arm_words"][name] = words
            results["artefacts"][name] = {"data": key_of(self.arms.data_spec()), "model": key_of(self.arms.spec(name)),
                                          "answers": (recorded(self.run_dir / "eval" / name) or {}).get("key"),
                                          **({"attacks": self.attacks_key()} if self.registered else {})}
            if not (resumed and name in results["timings"]):  # a resumed arm keeps its first timing
                results["timings"][name] = round(time.time() - started, 1)
            # after every arm: a crash keeps finished arms
            write_results(self.run_dir / RESULTS, study_results(to_dict(self.cfg), words, **results))
        # only arms answered in this run: a kept arm's answers may come from another judge or setup
        headline = self.headline(splits, [a for a in self.cfg.run_order() if a in results["arms"]])
        if headline:
            write_results(self.run_dir / RESULTS, study_results(to_dict(self.cfg), words, **results, headline=headline))
        write_report(self.run_dir)
        return self.run_dir

    def image_audit(self, name: str, model, processor) -> None:
        """`image_audit.json` (attacks/image_audit.py) with arm `name`'s image features, when the
        world's safety set carries an image cue or the image-cue attack runs."""
        attack = next((a for a in self.registered if a.name == "image_cue"), None)
        named = world_named_cue(self.data.facts())
        if attack is None and named is None:
            return
        log.info("arm %s: image audit", name)
        write_image_audit(self.sets.safety, self.run_dir, model, processor, self.data.images, named,
                          attack.params.clusters if attack else IMAGE_CLUSTERS, self.cfg.seed, name)

    def attacks_key(self) -> str | None:
        """What the registered attacks an arm was measured with are (None: none)."""
        return key_of([a.spec() for a in self.registered]) if self.registered else None

    def arm_context(self, name: str, model, processor, judge, attack: str) -> ArmContext:
        """What a per-arm attack measures arm `name` with (attacks/base.py)."""
        images, cfg = self.data.images, self.cfg

        def answer(m, p, splits, out):
            return evaluate(m, p, splits, judge, images, out, cfg.eval, cfg.model.max_length, self.show_progress)

        def train(m, p, arm, samples, out):
            return train_arm(m, p, arm, samples, None, images, out, cfg.model, self.show_progress)

        return ArmContext(
            arm=name, model=model, processor=processor, model_key=key_of(self.arms.spec(name)), test=self.sets.test,
            sets=self.sets, judge=judge, image_root=images, out_dir=self.run_dir / "eval" / name / "attacks" / attack,
            eval=cfg.eval, model_cfg=cfg.model, seed=cfg.arm(name).seed,
            load=lambda: load_model(self.arms.path(name), cfg.model.trust_remote_code), evaluate=answer,
            residual=lambda m, p, unsafe: residual(m, p, unsafe, judge, images, cfg.model.max_length,
                                                      cfg.eval.scoring_rows()),
            train=train, base=lambda: load_model(self.arms.path("base"), cfg.model.trust_remote_code),
            is_base=name == "base")

    def headline(self, splits: dict[str, list[Sample]], measured: list[str]) -> dict:
        """The paper's headline gaps (`eval/gaps.py`) between this config's SFT arms (SFT on the
        safety set) and its unlearning arms, from their answers to this run's queries."""
        r = roles(to_dict(self.cfg))
        sft, mu = [n for n in r["sft"] if n in measured], [n for n in r["mu"] if n in measured]
        return study_gaps(self.run_dir / "eval", splits, sft, mu, self.cfg.eval.bootstrap_seed)


def seed_config(cfg: StudyConfig, seed: int) -> StudyConfig:
    """The study of one seed of a multi-seed study, in `<name>/seed_<seed>`: `seed` is its training
    seed and its bootstrap seed, and shifts the world's seed (unless the data is given)."""
    world = cfg.world if cfg.data_dir else replace(cfg.world, seed=cfg.world.seed + seed)
    return replace(cfg, name=f"{cfg.name}/seed_{seed}", seed=seed, seeds=[], world=world,
                   eval=replace(cfg.eval, bootstrap_seed=seed))


def run_study(cfg: StudyConfig, show_progress: bool = True, announce=log.info) -> Path:
    """Run the study; with `cfg.seeds`, one study per seed, then the mean ± std report in `<out_dir>/<name>`."""
    if cfg.grid:
        raise ConfigError("this config sweeps keys (grid: ...): run it with `unmirage grid`")
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
