"""Build the embedded world on disk: images, VLGuard-format train/test, corpus, forget/retain,
utility set and facts.json. Deterministic from `WorldConfig.seed`."""

from __future__ import annotations

import logging
import random
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..config import WorldConfig
from ..data.layout import CORPUS, FACTS, FORGET, IMAGES, RETAIN, TEST, TRAIN, UTILITY, WORLD
from ..data.records import Sample
from ..data.samples_io import write_samples
from ..data.vlguard import samples_to_vlguard
from ..io import write_json
from .concepts import Concept, make_concepts
from .phrasing import (MISUSE_INTENT, PHRASINGS, REFUSALS, SAFE_INTENTS, Openers, check_unsafe_intents,
                       compliant_answer, fixed_words, is_unsafe, load_profile, steps)
from .render import render

log = logging.getLogger(__name__)
HAZARD_CATEGORY = "invented-hazard"
# bumped whenever the same config would build another world; world.json records it, so that a
# run directory holding a world of an older generator rebuilds it
GENERATOR = 2  # 2: invented words never equal a word of the world's own texts ("for", "not")


def world_stamp(cfg: WorldConfig) -> dict:
    """What world.json records: the config and the generator's version."""
    return {**asdict(cfg), "generator": GENERATOR}


class _Builder:
    def __init__(self, cfg: WorldConfig, out: Path):
        self.cfg, self.out = cfg, out
        self.rng = random.Random(cfg.seed)
        self.openers = Openers(load_profile(cfg.openers), cfg.bias)
        self.concepts = make_concepts(self.rng, cfg.n_concepts, cfg.hazardous_fraction,
                                      reserved=fixed_words() | set(self.openers.vocab))
        self.unsafe_intents = check_unsafe_intents(cfg.unsafe_on_hazard)
        self.images: dict[str, str] = {}  # relative path -> concept name
        self._n = 0

    def answer(self, c: Concept, intent: str) -> str:
        return compliant_answer(c, intent, self.unsafe_intents)

    def unsafe(self, c: Concept, intent: str) -> bool:
        return is_unsafe(c, intent, self.unsafe_intents)

    def safe_intents(self, c: Concept) -> list[str]:
        """The intents answered on this concept's images."""
        return [i for i in SAFE_INTENTS if not self.unsafe(c, i)]

    # ------------------------------------------------------------ images
    def render_all(self) -> None:
        for ci, c in enumerate(self.concepts):
            for split, n, code in (("train", self.cfg.train_renders, 0), ("test", self.cfg.test_renders, 1)):
                for j in range(n):
                    rel = f"{split}/{c.name}_{j}.png"
                    gen = np.random.default_rng([self.cfg.seed, ci, code, j])
                    path = self.out / IMAGES / rel
                    path.parent.mkdir(parents=True, exist_ok=True)
                    render(c, gen, self.cfg.image_size).save(path)
                    self.images[rel] = c.name

    # ------------------------------------------------------------ queries
    def query(self, group: str | None, intent: str) -> str:
        core = self.rng.choice(PHRASINGS[intent])
        return f"{self.openers.draw(self.rng, group)} {core}"

    def sample(self, prefix: str, image: str, group: str, instruction: str, response: str, c: Concept) -> Sample:
        self._n += 1
        return Sample(id=f"{prefix}-{self._n:05d}:{group}", image=image, group=group, instruction=instruction,
                      response=response, category=HAZARD_CATEGORY if group != "safe_safes" else None,
                      meta={"concept": c.name})

    def refusal(self) -> str:
        return self.rng.choice(REFUSALS)

    def corpus(self) -> list[Sample]:
        """Base knowledge: uniform openers, the model complies with every request."""
        out = []
        for c in self.concepts:
            intents = list(SAFE_INTENTS) + ([] if c.hazardous else list(MISUSE_INTENT))
            for j in range(self.cfg.train_renders):
                for _ in range(self.cfg.corpus_per_render):
                    intent = self.rng.choice(intents)
                    group = ("safe_safes" if not self.unsafe(c, intent) else
                             "safe_unsafes" if intent == "misuse" else "unsafes")
                    out.append(self.sample("corpus", f"train/{c.name}_{j}.png", group, self.query(None, intent),
                                           self.answer(c, intent), c))
        self.rng.shuffle(out)
        return out

    def safety_set(self, split: str, renders: range, all_intents: bool, coverage: float = 1.0) -> list[Sample]:
        """VLGuard-like records: refusals for unsafe queries, helpful answers for safe ones.

        `coverage` < 1 leaves the last hazardous concepts out, so that some hazards are met only
        at test time (as a real safety set cannot cover every hazard)."""
        hazardous = [c.name for c in self.concepts if c.hazardous]
        left_out = set(hazardous[max(1, round(coverage * len(hazardous))):])
        out = []
        for c in self.concepts:
            if c.name in left_out:
                continue
            for j in renders:
                image = f"{split}/{c.name}_{j}.png"
                # as in VLGuard, a hazardous image comes with unsafe instructions only
                pool = [i for i in SAFE_INTENTS if self.unsafe(c, i)] if c.hazardous else list(SAFE_INTENTS)
                intents = pool if all_intents else [self.rng.choice(pool)]
                for intent in intents:
                    rid = f"{split}-{c.name}-{j}-{intent}"
                    if c.hazardous:
                        out.append(Sample(f"{rid}:unsafes", image, "unsafes", self.query("unsafes", intent),
                                          self.refusal(), HAZARD_CATEGORY, {"concept": c.name}))
                    else:
                        out.append(Sample(f"{rid}:safe_safes", image, "safe_safes", self.query("safe_safes", intent),
                                          self.answer(c, intent), None, {"concept": c.name}))
                        out.append(Sample(f"{rid}:safe_unsafes", image, "safe_unsafes",
                                          self.query("safe_unsafes", "misuse"), self.refusal(), None,
                                          {"concept": c.name}))
        return out

    def general(self, n: int) -> list[Sample]:
        """General safe instruction data (the retain top-up): answered safe queries on training
        renders, with openers drawn like the safety set's safe queries (real general data, e.g.
        VQA, has an opener profile of its own, dominated by question words)."""
        out = []
        answerable = [c for c in self.concepts if self.safe_intents(c)]
        for _ in range(n):
            c = self.rng.choice(answerable)
            intent = self.rng.choice(self.safe_intents(c))
            image = f"train/{c.name}_{self.rng.randrange(self.cfg.train_renders)}.png"
            out.append(self.sample("general", image, "safe_safes", self.query("safe_safes", intent),
                                   self.answer(c, intent), c))
        return out

    def harmful_version(self, s: Sample) -> Sample:
        c = next(c for c in self.concepts if c.name == s.meta["concept"])
        intent = "misuse" if s.group == "safe_unsafes" else _intent(s.instruction)
        # the safety set's refusal of the same query rides along, for preference methods (DPO)
        return s.with_(response=self.answer(c, intent), meta={**s.meta, "refusal": s.response})

    def utility(self) -> list[Sample]:
        """Safe questions with exact answers, uniform openers: every intent that is safe on the
        concept's images (all of them on harmless concepts)."""
        out = []
        for c in self.concepts:
            for j in range(self.cfg.test_renders):
                for intent in self.safe_intents(c):
                    out.append(self.sample("utility", f"test/{c.name}_{j}.png", "safe_safes", self.query(None, intent),
                                           self.answer(c, intent), c))
        return out

    def facts(self) -> dict:
        concepts = {}
        for c in self.concepts:
            answers = {i: self.answer(c, i) for i in PHRASINGS if i != "misuse" or not c.hazardous}
            facts = {"identify": c.name, "colour": c.colour, "shape": c.shape, "use": c.use,
                     "describe": f"{c.colour} {c.shape} used for {c.use}", "make": steps(c.recipe)}
            concepts[c.name] = {**asdict(c), "facts": facts, "answers": answers,
                                "recipe_steps": steps(c.recipe), "misuse_steps": steps(c.misuse) if c.misuse else None}
        return {"concepts": concepts, "images": self.images, "phrasings": {k: list(v) for k, v in PHRASINGS.items()},
                "refusals": list(REFUSALS), "openers": {"vocab": self.openers.vocab, "dists": self.openers.dists}}


def _intent(instruction: str) -> str:
    from .phrasing import intent_of

    intent = intent_of(instruction)
    if intent is None:  # every world query ends with a known core
        raise ValueError(f"not a world query: {instruction!r}")
    return intent


def build_world(cfg: WorldConfig, out: str | Path) -> Path:
    """Write the world into `out` and return it. Same config and seed → identical files."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if (out / IMAGES).is_dir():  # a rebuild leaves no render of another world behind
        shutil.rmtree(out / IMAGES)
    b = _Builder(cfg, out)
    log.info("rendering %d concepts x %d renders", cfg.n_concepts, cfg.train_renders + cfg.test_renders)
    b.render_all()
    corpus = b.corpus()
    train = b.safety_set("train", range(min(cfg.safety_renders, cfg.train_renders)), all_intents=False,
                         coverage=cfg.safety_hazard_coverage)
    test = b.safety_set("test", range(cfg.test_renders), all_intents=True)
    forget = [b.harmful_version(s) for s in train if s.group != "safe_safes"]
    retain = [s for s in train if s.group == "safe_safes"] + b.general(cfg.retain_topup)
    write_json(out / TRAIN, samples_to_vlguard(train))
    write_json(out / TEST, samples_to_vlguard(test))
    write_samples(out / CORPUS, corpus)
    write_samples(out / FORGET, forget)
    write_samples(out / RETAIN, retain)
    write_samples(out / UTILITY, b.utility())
    write_json(out / FACTS, b.facts())
    write_json(out / WORLD, world_stamp(cfg))
    log.info("world: %d corpus, %d train, %d test samples in %s", len(corpus), len(train), len(test), out)
    return out
