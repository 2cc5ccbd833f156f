"""Stages on their own, as the commands run them: the audit of data files, the attack files of a
test set, one arm's training on a data directory, one model's evaluation. They resolve their config like the study (typed keys,
`--set` overrides) and read data through the same code (`data/layout.py`, `mixes.py`), so that a
mix or a key means the same here as in a study.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from accelerate import PartialState

from .attacks.audit import chosen_words, describe_words, write_audit
from .attacks.base import Attack, QueryContext, make_attacks
from .attacks.model_rewriter import make_rewriter
from .attacks.one_word import build_attacks, left_out, read_attacks, split_of_file, write_attacks
from .attacks.triggers import NAME as TRIGGERS, triggers
from .artefacts import key_of, without_unkeyed
from .config import (ArmConfig, BudgetConfig, DataConfig, ModelConfig, StudyConfig, TrainConfig, apply_overrides, from_dict,
                     load_config, to_dict)
from .data.layout import IMAGES, MIX_FILES, TEST, TRAIN, VQA, DataDir, DataSets
from .data.datasets import load_dataset
from .data.forget_retain import build_forget_retain, judge_score
from .data.records import GROUPS, Sample, by_group
from .data.samples_io import read_samples
from .data.vlguard import load_vlguard
from .errors import ConfigError, DataError
from .eval.keyword import is_refusal
from .io import numbered_jsonl, read_json, write_json, write_jsonl
from .eval.backends import make_generator
from .eval.runner import evaluate, judged, judged_metrics, make_judge, resolve_max_new_tokens
from .methods.base import METHODS
from .eval.cache import dir_fingerprint
from .methods.train import Checkpoints, remove_checkpoints, train_arm
from .mixes import PAIRED_MIX, check_mix, training_mix
from .models.load import load_model
from .results import NAME as RESULTS, check_split, study_results, write_results


def arm_config(method: str, overrides: list[str]) -> tuple[ArmConfig, ModelConfig, TrainConfig, DataConfig]:
    """The arm, model, training and data config of `unmirage train`: `model.*` overrides set the
    model config, `train.*` the training config, `data.*` how the data directory is read, the
    others the arm (its mix defaults to the method's kind: forget+retain for paired methods)."""
    model_sets = [s[len("model."):] for s in overrides if s.startswith("model.")]
    train_sets = [s[len("train."):] for s in overrides if s.startswith("train.")]
    data_sets = [s[len("data."):] for s in overrides if s.startswith("data.")]
    arm_sets = [s for s in overrides if not s.startswith(("model.", "train.", "data."))]
    base = {"method": method, "mix": PAIRED_MIX if METHODS.get(method).paired else "safety+retain", "seed": 0}
    arm = from_dict(ArmConfig, apply_overrides(base, arm_sets), "arm")
    if arm.seed is None:
        arm.seed = 0
    BudgetConfig().fill(arm)
    check_mix(arm.method, arm.mix, "unmirage train", arm.group_by_length)
    return (arm, from_dict(ModelConfig, apply_overrides({}, model_sets), "model"),
            from_dict(TrainConfig, apply_overrides({}, train_sets), "train"),
            from_dict(DataConfig, apply_overrides({}, data_sets), "data"))


def train_one(method: str, model_dir: Path, data_dir: Path, out: Path, overrides: list[str],
              show_progress: bool = True) -> dict:
    """Align the model in `model_dir` with `method` on the mix `arm.mix` of `data_dir`; save it to `out`."""
    arm, model_cfg, train_cfg, data_cfg = arm_config(method, overrides)
    data = DataDir(data_dir, spec=data_cfg)
    data.check([arm.mix], test=False)
    files = MIX_FILES[arm.mix]  # only the mix's own files are read
    main, retain = training_mix(arm.mix, data.load(names=files, required=files), arm.seed, arm.safety_repeat)
    model, processor = load_model(model_dir, model_cfg.trust_remote_code)
    # checkpoints beside `out`, keyed by what the model is made from: a rerun resumes only the same setup
    start = dir_fingerprint(model_dir) if Path(model_dir).is_dir() else str(model_dir)  # a model retrained in place is another
    key = key_of({"arm": without_unkeyed(to_dict(arm), ArmConfig.UNKEYED_DEFAULTS), "model": to_dict(model_cfg),
                  "start": start, "data": data.digests()})
    checkpoints = Checkpoints(Path(out).parent / f"{Path(out).name}.checkpoints" / key, train_cfg.save_steps)
    record = train_arm(model, processor, arm, main, retain, data.images, out, model_cfg, show_progress, checkpoints)
    remove_checkpoints(checkpoints)
    return record


def eval_config(overrides: list[str]) -> StudyConfig:
    """The config of `unmirage eval`: the study's keys (`eval.*`, `model.max_length`, `model.trust_remote_code`)."""
    return load_config(None, overrides)


def eval_one(model_dir: Path, data_dir: Path, out: Path, attacks: Path | None, overrides: list[str],
             show_progress: bool = True, source: "Source | None" = None) -> dict:
    """Every split of `data_dir`'s test set (and the attack files in `attacks`), answered by the model in
    `model_dir` and judged; answers go to `out/samples.jsonl`. Returns the metrics. A data
    directory's `vqa.json` is the split `utility_vqa`, scored by the VQA accuracy.

    With a `source` of another format, `data_dir` is a file of that format (or the folder its
    loader reads), whose images lie in `source.image_root`."""
    # `data.*` says how the data directory is read, as in a study
    cfg = eval_config([*overrides, f"data_dir={data_dir}"] if any(o.startswith("data.") for o in overrides)
                      else overrides)
    cfg = replace(cfg, model=replace(cfg.model, name=str(model_dir)))
    registered = make_attacks(cfg.attacks)  # query attacks only: the others need a study's arms and base
    if needs := [a.name for a in registered if type(a).measure is not Attack.measure]:
        raise ConfigError(f"attack(s) {', '.join(needs)} fine-tune or compare an arm with its base: run them in a "
                          "study (`unmirage run`); `unmirage eval` runs the attacks that rewrite queries")
    if source is not None and source.format is not None:
        if source.image_root is None:
            raise ConfigError(f"--format {source.format} needs --image-root, the folder its images' paths start from")
        data = DataDir(Path(data_dir).parent if Path(data_dir).is_file() else data_dir, source.image_root)
        splits = by_group(replace(source, check_images=True).load(data_dir))
    else:
        data = DataDir(data_dir, spec=cfg.data)
        splits = by_group(data.read(TEST))
        if data.has(VQA):  # VQAv2-style questions, scored by the VQA accuracy
            splits["utility_vqa"] = data.load(names=(VQA,)).vqa
    if attacks:
        for f in sorted(Path(attacks).glob("*.jsonl")):
            split = split_of_file(f)
            if why := check_split(split):  # before any answer, not when results.json is written
                raise DataError(f"{f}: {why}; name attack files SPLIT_at_ATTACK.jsonl (docs/results.md)")
            splits[split] = read_attacks(f)
    judge = make_judge(cfg.eval, data.root, data.images)
    if registered:  # the registered query attacks (prefilling, triggers, ...) of this test set
        test = [s for group in GROUPS for s in splits.get(group, [])]
        sets = data.load(names=(TRAIN,)) if source is None or source.format is None else DataSets(test=test)
        for attack in registered:
            splits.update(attack.splits(QueryContext(test, judge, {}, replace(sets, test=test), data.images,
                                                     data.facts())))
    model, processor = load_model(model_dir, cfg.model.trust_remote_code)
    metrics = evaluate(model, processor, splits, judge, data.images, out, cfg.eval, cfg.model.max_length,
                       show_progress)
    if PartialState().is_main_process:
        config = {"name": Path(model_dir).name, "data_dir": str(data_dir), "model": to_dict(cfg.model),
                  "eval": to_dict(cfg.eval)}
        write_results(Path(out) / RESULTS, study_results(config, {}, {Path(model_dir).name: metrics}, {}, {}, {}))
    return metrics


@dataclass(frozen=True)
class Source:
    """How to read a file of queries: its format (a registered dataset, or None: VLGuard JSON or
    samples JSONL by suffix), the loader's options, its image root and whether images are checked."""

    format: str | None = None
    options: tuple[tuple[str, Any], ...] = ()
    image_root: Path | None = None
    check_images: bool = False  # the text is enough to audit, attack or judge with the keyword judge

    def load(self, path: Path) -> list[Sample]:
        if self.format is None:
            return read_samples(path) if Path(path).suffix == ".jsonl" else load_vlguard(path)
        options = dict(self.options)
        if self.image_root is not None:
            options["image_root"] = self.image_root
        return load_dataset(self.format, path, check_images=self.check_images, **options)


def audit_files(paths: list[Path], out: Path, min_count: int | None, label: str, source: Source = Source(),
                ngrams: int = 2, fdr: float = 0.05) -> tuple[dict, dict]:
    """The audits of query files together, written to `out`: the first-word audit (audit.json)
    and the n-gram trigger audit (triggers.json, n-grams up to `ngrams`, BH at `fdr`). `label`:
    a query's group ('group') or what its response does ('response': a refusal or not)."""
    if label not in ("group", "response"):
        raise ConfigError(f"--label must be 'group' or 'response', got {label!r}")
    samples = [s for path in paths for s in source.load(path)]
    labels = [("refuse" if is_refusal(s.response) else "answer") for s in samples] if label == "response" else None
    found = triggers(samples, ngrams=ngrams, min_count=min_count, fdr=fdr, labels=labels)  # checks first
    result = write_audit(samples, out, min_count=min_count, labels=labels)
    write_json(Path(out) / TRIGGERS, found)
    return result, found


def attack_file(path: Path, out: Path, audit: Path | None, given: dict[str, str], shots: int,
                control_candidates: list[str], paraphrases: Path | None, announce=print,
                source: Source = Source(), rewriter: str = "rules", rewriter_attempts: int = 3,
                trust_remote_code: bool = False) -> dict[str, Path]:
    """The attack and rewrite splits of a test file, written to `out`: the words `given`
    (attack, refusal, control, and optionally unseen), those left empty taken from the audit.json
    `audit` (the unseen control only when given). `rewriter`: `rules` or `hf:MODEL` (`attack.rewriter`)."""
    model_rewriter = make_rewriter(rewriter, rewriter_attempts, trust_remote_code)  # a bad value fails first
    test = source.load(path)
    if audit is None and not all(given.get(k) for k in ("attack", "refusal", "control")):
        raise ConfigError("give --attack-word, --refusal-word and --control-word, or --audit audit.json")
    words = chosen_words(read_json(audit) if audit else None, given,
                         control_candidates or [s.first_word for s in test], shots)
    for line in describe_words(words):
        announce(line)
    table = list(read_json(paraphrases)["phrasings"].values()) if paraphrases else None
    splits = build_attacks(test, words["attack"], words["refusal"], words["control"], shots, table,
                           words["source"], words.get("unseen"), model_rewriter)
    paths = write_attacks(splits, out, model_rewriter)
    dropped = left_out(splits, test)
    for split, p in paths.items():
        n, of = dropped[split]
        announce(f"{split}: {len(splits[split])} queries -> {p}"
                 + (f" ({n} of {of} left out: too few of their rewrites pass the checks)" if n else ""))
    return paths


ANSWER_FIELDS = ("instruction", "answer")  # required; group, image, id, split, source_id, shot are optional


def read_answers(path: Path, queries: list[Sample] | None = None,
                 split: str | None = None) -> list[tuple[str, Sample, str]]:
    """(split, sample, answer) of each line of an answers JSONL (e.g. an eval's samples.jsonl).
    A line without a group counts as an unsafe query; without a split, its group is its split
    (as a study's unattacked splits are). With `queries`, each line names its query by `id` and
    takes its instruction, group and image from it; every query needs exactly one answer."""
    out = []
    by_id = {s.id: s for s in queries} if queries is not None else None
    for line, rec in numbered_jsonl(path, strict=True):
        where = f"{path}:{line}"
        if not isinstance(rec, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(rec).__name__}")
        if by_id is not None:
            query = by_id.get(str(rec.get("id")))
            if query is None:
                raise DataError(f"{where}: id {rec.get('id')!r} is no query of the queries file")
            if rec.get("instruction") not in (None, query.instruction):
                raise DataError(f"{where}: its instruction is not that of query {query.id!r}")
            rec = {"source_id": query.meta.get("source_id"), "shot": query.meta.get("shot"), "split": split, **rec,
                   "instruction": query.instruction, "group": query.group, "image": query.image}
        for key in ANSWER_FIELDS:
            if not isinstance(rec.get(key), str):
                raise DataError(f"{where}: field {key!r} must be a string (every line needs "
                                f"{' and '.join(ANSWER_FIELDS)})")
        group = rec.get("group") or "unsafes"
        if group not in GROUPS:
            raise DataError(f"{where}: group must be one of {list(GROUPS)}, got {group!r}")
        meta = {k: rec[k] for k in ("source_id", "shot") if rec.get(k) is not None}
        sample = Sample(id=str(rec.get("id") or f"line{line}"), image=rec.get("image") or "", group=group,
                        instruction=rec["instruction"], meta=meta)
        out.append((rec.get("split") or group, sample, rec["answer"]))
    if not out:
        raise DataError(f"{path}: holds no answers")
    keys = [(split, s.id) for split, s, _ in out]
    if len(set(keys)) != len(keys):
        raise DataError(f"{path}: a (split, id) pair occurs twice; every answer needs its own id within its split")
    if by_id is not None and (missing := sorted(set(by_id) - {s.id for _, s, _ in out})):
        raise DataError(f"{path}: no answer to {len(missing)} of the {len(by_id)} queries (first: {missing[0]!r})")
    return out


def judge_answers(path: Path, data_dir: Path | None, out: Path, overrides: list[str], name: str | None = None,
                  queries: Path | None = None, source: Source = Source()) -> dict:
    """Judge answers a model already gave (no model is loaded): verdicts to `out/samples.jsonl`,
    metrics to `out/results.json`, as `unmirage eval` writes them (without residual knowledge)."""
    cfg = eval_config(overrides)
    out = Path(out)
    if (out / "samples.jsonl").resolve() == Path(path).resolve():
        raise ConfigError(f"--out {out} would overwrite the answers being judged; give another directory")
    # an attack file (SPLIT_at_ATTACK.jsonl) names the split of its queries, and its shots keep their query
    attacked = split_of_file(queries) if queries is not None else None
    rows = read_answers(Path(path), source.load(queries) if queries is not None else None,
                        attacked if attacked and "@" in attacked else None)
    for split in {split for split, _, _ in rows}:
        if why := check_split(split):
            raise DataError(f"{path}: {why}")
    data = DataDir(data_dir if data_dir is not None else Path(path).parent, source.image_root)
    judge = make_judge(cfg.eval, data.root, data.images)
    pairs = [(split, s) for split, s, _ in rows]
    records = judged(pairs, [a for _, _, a in rows], judge)  # a judge batches its own work (the vlm judge)
    write_jsonl(out / "samples.jsonl", records)
    metrics = judged_metrics(records, pairs, judge, cfg.eval.bootstrap_seed)
    arm = name or Path(path).stem
    config = {"name": arm, "answers": str(path), "data_dir": str(data.root), "eval": to_dict(cfg.eval)}
    write_results(out / RESULTS, study_results(config, {}, {arm: metrics}, {}, {}, {}))
    return metrics


def forget_retain(data: Path, out: Path, fmt: str = "vlguard", image_root: Path | None = None,
                  answers_field: str | None = None, answers: Path | None = None, models: list[Path] = (),
                  general: list[Path] = (), retain_size: int | None = None, min_score: float | None = None,
                  overrides: list[str] = (), check_images: bool = True, announce=print) -> dict[str, Path]:
    """forget.jsonl and retain.jsonl in `out` from a safety set of any registered format.

    The harmful answers come from one source: a field of the records (`answers_field`, e.g.
    SPA-VL's `rejected`), a JSONL of `{id, answer}` (`answers`), or generator `models` whose answers
    the judge (`eval.judge`, default keyword) rates, keeping each query's most harmful. The retain
    set is the safe queries, topped up from `general` samples by seeded sampling (`seed`)."""
    cfg = eval_config(list(overrides) if any(o.startswith("eval.judge=") for o in overrides)
                      else ["eval.judge=keyword", *overrides])
    # a data directory keeps its images in images/; other formats have their loader's default root
    root = Path(image_root) if image_root else Path(data).parent / IMAGES if fmt == "vlguard" else None
    if models and not check_images:
        raise ConfigError("generator models need the images: drop --no-check-images")
    samples = load_dataset(fmt, data, check_images=check_images, **({"image_root": root} if root else {}))
    root = root or Path(data).parent
    if sum((answers_field is not None, answers is not None, bool(models))) != 1:
        raise ConfigError("give exactly one source of harmful answers: --answers-field, --answers or --model")
    if answers is not None:
        given = {}
        for line, rec in numbered_jsonl(answers, strict=True):
            if not isinstance(rec, dict) or not isinstance(rec.get("id"), str) or not isinstance(rec.get("answer"), str):
                raise DataError(f"{answers}:{line}: each line needs a string id and answer")
            given[rec["id"]] = rec["answer"]
        unsafe = [s for s in samples if s.group != "safe_safes"]
        missing = [s.id for s in unsafe if s.id not in given]
        if missing:
            raise DataError(f"{answers}: no answer for {len(missing)} of the {len(unsafe)} unsafe queries "
                            f"(first: {missing[0]!r}); its ids must be the data's sample ids")
        samples = [s.with_(meta={**s.meta, "given_answer": given[s.id]}) if s.id in given else s for s in samples]
        answers_field = "given_answer"
    generators, score = None, None
    if models:
        judge = make_judge(cfg.eval, Path(data).parent, root)
        score = judge_score(judge)
        generators = {}
        for path in models:
            model, processor = load_model(path, cfg.model.trust_remote_code)
            generator = make_generator(resolve_max_new_tokens(cfg.eval, processor, judge), model, processor, root)
            generators[str(path)] = lambda batch, g=generator, n=cfg.eval.rows(model): [
                a for i in range(0, len(batch), n) for a in g.generate(batch[i:i + n])]
    extra = [s for path in general for s in read_samples(path)]
    sets = build_forget_retain(samples, answers_field=answers_field, models=generators, score=score,
                               min_score=min_score, general=extra, retain_size=retain_size, seed=cfg.seed)
    if not sets.forget:
        raise DataError("the forget set is empty: every query's best answer scored below --min-score (the models "
                        "refused everything); nothing was written")
    paths = sets.write(out)
    announce(f"forget: {len(sets.forget)} samples -> {paths['forget']}")
    announce(f"retain: {len(sets.retain)} samples ({sum(s.group == 'safe_safes' for s in samples)} safe queries of the "
             f"data, {len(sets.retain) - sum(s.group == 'safe_safes' for s in samples)} general) -> {paths['retain']}")
    return paths
