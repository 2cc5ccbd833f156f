"""The data directory, a contract with one home: its file names, which of them each training mix
needs, and loading them.

A data directory is what `unmirage world` writes and what a real study points `data_dir` at:

- `train.json`, `test.json`: the safety set and the test set, in VLGuard's format;
- `corpus.jsonl`: base-knowledge instruction data (the embedded world's; real data may lack it);
- `forget.jsonl`, `retain.jsonl`: the unlearning sets (and the retain data of post-hoc SFT);
- `utility.jsonl`: safe questions with exact answers (optional), with uniform openers;
- `utility_natural.jsonl`: the same questions with natural openers (the answered group's; optional);
- `facts.json`: the embedded world's facts, which its oracle judges against (world only);
- `world.json`: the config the world was built from (world only);
- `images/`: every image, each record's `image` relative to it.

The training mixes name which of these files an arm trains on (`mixes.training_mix` builds
their samples).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError
from ..io import file_digest, read_json
from .records import Sample
from .samples_io import read_samples
from .vlguard import load_vlguard

TRAIN, TEST = "train.json", "test.json"
CORPUS, FORGET, RETAIN, UTILITY = "corpus.jsonl", "forget.jsonl", "retain.jsonl", "utility.jsonl"
UTILITY_NATURAL = "utility_natural.jsonl"
FACTS, WORLD = "facts.json", "world.json"
IMAGES = "images"
# the files whose content decides a study's numbers (hashed into its artefact keys)
FILES = (TRAIN, TEST, CORPUS, FORGET, RETAIN, UTILITY, FACTS, UTILITY_NATURAL)

# mix -> the files it trains on. corpus: the base-knowledge corpus; corpus+safety: it plus the
# safety set (mixed SFT); clean+safety: the corpus without its unsafe queries (harmful compliance
# filtered out, as from instruction data) plus the safety set; safety+retain: the safety set plus
# retain data (post-hoc SFT); balanced+retain: the same with every instruction's opener redrawn
# from one distribution for all groups, so openers carry no label information; forget+retain:
# paired forget and retain sets (unlearning, DPO).
MIX_FILES = {
    "corpus": (CORPUS,),
    "corpus+safety": (CORPUS, TRAIN),
    "clean+safety": (CORPUS, TRAIN),
    "safety+retain": (TRAIN, RETAIN),
    "balanced+retain": (TRAIN, RETAIN),
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
    paraphrases: list[list[str]] | None = None  # the world's phrasings of each intent (facts.json)


class DataDir:
    """A data directory: where its files are, whether a study can train on it, and its sets."""

    def __init__(self, root: str | Path, images: str | Path | None = None):
        self.root = Path(root)
        self.images = Path(images) if images is not None else self.root / IMAGES  # where every image lies

    def __truediv__(self, name: str) -> Path:
        return self.root / name

    def has(self, name: str) -> bool:
        return (self.root / name).is_file()

    def check(self, mixes: set[str] | list[str], test: bool = True) -> None:
        """A `DataError` naming the first file that arms training on `mixes` need (and, with `test`,
        a study evaluating them) and the directory lacks."""
        needed = needed_files(mixes) if test else [f for m in mixes for f in MIX_FILES[m]]
        for name in needed:
            if not self.has(name):
                raise DataError(f"data directory {self.root} lacks {name}, which the arms' data mixes need; "
                                "build the world with `unmirage world`, or forget/retain sets with "
                                "unmirage.data.forget_retain")

    def load(self, names: tuple[str, ...] = FILES, required: tuple[str, ...] | list[str] = ()) -> DataSets:
        """The sets of the files `names` that the directory holds; each of `required` must hold a sample."""
        def read(name: str) -> list[Sample]:
            return self.read(name, name in required) if name in names and self.has(name) else []

        return DataSets(safety=read(TRAIN), test=read(TEST), corpus=read(CORPUS), forget=read(FORGET),
                        retain=read(RETAIN), utility=read(UTILITY), utility_natural=read(UTILITY_NATURAL),
                        paraphrases=self.paraphrases())

    def digests(self) -> dict[str, str]:
        """What the data is: the sha256 of each of its `FILES` that it holds."""
        return {name: file_digest(self.root / name) for name in FILES if self.has(name)}

    def read(self, name: str, required: bool = True) -> list[Sample]:
        """The samples of file `name` (VLGuard JSON or samples JSONL); a missing file, or with
        `required` an empty one, is a `DataError`."""
        path = self.root / name
        samples = load_vlguard(path) if path.suffix == ".json" else read_samples(path)
        if required and not samples:
            raise DataError(f"{path}: holds no samples, and the study needs some; fill it or remove what needs it")
        return samples

    def facts(self) -> dict | None:
        """The world's facts.json, or None for real data."""
        return read_json(self.root / FACTS) if self.has(FACTS) else None

    def paraphrases(self) -> list[list[str]] | None:
        facts = self.facts()
        return list(facts["phrasings"].values()) if facts else None
