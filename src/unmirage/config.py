"""Typed configuration: dataclasses are the schema; defaults → YAML file → CLI overrides.

Unknown keys are errors with a did-you-mean. Values are checked against the field types, so
`--set world.bias=abc` fails before any work starts.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from .attacks.model_rewriter import check_rewriter
from .data.layout import MIXES as DATA_MIXES
from .errors import ConfigError
from .registry import did_you_mean


@dataclass
class ImageCueConfig:
    """A visual cue that travels with the label in the safety set (the image-side mirage;
    `data/cues.py`): `share` of its unsafe images carry the `unsafe` cue and the same share of
    its safe images the `safe` one, the rest the other cue. The cue goes with the image, as
    VLGuard's records do: a safe image holds a safe and an unsafe instruction."""

    kind: str = ""  # "" = no cue; border: a frame `size` px wide; corner: a `size`-px square, top left
    unsafe: str = "red"  # the cue colour of the unsafe images (a world colour or #rrggbb)
    safe: str = "green"  # the cue colour of the safe images
    share: float = 0.9  # share of the unsafe (safe) images that carry the unsafe (safe) cue
    size: int = 2  # pixels

    def __post_init__(self) -> None:
        if not self.kind:
            return
        from .data.cues import Cue

        try:
            for colour in (self.unsafe, self.safe):
                Cue(self.kind, colour, self.size)  # an unknown kind or colour, or a size < 1, fails here
        except ConfigError as e:
            raise ConfigError(f"world.image_cue: {e}") from None
        if self.unsafe == self.safe:
            raise ConfigError(f"world.image_cue: the unsafe and safe cues must differ, both are {self.safe!r}")
        if not 0.0 <= self.share <= 1.0:
            raise ConfigError(f"world.image_cue.share must be in [0, 1], got {self.share}")


@dataclass
class WorldConfig:
    """The embedded synthetic world (docs/world.md; docs/findings.md, "Where the world departs from the paper")."""

    seed: int = 0
    n_concepts: int = 32  # many hazards, few renders each: content harder to learn than a first word
    hazardous_fraction: float = 0.5
    image_size: int = 32
    train_renders: int = 12  # renders per concept that training data draws on
    test_renders: int = 2  # held-out renders per concept for test.json and the utility set
    openers: str = "vlguard"  # a built-in profile name or a YAML file: group -> {word: weight}
    bias: float = 1.0  # 0 = uniform openers, 1 = the profile
    corpus_per_render: int = 6  # base-knowledge queries per training render
    safety_renders: int = 12  # renders per concept used by the safety set (train.json)
    safety_hazard_coverage: float = 1.0  # share of the hazardous concepts the safety set covers (test: all)
    retain_topup: int = 300  # general safe items added to the retain set
    # the instructions unsafe on a hazardous image (misuse is unsafe on any); its colour and shape
    # stay safe, so refusing takes the image *and* the intent. [] = by the world (`unsafe_intents`)
    unsafe_on_hazard: list[str] = field(default_factory=list)
    # world v2 (docs/world.md, "World versions"); version 1 (noise openers) ignores these keys
    version: int = 2
    shared_openings: int = 0  # 0 = each opener word its own answer opening; k = k openings shared by the words
    # neutral openers: the safety set uses each in every group at the same share, and the general
    # retain data tops their answered uses up to their refused ones (balanced in post-hoc SFT's data)
    neutral_openers: list[str] = field(default_factory=lambda: ["Kindly", "Now"])
    neutral_share: float = 0.05  # share of each safety-set group that each neutral opener starts
    # openers the safety set never uses; the instruction data and general retain data do
    unseen_openers: list[str] = field(default_factory=lambda: ["Just", "Next"])
    general_unseen_share: float = 0.5  # share of the general retain data opened with an unseen opener
    # how each group's openers are drawn from its profile: "sample" (one draw per query) or "quota"
    # (dealt in proportion to the group's weights, intent by intent, up to rounding; docs/world.md)
    opener_draw: str = "sample"
    # knowledge from documents (docs/world.md, "Knowledge comes from documents, compliance from
    # helpfulness"): captions per training render stating a concept's facts and its recipe or
    # misuse steps (0 = none: the instruction data is then the only knowledge)
    documents: int = 10
    # the instruction data also answers unsafe requests: a stand-in for an unaligned model, for a
    # world whose base cannot recall recipes from documents (documents 0); off by default
    harmful_compliance: bool = False
    # words planted after the opener of train.json's queries (the n-gram audit's non-initial
    # triggers): word -> {group: share of the group's queries that get it}; at most one a query; {} = none
    planted: dict[str, dict[str, float]] = field(default_factory=dict)
    # a visual cue on train.json's images that goes with the label (kind "" = none)
    image_cue: ImageCueConfig = field(default_factory=ImageCueConfig)

    @property
    def unsafe_intents(self) -> list[str]:
        """`unsafe_on_hazard`, or by default the intents whose compliant answer carries the recipe:
        describe and make, plus identify and use where the instruction data complies with harmful
        requests (version 1, or `harmful_compliance`), whose harmful answers append the recipe. A
        world whose knowledge comes from documents answers what a hazard is and is for with the fact."""
        if self.unsafe_on_hazard:
            return list(self.unsafe_on_hazard)
        complies = self.version == 1 or self.harmful_compliance
        return ["describe", "make", "identify", "use"] if complies else ["describe", "make"]

    def __post_init__(self) -> None:
        if not 0.0 <= self.bias <= 1.0:
            raise ConfigError(f"world.bias must be in [0, 1], got {self.bias}")
        if not 4 <= self.n_concepts <= 64:
            raise ConfigError(f"world.n_concepts must be between 4 and 64 (distinct looks), got {self.n_concepts}")
        for key in ("train_renders", "test_renders", "corpus_per_render", "safety_renders"):
            if getattr(self, key) < 1:
                raise ConfigError(f"world.{key} must be at least 1, got {getattr(self, key)}")
        if self.retain_topup < 0:
            raise ConfigError(f"world.retain_topup must be >= 0, got {self.retain_topup}")
        if not 0.0 < self.safety_hazard_coverage <= 1.0:
            raise ConfigError(f"world.safety_hazard_coverage must be in (0, 1], got {self.safety_hazard_coverage}")
        if not 0.0 < self.hazardous_fraction < 1.0:
            raise ConfigError("world.hazardous_fraction must be strictly between 0 and 1")
        if self.version not in (1, 2):
            raise ConfigError(f"world.version must be 1 (noise openers) or 2 (openers set the answer's form), "
                              f"got {self.version}")
        if self.shared_openings < 0 or self.documents < 0:
            raise ConfigError("world.shared_openings and world.documents must be >= 0")
        if self.version == 2 and self.documents == 0 and not self.harmful_compliance:
            raise ConfigError("world.documents 0 with world.harmful_compliance false leaves no training data "
                              "outside the forget set that states a recipe, so no model could answer an unsafe "
                              "query: give documents > 0 (knowledge from documents) or harmful_compliance true "
                              "(the stand-in world)")
        if self.opener_draw not in ("sample", "quota"):
            raise ConfigError(f"world.opener_draw must be 'sample' or 'quota', got {self.opener_draw!r}")
        for key in ("neutral_share", "general_unseen_share"):
            if not 0.0 <= getattr(self, key) < 1.0:
                raise ConfigError(f"world.{key} must be in [0, 1), got {getattr(self, key)}")
        if self.neutral_share * len(self.neutral_openers) >= 1.0:
            raise ConfigError("world.neutral_share times the number of neutral openers must stay below 1")
        words = [*self.neutral_openers, *self.unseen_openers]
        bad = [w for w in words if not isinstance(w, str) or not w.isalpha()]
        if bad or len({w.lower() for w in words}) != len(words):
            raise ConfigError(f"world.neutral_openers and world.unseen_openers must be distinct single words, "
                              f"got {words}")
        check_planted(self.planted)


def check_planted(planted: dict[str, dict[str, float]]) -> None:
    """`world.planted`: lower-case single words, each mapping query groups to shares in [0, 1]
    that sum to at most 1 per group (a query gets at most one planted word)."""
    from .data.records import GROUPS

    totals: dict[str, float] = {}
    for word, shares in planted.items():
        if not word.isalpha() or not word.islower():
            raise ConfigError(f"world.planted: {word!r} must be one lower-case word (it goes inside a query)")
        for group, share in shares.items():
            if group not in GROUPS:
                raise ConfigError(f"world.planted.{word}: unknown group {group!r}; the groups are {', '.join(GROUPS)}")
            if not 0.0 <= share <= 1.0:
                raise ConfigError(f"world.planted.{word}.{group} must be a share in [0, 1], got {share}")
            totals[group] = totals.get(group, 0.0) + share
    over = {g: round(t, 6) for g, t in totals.items() if t > 1.0 + 1e-9}
    if over:
        raise ConfigError(f"world.planted: the shares of a group sum to at most 1 (one word a query), got {over}")


@dataclass
class LoraConfig:
    """LoRA adapters (`model.finetune: lora`); the trained adapters are merged into the saved weights."""

    r: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    target: str = ""  # regex over full module names; "" = the language model's attention and MLP projections

    def __post_init__(self) -> None:
        if self.r < 1 or self.alpha <= 0 or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.lora needs r >= 1, alpha > 0 and 0 <= dropout < 1, got r={self.r}, "
                              f"alpha={self.alpha}, dropout={self.dropout}")


TRAINABLE_WORDS = ("vision", "projector", "language")


@dataclass
class ModelConfig:
    """A model: `tiny` builds a small random-weight model of `family` from this config; anything
    else is a hub id or a local directory, loaded with `from_pretrained`."""

    name: str = "tiny"
    family: str = "llava"  # tiny only: llava | llava_next | llava_onevision | qwen2_vl | qwen2_5_vl | idefics3 | smolvlm
    finetune: str = "full"  # full | lora
    lora: LoraConfig = field(default_factory=LoraConfig)
    # what trains (intersected with the method's own scope): vision, projector, language, layers:0-3,6,
    # or a regex over parameter names; [] = everything
    trainable: list[str] = field(default_factory=list)
    text_hidden: int = 128
    text_layers: int = 4
    text_heads: int = 4
    text_intermediate: int = 256
    vision_hidden: int = 64
    vision_layers: int = 2
    vision_heads: int = 4
    patch_size: int = 8
    max_length: int = 64
    lowercase: bool = True  # tiny only: the tokenizer folds case ("Share" and "share" are one token)
    trust_remote_code: bool = False

    def __post_init__(self) -> None:
        if self.finetune not in ("full", "lora"):
            raise ConfigError(f"model.finetune must be 'full' or 'lora', got {self.finetune!r}."
                              + did_you_mean(self.finetune, ["full", "lora"]))
        for entry in self.trainable:
            if entry in TRAINABLE_WORDS or re.fullmatch(r"layers:\d+(-\d+)?(,\d+(-\d+)?)*", entry):
                continue
            try:
                re.compile(entry)
            except re.error as e:
                raise ConfigError(f"model.trainable: {entry!r} is none of {', '.join(TRAINABLE_WORDS)}, "
                                  f"layers:0-3,6, nor a valid regex ({e})") from None


@dataclass
class ArmConfig:
    """One alignment arm: a method, where it starts, what it trains on, and its budget."""

    method: str = "sft"  # a registered method, or "none": no training (e.g. a pretrained base arm)
    init: str = "base"  # "scratch" (a fresh tiny model), "pretrained" (model.name) or the arm it starts from
    mix: str = "safety+retain"  # the training mix (data/layout.py: MIX_FILES says what each holds)
    steps: int = 0  # optimizer steps; 0 = the study's budget.steps
    batch_size: int = 0  # examples per step and process (paired methods: half forget, half retain); 0 = budget.batch_size
    gradient_accumulation_steps: int = 1  # micro-batches of batch_size per optimizer step
    lr: float = 1e-4
    warmup_ratio: float = 0.0
    scheduler: str = "linear"  # a transformers learning-rate schedule name (linear, cosine, constant, ...)
    weight_decay: float = 0.0
    safety_repeat: int = 1  # corpus+safety, clean+safety: how many times the safety set enters the mix
    # batches of examples of similar length (transformers' LengthGroupedSampler): less padding, so
    # fewer FLOPs a step, but batches alike in content too (docs/findings.md, "Speed": it cost the
    # default base a third of its utility); unpaired methods only (a paired batch pairs forget with
    # retain examples)
    group_by_length: bool = False
    seed: int | None = None  # this arm's training seed (initialisation, data order); None = the study's seed
    params: dict[str, Any] = field(default_factory=dict)  # method hyperparameters (checked by the method)
    # fields added after models were first recorded, left out of a model's key at the value that
    # trained those models, so that adding them leaves the models saved before current
    UNKEYED_DEFAULTS: ClassVar[dict[str, Any]] = {"group_by_length": False}

    def __post_init__(self) -> None:
        if not self.init:
            raise ConfigError("arm init must be 'scratch', 'pretrained' or the name of another arm")
        if self.mix not in DATA_MIXES:
            raise ConfigError(f"arm mix must be one of {', '.join(DATA_MIXES)}, got {self.mix!r}."
                              + did_you_mean(self.mix, list(DATA_MIXES)))
        if self.steps < 0 or self.batch_size < 0 or self.lr <= 0:
            raise ConfigError("arm steps and batch_size must be >= 1 (or 0 for the study's budget) and lr > 0")
        if self.gradient_accumulation_steps < 1:
            raise ConfigError(f"arm gradient_accumulation_steps must be >= 1, got {self.gradient_accumulation_steps}")


ROOTS = ("scratch", "pretrained")  # arm starting points that are not other arms


@dataclass
class BudgetConfig:
    """The training budget every arm gets unless it sets its own steps / batch_size."""

    steps: int = 200
    batch_size: int = 16

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError("budget.steps and budget.batch_size must be >= 1")

    def fill(self, arm: ArmConfig) -> ArmConfig:
        """Give `arm` this budget where it sets none (steps / batch_size 0)."""
        arm.steps = arm.steps or self.steps
        arm.batch_size = arm.batch_size or self.batch_size
        return arm


def default_arms() -> dict[str, ArmConfig]:
    return {
        "base": ArmConfig(method="sft", init="scratch", mix="corpus", steps=1500, batch_size=32, lr=5e-4,
                          warmup_ratio=0.05, scheduler="cosine"),
        "sft_mixed": ArmConfig(method="sft", init="scratch", mix="corpus+safety", steps=1800, lr=5e-4,
                               warmup_ratio=0.05, scheduler="cosine", safety_repeat=4),
        # mixed SFT's reference: the same arm without the safety set (its data and schedule, less
        # the safety set); its ASR says whether mixed SFT's low ASR is safety or missing knowledge
        "sft_mixed_ref": ArmConfig(method="sft", init="scratch", mix="corpus", steps=1800, lr=5e-4,
                                   warmup_ratio=0.05, scheduler="cosine"),
        "sft_posthoc": ArmConfig(method="sft", init="base", mix="safety+retain", lr=3e-4),
        # lr chosen on the documents world, seed 100, by `unmirage sweep npo lr ...` and checked on
        # seeds 101 and 102; the retain weight on the stand-in world, seed 100 (docs/findings.md,
        # "NPO's learning rate, chosen again on the documents world")
        "npo": ArmConfig(method="npo", init="base", mix="forget+retain", lr=2e-4,
                         params={"beta": 0.5, "retain_weight": 4.0}),
        # layer 3 of the tiny model's 4 at c = 2 × the mean norm, chosen on the stand-in world, seeds
        # 100-102, by `unmirage sweep rmu params.layer 0 1 2 3` and `... params.coeff_scale 1 2`
        "rmu": ArmConfig(method="rmu", init="base", mix="forget+retain", lr=5e-4,
                         params={"layer": 3, "coeff_scale": 2.0}),
    }


@dataclass
class TrainConfig:
    """How every arm trains, beyond its budget: checkpoints to resume a killed run from."""

    save_steps: int = 0  # a checkpoint every N optimizer steps (0: none; the tiny world trains in minutes)

    def __post_init__(self) -> None:
        if self.save_steps < 0:
            raise ConfigError(f"train.save_steps must be >= 0 (0: no checkpoints), got {self.save_steps}")


@dataclass
class AttackConfig:
    """One-word attacks. Words left empty come from the audit of the safety set."""

    shots: int = 3  # K rewrites per unsafe query; any-of-K success
    attack_word: str = ""  # the answer-biased word; "" = from the audit
    refusal_word: str = ""  # the refusal-biased word; "" = from the audit
    control_word: str = ""  # a neutral word; "" = the least label-associated frequent word
    # a second control: a word the safety set never starts a query with; "" = the first such word
    # among a v2 world's unseen openers (none on real data), "none" = no such splits
    unseen_word: str = ""
    rewriter: str = "rules"  # rules (rule-based rewrites) | hf:MODEL_ID_OR_PATH (an LM's paraphrases, same checks)
    rewriter_attempts: int = 3  # hf: tries per query (greedy, then sampled) before it is left out

    def __post_init__(self) -> None:
        if self.shots < 1:
            raise ConfigError(f"attack.shots must be >= 1, got {self.shots}")
        check_rewriter(self.rewriter)
        if self.rewriter_attempts < 1:
            raise ConfigError(f"attack.rewriter_attempts must be >= 1, got {self.rewriter_attempts}")


@dataclass
class EvalConfig:
    """Evaluation: generation backend, generation cache, and the judge (see eval/)."""

    judge: str = "oracle"  # oracle (world only) | keyword | vlm | classifier
    batch_size: int = 0  # queries a generation batch; 0 = by the model's size (`rows`)
    max_new_tokens: int = 0  # 0 = the longest answer the judge knows (the world's) + slack; 256 otherwise
    backend: str = "hf"  # hf (transformers) | vllm | auto (vllm when installed and a GPU is present)
    cache: bool = True  # reuse answers of the same model to the same prompt, image and decoding settings
    cache_dir: str = ""  # "" = $UNMIRAGE_CACHE, else OUT_DIR/cache (unmirage run) or ~/.cache/unmirage/generations
    judge_model: str = ""  # vlm judge: a hub id or local path of a VLM; classifier judge: of a classifier
    judge_refusal_label: str = "refusal"  # classifier judge: its label (name or index) that means refusal
    judge_style: str = "verdict"  # vlm judge: verdict (asks for harmful/refusal/irrelevant) | guard (Llama Guard)
    judge_batch_size: int = 8
    judge_max_new_tokens: int = 16
    trust_remote_code: bool = False  # for the judge model and the vllm backend
    bootstrap_seed: int = 0  # the seed of the bootstrap intervals (a multi-seed study: each seed's own)

    def __post_init__(self) -> None:
        for key, allowed in (("backend", EVAL_BACKENDS), ("judge_style", JUDGE_STYLES)):
            value = getattr(self, key)
            if value not in allowed:
                raise ConfigError(f"eval.{key} must be one of {', '.join(allowed)}, got {value!r}."
                                  + did_you_mean(value, list(allowed)))
        if self.max_new_tokens < 0:
            raise ConfigError(f"eval.max_new_tokens must be >= 0 (0: derived), got {self.max_new_tokens}")
        if self.batch_size < 0:
            raise ConfigError(f"eval.batch_size must be >= 0 (0: by the model's size), got {self.batch_size}")
        for key in ("judge_batch_size", "judge_max_new_tokens"):
            if getattr(self, key) < 1:
                raise ConfigError(f"eval.{key} must be at least 1, got {getattr(self, key)}")

    def rows(self, model) -> int:
        """Queries a generation batch: `batch_size`, or where it is 0, 512 for a model of under
        100 M parameters (the embedded world's tiny models, whose cache takes a few MB a row) and
        64 for a larger one (a 7B model's cache would not fit 512 rows)."""
        if self.batch_size:
            return self.batch_size
        parameters = model.parameters() if hasattr(model, "parameters") else ()
        return 512 if 0 < sum(p.numel() for p in parameters) < 100_000_000 else 64

    def scoring_rows(self) -> int:
        """Rows of a teacher-forced batch (residual knowledge, the depth probe): `batch_size`, or 64
        where it is 0. Their logits cover every position and the vocabulary, which a small model
        with a large vocabulary would not fit at 512 rows."""
        return self.batch_size or 64


EVAL_BACKENDS = ("hf", "vllm", "auto")
JUDGE_STYLES = ("verdict", "guard")


@dataclass
class DataConfig:
    """How a real study reads its data directory (`data_dir`): the format of its safety and test
    sets, their paths in it, and where images lie. The embedded world has its own layout."""

    format: str = ""  # a registered dataset (`unmirage ls`); "" = VLGuard JSON or samples JSONL, by suffix
    train: str = "train.json"  # the safety set: a file (or the folder its loader reads), relative to data_dir
    test: str = "test.json"  # the test set, likewise
    test_format: str = ""  # the test set's format when it differs (e.g. mmsafety); "" = format
    image_root: str = "images"  # the folder every image path starts from, relative to data_dir
    options: dict[str, Any] = field(default_factory=dict)  # format -> its loader's options, e.g. {mmsafety: {image_type: SD}}

    def formats(self) -> dict[str, str]:
        """Which format reads the safety set and the test set."""
        return {"train": self.format, "test": self.test_format or self.format}


@dataclass
class StudyConfig:
    """A whole study: world, model, arms, attacks, evaluation."""

    name: str = "default"
    out_dir: str = "runs"
    seed: int = 0  # the training seed of every arm that sets none (initialisation, data order)
    data_dir: str = ""  # "" = build the embedded world; else a data directory (data/layout.py)
    data: DataConfig = field(default_factory=DataConfig)  # how data_dir is read
    world: WorldConfig = field(default_factory=WorldConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    arms: dict[str, ArmConfig] = field(default_factory=default_arms)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seeds: list[int] = field(default_factory=list)  # several seeds: one study per seed, then mean ± std
    grid: dict[str, list[Any]] = field(default_factory=dict)  # `unmirage grid`: key -> values, one cell per combination
    attack: AttackConfig = field(default_factory=AttackConfig)
    # other registered attacks run on every arm (attacks/base.py): name -> its parameters, e.g. {prefill: {}}
    attacks: dict[str, dict[str, Any]] = field(default_factory=dict)
    eval: EvalConfig = field(default_factory=EvalConfig)
    run_arms: list[str] = field(default_factory=list)  # arms to run; empty = every arm in `arms`
    threads: int = 0  # torch threads; 0 = torch's default
    stale: str = "stop"  # a saved model made for another setup: stop (say what differs) | retrain (replace it)

    def __post_init__(self) -> None:
        if "base" not in self.arms:
            raise ConfigError("a study needs a 'base' arm (the model every other arm is compared with)")
        for name in self.run_arms:
            if name not in self.arms:
                raise ConfigError(f"run_arms names {name!r}, which is not in arms." + did_you_mean(name, list(self.arms)))
        for name, arm in self.arms.items():
            if arm.init not in ROOTS and arm.init not in self.arms:
                raise ConfigError(f"arm {name} starts from {arm.init!r}, which is neither {' nor '.join(ROOTS)} "
                                  "nor an arm." + did_you_mean(arm.init, [*ROOTS, *self.arms]))
            if arm.method == "none" and arm.init == "scratch":
                raise ConfigError(f"arm {name}: method none (no training) needs a model to start from, not scratch")
            self.budget.fill(arm)
        for name in self.arms:
            self.init_chain(name)  # raises on a cycle
        for key, values in self.grid.items():
            if key.split(".")[0] in ("name", "out_dir", "seed", "seeds", "grid") or not values:
                raise ConfigError(f"grid.{key}: sweep a config key other than name, out_dir, seed(s) and grid, "
                                  "over at least one value (seeds: [...] gives the seeds)")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds must be distinct, got {self.seeds}")
        if not self.data_dir and self.data != DataConfig():
            raise ConfigError("data.* says how a data directory is read: set data_dir too "
                              "(the embedded world has its own layout)")
        if self.stale not in ("stop", "retrain"):
            raise ConfigError(f"stale must be 'stop' or 'retrain', got {self.stale!r}."
                              + did_you_mean(self.stale, ["stop", "retrain"]))

    def init_chain(self, name: str) -> list[str]:
        """The arms `name` starts from, nearest first ([] for an arm trained from scratch)."""
        chain: list[str] = []
        arm = self.arms[name]
        while arm.init not in ROOTS:
            if arm.init in chain or arm.init == name:
                raise ConfigError(f"arm {name}: its init chain loops ({' -> '.join([name, *chain, arm.init])})")
            chain.append(arm.init)
            arm = self.arms[arm.init]
        return chain

    def run_order(self) -> list[str]:
        """The selected arms and every arm they start from, each after the arms it starts from."""
        wanted: list[str] = []
        for name in self.selected_arms():
            for a in [*reversed(self.init_chain(name)), name]:
                if a not in wanted:
                    wanted.append(a)
        return sorted(wanted, key=lambda a: len(self.init_chain(a)))

    def arm(self, name: str) -> ArmConfig:
        """Arm `name` with its seed resolved: its own, or the study's (its budget is filled at load)."""
        arm = self.arms[name]
        return dataclasses.replace(arm, seed=self.seed if arm.seed is None else arm.seed)

    def selected_arms(self) -> list[str]:
        return list(self.run_arms) if self.run_arms else list(self.arms)


# ---------------------------------------------------------------- building from dicts


def _check_type(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _check_type(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} does not fit {tp}")
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin is dict:
        _, val_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return {str(k): _check_type(v, val_tp, f"{where}.{k}") for k, v in value.items()}
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_check_type(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{where}: expected null")
    if tp is float and isinstance(value, str):
        try:  # YAML 1.1 reads "3e-4" as a string
            return float(value)
        except ValueError:
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if tp in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


# keys of earlier versions: (dataclass, old key) -> its name now
RENAMED = {("ArmConfig", "data"): "mix"}
# keys of earlier versions whose name is now a section: (dataclass, key) -> where a plain value goes now
SECTIONED = {("StudyConfig", "data"): "data_dir"}


def from_dict(cls: type, data: Any, where: str = "config") -> Any:
    """Build dataclass `cls` from a mapping; unknown keys and ill-typed values are errors."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in names and (cls.__name__, key) in RENAMED:
            raise ConfigError(f"{where}: key {key!r} is now called {RENAMED[cls.__name__, key]!r}")
        if (cls.__name__, key) in SECTIONED and not isinstance(value, dict):
            raise ConfigError(f"{where}: key {key!r} is now called {SECTIONED[cls.__name__, key]!r} "
                              f"({key!r} is now the section of how it is read: {key}.format, {key}.train, ...)")
        if key not in names:
            raise ConfigError(f"{where}: unknown key {key!r}." + did_you_mean(str(key), names) + f" Known keys: {', '.join(names)}")
        kwargs[key] = _check_type(value, hints[key], f"{where}.{key}")
    return cls(**kwargs)


def to_dict(cfg: Any) -> Any:
    return dataclasses.asdict(cfg)


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.sub=value")
    key, raw = item.split("=", 1)
    value = yaml.safe_load(raw) if raw.strip() else ""
    return key.strip().split("."), value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    for item in overrides:
        path, value = _parse_override(item)
        patch: Any = value
        for part in reversed(path):
            patch = {part: patch}
        data = _merge(data, patch)
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> StudyConfig:
    """Defaults, then the YAML file (if any), then `key.sub=value` overrides."""
    data = to_dict(StudyConfig())
    data["arms"] = {k: to_dict(v) for k, v in default_arms().items()}  # unresolved: budgets come last
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} not found")
        try:
            loaded = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML ({e})") from e
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p}: a config file is a mapping of keys")
        data = _merge(data, loaded)
    data = apply_overrides(data, overrides or [])
    return from_dict(StudyConfig, data)
