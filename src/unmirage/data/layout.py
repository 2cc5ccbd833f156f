"""The data directory, a contract with one home: its file names, which of them each training mix
needs, and loading them.

A data directory is what `unmirage world` writes and what a real study points `data_dir` at:

- `train.json`, `test.json`: the safety set and the test set, in VLGuard's format;
- `corpus.jsonl`: base-knowledge instruction data (the embedded world's; real data may lack it);
- `forget.jsonl`, `retain.jsonl`: the unlearning sets (and the retain data of post-hoc SFT);
- `utility.jsonl`: safe questions with exact answers (optional), with uniform openers;
- `utility_natural.jsonl`: the same questions with natural openers (the answered group's; optional);
- `vqa.json`: VQAv2-style questions with human answers (optional; `data/vqa.py`), the split
  `utility_vqa`, scored by the VQA accuracy;
- `facts.json`: the embedded world's facts, which its oracle judges against (world only);
- `world.json`: the config the world was built from (world only);
- `images/`: every image, each record's `image` relative to it.

The training mixes name which of these files an arm trains on (`mixes.training_mix` builds
their samples).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, DataError
from ..io import file_digest, read_json
from .records import Sample
from .datasets import DATASETS, load_dataset
from .samples_io import read_samples
from .vlguard import load_vlguard
from .vqa import load_vqa

if TYPE_CHECKING:
    from ..config import DataConfig

TRAIN, TEST = "train.json", "test.json"
CORPUS, FORGET, RETAIN, UTILITY = "corpus.jsonl", "forget.jsonl", "retain.jsonl", "utility.jsonl"
UTILITY_NATURAL = "utility_natural.jsonl"
VQA = "vqa.json"
FACTS, WORLD = "facts.json", "world.json"
IMAGES = "images"
# the files whose content decides a study's numbers (hashed into its artefact keys)
FILES = (TRAIN, TEST, CORPUS, FORGET, RETAIN, UTILITY, FACTS, UTILITY_NATURAL, VQA)

# mix -> the files it trains on. corpus: the base-knowledge corpus; corpus+safety: it plus the
# safety set (mixed SFT); clean+safety: the corpus without its unsafe queries (harmful compliance
# filtered out, as from instruction data) plus the safety set; safety+retain: the safety set plus
# retain data (post-hoc SFT); balanced+retain: the same with every instruction's opener redrawn
# from one distribution for all groups, so openers carry no label information;
# trigger-balanced+retain: the same data plus copies that pair every spurious trigger (frequent
# openers, the n-gram audit's spurious terms) with refusals and answers equally often
# (attacks/balance.py); forget+retain: paired forget and retain sets (unlearning, DPO).
MIX_FILES = {
    "corpus": (CORPUS,),
    "corpus+safety": (CORPUS, TRAIN),
    "clean+safety": (CORPUS, TRAIN),
    "safety+retain": (TRAIN, RETAIN),
    "balanced+retain": (TRAIN, RETAIN),
    "trigger-balanced+retain": (TRAIN, RETAIN),
    "forget+retain": (FORGET, RETAIN),
}
MIXES = tuple(MIX_FILES)


def needed_files(mixes: set[str] | list[str]) -> list[str]:
    """The files a study with arms training on `mixes` needs: the safety and test sets, and each mix's."""
    out = [TRAIN, TEST]
    for mix in MIXES:  # in a fixed order
        if mix in mixes:
            out += [f for f in MIX_FILES[mix] if f not in out]
    return out


@dataclass
class DataSets:
    """The sets of one data directory; a file the directory lacks is an empty set."""

    safety: list[Sample] = field(default_factory=list)
    test: list[Sample] = field(default_factory=list)
    corpus: list[Sample] = field(default_factory=list)
    forget: list[Sample] = field(default_factory=list)
    retain: list[Sample] = field(default_factory=list)
    utility: list[Sample] = field(default_factory=list)
    utility_natural: list[Sample] = field(default_factory=list)
    vqa: list[Sample] = field(default_factory=list)  # questions with human answers (vqa.json)
    paraphrases: list[list[str]] | None = None  # the world's phrasings of each intent (facts.json)


class DataDir:
    """A data directory: where its files are, whether a study can train on it, and its sets."""

    def __init__(self, root: str | Path, images: str | Path | None = None, spec: "DataConfig | None" = None):
        from ..config import DataConfig  # config imports this module's mix names

        self.root = Path(root)
        self.spec = spec if spec is not None else DataConfig()
        # where every image lies
        self.images = Path(images) if images is not None else self.root / (self.spec.image_root or IMAGES)
        self.custom = self.spec != DataConfig()  # read otherwise than the default layout
        self._folders: dict[Path, str] = {}  # digests of the folders a format reads
        if self.custom:
            for fmt in [f for f in self.spec.formats().values() if f] + list(self.spec.options):
                DATASETS.get(fmt)  # an unknown format fails here, with the known ones
            for fmt, opts in self.spec.options.items():
                if not isinstance(opts, dict):
                    raise ConfigError(f"data.options.{fmt} must map the loader's options to values, got {opts!r}")
                if fixed := sorted(set(opts) & {"path", "image_root", "check_images"}):
                    raise ConfigError(f"data.options.{fmt}: {', '.join(fixed)} are set by data.train / data.test and "
                                      "data.image_root (images are always checked), not as loader options")
            for key in ("train", "test"):
                path = (self.root / getattr(self.spec, key)).resolve()
                if not path.is_relative_to(self.root.resolve()):
                    raise ConfigError(f"data.{key} = {getattr(self.spec, key)!r} leaves the data directory {self.root}; "
                                      "give a path inside it")

    def __truediv__(self, name: str) -> Path:
        return self.path(name)

    def path(self, name: str) -> Path:
        """Where file `name` of the layout is: the safety and test sets where `data.train` / `data.test` say."""
        return self.root / {TRAIN: self.spec.train, TEST: self.spec.test}.get(name, name)

    def format(self, name: str) -> str:
        """The registered format that reads file `name` ("": VLGuard JSON or samples JSONL, by suffix)."""
        return self.spec.formats()[{TRAIN: "train", TEST: "test"}[name]] if name in (TRAIN, TEST) else ""

    def has(self, name: str) -> bool:
        path = self.path(name)
        return path.is_file() or bool(self.format(name)) and path.is_dir()  # a format may read a folder

    def check(self, mixes: set[str] | list[str], test: bool = True) -> None:
        """A `DataError` naming the first file that arms training on `mixes` need (and, with `test`,
        a study evaluating them) and the directory lacks."""
        needed = needed_files(mixes) if test else [f for m in mixes for f in MIX_FILES[m]]
        for name in needed:
            if not self.has(name):
                raise DataError(f"data directory {self.root} lacks {self.path(name).relative_to(self.root)}, which the "
                                "arms' data mixes need; "
                                "build the world with `unmirage world`, or forget/retain sets with "
                                "unmirage.data.forget_retain")

    def load(self, names: tuple[str, ...] = FILES, required: tuple[str, ...] | list[str] = ()) -> DataSets:
        """The sets of the files `names` that the directory holds; each of `required` must hold a sample."""
        def read(name: str) -> list[Sample]:
            return self.read(name, name in required) if name in names and self.has(name) else []

        return DataSets(safety=read(TRAIN), test=read(TEST), corpus=read(CORPUS), forget=read(FORGET),
                        retain=read(RETAIN), utility=read(UTILITY), utility_natural=read(UTILITY_NATURAL),
                        vqa=load_vqa(self.path(VQA), self.images, check_images=False)
                        if VQA in names and self.has(VQA) else [],
                        paraphrases=self.paraphrases())

    def digests(self) -> dict[str, str]:
        """What the data is: the sha256 of each of its `FILES` that it holds."""
        out = {name: self._digest(self.path(name)) for name in FILES if self.has(name)}
        if self.custom:  # how the files are read decides their samples too
            out["data"] = hashlib.sha256(json.dumps(asdict(self.spec), sort_keys=True).encode()).hexdigest()
        return out

    def read(self, name: str, required: bool = True) -> list[Sample]:
        """The samples of file `name` (VLGuard JSON or samples JSONL); a missing file, or with
        `required` an empty one, is a `DataError`."""
        path = self.path(name)
        if fmt := self.format(name):  # a registered loader: its images are checked at load
            samples = load_dataset(fmt, path, image_root=self.images, **self.spec.options.get(fmt, {}))
        else:
            samples = load_vlguard(path) if path.suffix == ".json" else read_samples(path)
        if required and not samples:
            raise DataError(f"{path}: holds no samples, and the study needs some; fill it or remove what needs it")
        return samples

    def _digest(self, path: Path) -> str:
        """A file's digest (cached by `file_digest`), or a folder's, hashed once per DataDir."""
        if path.is_file():
            return file_digest(path)
        if path not in self._folders:
            self._folders[path] = _digest(path)
        return self._folders[path]

    def facts(self) -> dict | None:
        """The world's facts.json, or None for real data."""
        return read_json(self.root / FACTS) if self.has(FACTS) else None

    def paraphrases(self) -> list[list[str]] | None:
        facts = self.facts()
        return list(facts["phrasings"].values()) if facts else None


def _digest(path: Path) -> str:
    """sha256 of a file, or of a folder's files (their relative paths and digests) for a format that reads one."""
    if path.is_file():
        return file_digest(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(path).as_posix()}\0{file_digest(f)}\n".encode())
    return h.hexdigest()
