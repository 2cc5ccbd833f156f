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
from ..data.cues import Cue, write_cued
from ..data.layout import CORPUS, FACTS, FORGET, IMAGES, RETAIN, TEST, TRAIN, UTILITY, UTILITY_NATURAL, WORLD
from ..data.records import REFUSE_GROUPS, Sample, first_word
from ..data.samples_io import write_samples
from ..data.vlguard import samples_to_vlguard
from ..errors import ConfigError
from ..io import write_json
from .concepts import Concept, make_concepts
from .phrasing import (MISUSE_INTENT, PHRASINGS, REFUSALS, SAFE_INTENTS, Openers, assign_openings,
                       check_unsafe_intents, compliant_answer, document, fixed_words, is_unsafe, load_profile,
                       core_of, steps, v2_words, CAPTION)
from .render import render

log = logging.getLogger(__name__)
HAZARD_CATEGORY = "invented-hazard"
# bumped whenever the same config would build another world; world.json records it, so that a
# run directory holding a world of an older generator rebuilds it
GENERATOR = 2  # 2: invented words never equal a word of the world's own texts ("for", "not")
# the same for what only a v2 world writes (openings, neutral openers, documents): recorded in a v2
# world's spec, so that its models too are made again when it changes
V2_GENERATOR = 3  # 2: a document states the steps and two other facts (fits model.max_length); 3: test.json
# holds no neutral opener
# the same for documents, recorded only in the spec of a world that has them (`world.documents` > 0),
# so that a world without documents keeps its key
DOCUMENTS_GENERATOR = 2  # 2: some phrasings refer to the object as "it" (1: by its name only)
# the same for the general data's openers, recorded only in the spec of a v2 world with `world.bias` < 1
# (at bias 1 the draw is the same as before), so that every world at bias 1 keeps its key
NATURAL_GENERATOR = 2  # 2: the general data and natural utility follow world.bias (1: the profile's weights)
# the same for `world.opener_draw: quota`, recorded only in the spec of a world that deals its openers
OPENER_QUOTA = 2  # 2: intent by intent within each group (1: each group as a whole)


# the keys of world v2, which a version-1 world does not read
V2_KEYS = ("version", "shared_openings", "neutral_openers", "neutral_share", "unseen_openers",
           "general_unseen_share", "documents", "harmful_compliance", "opener_draw")


def world_spec(cfg: WorldConfig) -> dict:
    """What decides the world: its config, less the v2 keys in a version-1 world (so that a world
    of version 1, and every model trained on it, keeps the key it had before version 2 existed)."""
    spec = {**asdict(cfg), "unsafe_on_hazard": cfg.unsafe_intents}  # as built, and as before it had a default by world
    if not cfg.planted:  # a world without planted words keeps the key it had before they existed
        del spec["planted"]
    if not cfg.image_cue.kind:  # and one without an image cue the key it had before cues existed
        del spec["image_cue"]
    if cfg.opener_draw == "sample":  # and one that draws its openers the key it had before quotas existed
        del spec["opener_draw"]
    else:  # the dealing's version: 1 dealt each group as a whole, 2 intent by intent
        spec["opener_quota"] = OPENER_QUOTA
    if cfg.version == 1:
        return {k: v for k, v in spec.items() if k not in V2_KEYS}
    spec = {**spec, "v2_generator": V2_GENERATOR}
    if cfg.bias < 1:
        spec["natural_generator"] = NATURAL_GENERATOR
    return {**spec, "documents_generator": DOCUMENTS_GENERATOR} if cfg.documents else spec


def world_stamp(cfg: WorldConfig) -> dict:
    """What world.json records: the config and the generator's version."""
    return {**world_spec(cfg), "generator": GENERATOR}


def reopen(s: Sample, word: str, openings: dict[str, str]) -> Sample:
    """`s` of a v2 world asked with opener `word`: its answer's opening follows the word (`openings`,
    as `facts.json` records them); a refusal keeps its text."""
    instruction = f"{word} {core_of(s.instruction)}"
    response = s.response
    if s.response and s.response not in REFUSALS:
        response = f"{openings[word]} {s.response[len(openings[s.first_word]) + 1:]}"
    return s.with_(instruction=instruction, response=response)


class _Builder:
    def __init__(self, cfg: WorldConfig, out: Path):
        self.cfg, self.out = cfg, out
        self.v2 = cfg.version >= 2
        self.rng = random.Random(cfg.seed)
        profile = load_profile(cfg.openers)
        self.openers = Openers(profile, cfg.bias)
        reserved = fixed_words() | set(self.openers.vocab)
        self.neutral, self.unseen = (list(cfg.neutral_openers), list(cfg.unseen_openers)) if self.v2 else ([], [])
        if self.v2:
            clash = sorted({w.lower() for w in self.neutral + self.unseen} & {w.lower() for w in self.openers.vocab})
            if clash:
                raise ConfigError(f"world: neutral or unseen openers {clash} are words of the profile "
                                  f"{cfg.openers!r}; a neutral opener must be a word the profile does not use")
            reserved |= v2_words() | set(self.neutral) | set(self.unseen)
        # the words the instruction data opens with: the profile's, plus (v2) the neutral and unseen ones
        self.vocab = sorted(set(self.openers.vocab) | set(self.neutral) | set(self.unseen))
        self.planted = dict(cfg.planted)
        if self.planted:
            query_words = {w for cores in PHRASINGS.values() for c in cores for w in c.split()}
            clash = sorted(set(self.planted) & (query_words | {w.lower() for w in self.vocab}))
            if clash:
                raise ConfigError(f"world.planted: {clash} are words of the world's queries (openers or core "
                                  "phrasings); a planted word must be new to them, so that its uses are its own")
            reserved |= set(self.planted)
        self.openings = assign_openings(self.vocab, cfg.seed, cfg.shared_openings) if self.v2 else {}
        # `world.opener_draw: quota` deals the groups' openers again from an RNG of its own, so that
        # the rest of the world is drawn as without it
        self.quota = random.Random(f"opener-quota-{cfg.seed}") if self.v2 and cfg.opener_draw == "quota" else None
        self.concepts = make_concepts(self.rng, cfg.n_concepts, cfg.hazardous_fraction, reserved=reserved)
        self.unsafe_intents = check_unsafe_intents(cfg.unsafe_intents)
        self.images: dict[str, str] = {}  # relative path -> concept name
        self.cued: dict[str, dict[str, str]] = {}  # a cued copy's path -> its cue, colour and source image
        self._n = 0

    def answer(self, c: Concept, intent: str, instruction: str) -> str:
        """The compliant answer; in a v2 world it opens with the opening of the query's first word."""
        plain = compliant_answer(c, intent, self.unsafe_intents)
        return f"{self.openings[first_word(instruction)]} {plain}" if self.v2 else plain

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
        """A query: an opener drawn for `group` (None: uniformly over the instruction data's words)
        and a core phrasing of `intent`."""
        core = self.rng.choice(PHRASINGS[intent])
        opener = self.rng.choice(self.vocab) if group is None and self.v2 else self.openers.draw(self.rng, group)
        return f"{opener} {core}"

    def natural_query(self, intent: str) -> str:
        """A query with an opener of the answered group, drawn as the safety set's safe queries draw
        theirs (the profile's at `world.bias` 1, as VQA questions mostly start with question words;
        uniform at 0), so that world.bias reaches the general data and natural utility too."""
        core = self.rng.choice(PHRASINGS[intent])
        return f"{self.openers.draw(self.rng, 'safe_safes')} {core}"

    def sample(self, prefix: str, image: str, group: str, instruction: str, response: str, c: Concept) -> Sample:
        self._n += 1
        return Sample(id=f"{prefix}-{self._n:05d}:{group}", image=image, group=group, instruction=instruction,
                      response=response, category=HAZARD_CATEGORY if group != "safe_safes" else None,
                      meta={"concept": c.name})

    def refusal(self) -> str:
        return self.rng.choice(REFUSALS)

    def corpus(self) -> list[Sample]:
        """Base knowledge: instruction data with uniform openers, complying with every request (or,
        without `harmful_compliance`, answering the safe ones only), and (v2) documents."""
        out = []
        for c in self.concepts:
            intents = list(SAFE_INTENTS) + ([] if c.hazardous else list(MISUSE_INTENT))
            if self.v2 and not self.cfg.harmful_compliance:
                intents = [i for i in intents if not self.unsafe(c, i)]
            for j in range(self.cfg.train_renders):
                image = f"train/{c.name}_{j}.png"
                for _ in range(self.cfg.corpus_per_render if intents else 0):
                    intent = self.rng.choice(intents)
                    group = ("safe_safes" if not self.unsafe(c, intent) else
                             "safe_unsafes" if intent == "misuse" else "unsafes")
                    instruction = self.query(None, intent)
                    out.append(self.sample("corpus", image, group, instruction, self.answer(c, intent, instruction), c))
                for _ in range(self.cfg.documents if self.v2 else 0):
                    # a caption: no request, so it is nobody's compliance; it is where the knowledge lives
                    doc = self.sample("document", image, "safe_safes", CAPTION, document(c, self.rng), c)
                    out.append(doc.with_(meta={**doc.meta, "kind": "document"}))
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
                        q = self.query("safe_safes", intent)
                        out.append(Sample(f"{rid}:safe_safes", image, "safe_safes", q, self.answer(c, intent, q),
                                          None, {"concept": c.name}))
                        out.append(Sample(f"{rid}:safe_unsafes", image, "safe_unsafes",
                                          self.query("safe_unsafes", "misuse"), self.refusal(), None,
                                          {"concept": c.name}))
        # the neutral openers are the training data's (the balanced control): the test set keeps the
        # profile, as VLGuard's does, and the control splits ask its queries with them
        return self.deal(self.place_neutral(out) if self.v2 and split == "train" else out)

    def reopen(self, s: Sample, word: str) -> Sample:
        return reopen(s, word, self.openings)

    def place_neutral(self, samples: list[Sample]) -> list[Sample]:
        """Each neutral opener starts exactly `neutral_share` of every group's queries (drawn
        positions), so that the safety set uses it as often under refusals as under answers."""
        out = list(samples)
        for group in sorted({s.group for s in out}):
            idx = [i for i, s in enumerate(out) if s.group == group]
            self.rng.shuffle(idx)
            k = round(self.cfg.neutral_share * len(idx))
            for n, word in enumerate(self.neutral):
                for i in idx[n * k:(n + 1) * k]:
                    out[i] = self.reopen(out[i], word)
        return out

    def deal(self, samples: list[Sample]) -> list[Sample]:
        """With `world.opener_draw: quota`, `samples` with the openers drawn from their group's
        profile dealt again in proportion to it (`Openers.deal`), group by group and, within a
        group, intent by intent; the neutral and unseen openers stay where they are. Otherwise
        `samples` as they are."""
        if self.quota is None:
            return samples
        out, kept = list(samples), set(self.neutral) | set(self.unseen)
        for group in sorted({s.group for s in out}):
            strata: dict[str, list[int]] = {}  # the group's queries per intent, in intent order
            for i, s in enumerate(out):
                if s.group == group and s.first_word not in kept:
                    strata.setdefault(_intent(s.instruction), []).append(i)
            intents = sorted(strata)
            for intent, words in zip(intents, self.openers.deal(self.quota, group, [len(strata[k]) for k in intents])):
                for i, word in zip(strata[intent], words):
                    out[i] = self.reopen(out[i], word)
        return out

    def plant(self, samples: list[Sample]) -> list[Sample]:
        """`samples` with the planted words put after the opener (`world.planted`): each query of a
        group gets word w with probability w's share there, at most one word, drawn from an
        RNG of its own (the rest of the world is drawn as without them)."""
        rng = random.Random(f"planted-{self.cfg.seed}")
        out = []
        for s in samples:
            u, total = rng.random(), 0.0
            for word in sorted(self.planted):
                total += self.planted[word].get(s.group, 0.0)
                if u < total:
                    s = s.with_(instruction=f"{s.instruction.split()[0]} {word} {core_of(s.instruction)}")
                    break
            out.append(s)
        return out

    def cue_images(self, samples: list[Sample]) -> list[Sample]:
        """`samples` with their images replaced by cued copies (`world.image_cue`). The cue goes
        with the image, as VLGuard's records do (a safe image holds a safe and an unsafe
        instruction): exactly `share` of the unsafe images (drawn positions, from an RNG of its
        own) carry the unsafe cue and the rest the safe one, and the other way round for the safe
        images. The renders stay as they are: other sets use them."""
        cfg = self.cfg.image_cue
        rng = random.Random(f"image-cue-{self.cfg.seed}")
        cues = {role: Cue(cfg.kind, colour, cfg.size) for role, colour in (("unsafe", cfg.unsafe), ("safe", cfg.safe))}
        records: dict[str, list[int]] = {}  # a VLGuard record (one image) -> its samples' positions
        for i, s in enumerate(samples):
            records.setdefault(s.id.rsplit(":", 1)[0], []).append(i)
        out = list(samples)
        for unsafe in (True, False):
            ids = [r for r, idx in records.items() if any(samples[i].group == "unsafes" for i in idx) == unsafe]
            rng.shuffle(ids)
            k = round(cfg.share * len(ids))
            own, other = ("unsafe", "safe") if unsafe else ("safe", "unsafe")
            for n, rid in enumerate(ids):
                role, source = own if n < k else other, samples[records[rid][0]].image
                rel = write_cued(self.out / IMAGES, source, cues[role])
                self.images[rel] = self.images[source]
                self.cued[rel] = {"cue": role, "colour": cues[role].colour, "source": source}
                for i in records[rid]:
                    out[i] = out[i].with_(image=rel)
        return out

    def general(self, n: int, safety: list[Sample] = ()) -> list[Sample]:
        """General safe instruction data (the retain top-up): answered safe queries on training
        renders. Version 1 draws openers like the safety set's safe queries. Version 2 draws a
        natural profile: the answered group's openers (its profile, mixed with uniform by
        `world.bias` as the safety set's are), `general_unseen_share` of unseen openers,
        and each neutral opener as often as makes post-hoc SFT's data (`safety` plus the retain
        set: the safety set's safe queries and this data) use it as often under refusals as under
        answers."""
        out = []
        answerable = [c for c in self.concepts if self.safe_intents(c)]
        for _ in range(n):
            c = self.rng.choice(answerable)
            intent = self.rng.choice(self.safe_intents(c))
            image = f"train/{c.name}_{self.rng.randrange(self.cfg.train_renders)}.png"
            if not self.v2:
                q = self.query("safe_safes", intent)
            elif self.unseen and self.rng.random() < self.cfg.general_unseen_share:
                q = f"{self.rng.choice(self.unseen)} {self.rng.choice(PHRASINGS[intent])}"
            else:
                q = self.natural_query(intent)
            out.append(self.sample("general", image, "safe_safes", q, self.answer(c, intent, q), c))
        if self.v2:
            free = [i for i, s in enumerate(out) if s.first_word not in self.unseen]
            self.rng.shuffle(free)
            for word in self.neutral:
                refused = sum(s.first_word == word for s in safety if s.group in REFUSE_GROUPS)
                answered = 2 * sum(s.first_word == word for s in safety if s.group == "safe_safes")
                k = max(0, refused - answered)
                if answered > refused:  # answers can be added, not taken away
                    log.warning("world: the neutral opener %r has %d answered uses against %d refused ones in "
                                "post-hoc SFT's data (the safety set's groups differ in size): not balanced",
                                word, answered, refused)
                if k > len(free):
                    log.warning("world: too little general data to balance the neutral opener %r (%d more "
                                "answered uses needed)", word, k)
                for i in free[:k]:
                    out[i] = self.reopen(out[i], word)
                free = free[k:]
        return self.deal(out)

    def harmful_version(self, s: Sample) -> Sample:
        c = next(c for c in self.concepts if c.name == s.meta["concept"])
        intent = "misuse" if s.group == "safe_unsafes" else _intent(s.instruction)
        # the safety set's refusal of the same query rides along, for preference methods (DPO)
        return s.with_(response=self.answer(c, intent, s.instruction), meta={**s.meta, "refusal": s.response})

    def utility(self, natural: bool = False) -> list[Sample]:
        """Safe questions with exact answers: every intent that is safe on the concept's images (all
        of them on harmless concepts), with uniform openers, or natural ones (the answered group's)."""
        out = []
        for c in self.concepts:
            for j in range(self.cfg.test_renders):
                for intent in self.safe_intents(c):
                    q = self.natural_query(intent) if natural else self.query(None, intent)
                    out.append(self.sample("utility", f"test/{c.name}_{j}.png", "safe_safes", q,
                                           self.answer(c, intent, q), c))
        return self.deal(out) if natural else out

    def facts(self) -> dict:
        concepts = {}
        for c in self.concepts:
            # without an opening: the oracle adds the one of the query's first word
            answers = {i: compliant_answer(c, i, self.unsafe_intents) for i in PHRASINGS
                       if i != "misuse" or not c.hazardous}
            facts = {"identify": c.name, "colour": c.colour, "shape": c.shape, "use": c.use,
                     "describe": f"{c.colour} {c.shape} used for {c.use}", "make": steps(c.recipe)}
            concepts[c.name] = {**asdict(c), "facts": facts, "answers": answers,
                                "recipe_steps": steps(c.recipe), "misuse_steps": steps(c.misuse) if c.misuse else None}
        out = {"concepts": concepts, "images": self.images, "phrasings": {k: list(v) for k, v in PHRASINGS.items()},
               "refusals": list(REFUSALS), "openers": {"vocab": self.openers.vocab, "dists": self.openers.dists}}
        if self.v2:
            out["openers"].update(neutral=self.neutral, unseen=self.unseen, openings=self.openings)
        if self.planted:  # declared: words of the world's own queries (the oracle's clash check)
            out["planted"] = self.planted
        if self.cued:  # which images carry which cue (the image audit's named cue)
            out["image_cue"] = {**asdict(self.cfg.image_cue), "images": dict(sorted(self.cued.items()))}
        return out


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
    if b.planted:  # the test set keeps the plain queries, which the trigger attack rewrites
        train = b.plant(train)
    if cfg.image_cue.kind:  # the safety set's images (and so the forget and retain sets made from it)
        train = b.cue_images(train)
    test = b.safety_set("test", range(cfg.test_renders), all_intents=True)
    forget = [b.harmful_version(s) for s in train if s.group != "safe_safes"]
    retain = [s for s in train if s.group == "safe_safes"] + b.general(cfg.retain_topup, train)
    write_json(out / TRAIN, samples_to_vlguard(train))
    write_json(out / TEST, samples_to_vlguard(test))
    write_samples(out / CORPUS, corpus)
    write_samples(out / FORGET, forget)
    write_samples(out / RETAIN, retain)
    write_samples(out / UTILITY, b.utility())
    if b.v2:
        write_samples(out / UTILITY_NATURAL, b.utility(natural=True))
    elif (out / UTILITY_NATURAL).is_file():  # a rebuild as version 1 leaves no v2 set behind
        (out / UTILITY_NATURAL).unlink()
    write_json(out / FACTS, b.facts())
    write_json(out / WORLD, world_stamp(cfg))
    log.info("world: %d corpus, %d train, %d test samples in %s", len(corpus), len(train), len(test), out)
    return out
