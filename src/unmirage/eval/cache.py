"""A generation cache shared by runs: the same model, prompt, image and decoding settings give
the same greedy answer, so it is generated once.

One JSONL file per model under the cache directory, named by the model's fingerprint; each
line is `{"key": ..., "answer": ...}`, the key a hash of the prompt text, the image's content
hash and the generator's settings (backend, dtype, max_new_tokens, greedy). Lines are appended
as answers come; a truncated last line (an interrupted append) is ignored.

A model's fingerprint is the sha256 of the files of the directory it was loaded from (weights,
config, processor; hashed once per process and file version), or of its hub id and the commit
of its cached snapshot. A
model built in memory, or changed after loading, has none that can be trusted: pass one
explicitly or turn the cache off.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from huggingface_hub import try_to_load_from_cache

from ..artefacts import RECORD
from ..config import EvalConfig
from ..data.inputs import generation_prompt
from ..data.records import Sample, resolve_image
from ..errors import DataError
from ..io import append_jsonl, file_digest, read_jsonl
from .backends import Generator

log = logging.getLogger(__name__)

def default_cache_dir() -> Path:
    """`$UNMIRAGE_CACHE`, else `$XDG_CACHE_HOME/unmirage/generations` (~/.cache by default)."""
    if os.environ.get("UNMIRAGE_CACHE"):
        return Path(os.environ["UNMIRAGE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "unmirage" / "generations"


# files of a model directory that describe how it was made, not what it computes (the training
# log holds its seconds): two trainings to the same weights are the same model
RECORDS = ("train_log.json", RECORD)


def dir_fingerprint(path: str | Path) -> str:
    """sha256 over the names and contents of the files directly inside a model directory, but its records."""
    h = hashlib.sha256()
    for f in sorted(p for p in Path(path).iterdir() if p.is_file() and p.name not in RECORDS):
        h.update(f"{f.name}\0{file_digest(f)}\n".encode())
    return h.hexdigest()


def hub_revision(repo_id: str, cache_dir: str | Path | None = None) -> str | None:
    """The commit of the cached snapshot of a hub model that loading it uses (local lookup only)."""
    try:
        path = try_to_load_from_cache(repo_id, "config.json", cache_dir=cache_dir)
    except ValueError:  # not a valid repo id
        return None
    return Path(path).parent.name if isinstance(path, str) else None


def model_fingerprint(model) -> str | None:
    """The fingerprint of a transformers model from where it was loaded, or None when unknown."""
    source = getattr(model, "name_or_path", "") or ""
    if not source:
        return None
    if Path(source).is_dir():
        return dir_fingerprint(source)
    commit = hub_revision(source)
    return hashlib.sha256(f"hub:{source}@{commit}".encode()).hexdigest() if commit else None


def generation_key(prompt: str, image_digest: str, settings: dict) -> str:
    """The cache key of one generation (the model is the cache file)."""
    blob = json.dumps({"prompt": prompt, "image": image_digest, "settings": settings}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class GenerationCache:
    """Answers by key for one model, read from and appended to `cache_dir/FINGERPRINT.jsonl`."""

    def __init__(self, cache_dir: str | Path, fingerprint: str):
        self.path = Path(cache_dir) / f"{fingerprint[:32]}.jsonl"
        self.answers: dict[str, str] = {r["key"]: r["answer"] for r in read_jsonl(self.path)
                                        if isinstance(r.get("key"), str) and isinstance(r.get("answer"), str)}

    def get(self, key: str) -> str | None:
        return self.answers.get(key)

    def put(self, entries: dict[str, str]) -> None:
        new = {k: a for k, a in entries.items() if self.answers.get(k) != a}
        if new:
            append_jsonl(self.path, [{"key": k, "answer": a} for k, a in new.items()])
            self.answers.update(new)


class ImageDigests:
    """Content hashes of dataset images (paths confined to the image root)."""

    def __init__(self, image_root: str | Path):
        self.root = Path(image_root)
        self._digests: dict[str, str] = {}

    def __call__(self, rel: str) -> str:
        if rel not in self._digests:
            path = resolve_image(self.root, rel)
            if not path.is_file():
                raise DataError(f"image {rel!r} not found under {self.root}; check the image root or the record")
            self._digests[rel] = file_digest(path)
        return self._digests[rel]


def open_cache(cfg: EvalConfig, model, model_key: str | None = None) -> GenerationCache | None:
    """The cache for `model` when `cfg.cache` is on and the model has a fingerprint (or `model_key`)."""
    if not cfg.cache:
        return None
    fingerprint = model_key or model_fingerprint(model)
    if fingerprint is None:
        log.info("generation cache off: the model was not loaded from a directory or hub id")
        return None
    return GenerationCache(Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir(), fingerprint)


class CachedGenerator:
    """Answers from the cache where it has them, from `generator` otherwise; new answers are
    returned with their keys for the caller to store (in data-parallel runs, rank 0 writes)."""

    def __init__(self, generator: Generator, processor, cache: GenerationCache | None, image_root: str | Path):
        self.generator, self.processor, self.cache = generator, processor, cache
        self.digests = ImageDigests(image_root)

    def key(self, sample: Sample) -> str:
        return generation_key(generation_prompt(self.processor, sample), self.digests(sample.image),
                              self.generator.settings)

    def generate(self, samples: list[Sample]) -> tuple[list[str], dict[str, str]]:
        if self.cache is None:
            return self.generator.generate(samples), {}
        keys = [self.key(s) for s in samples]
        answers = [self.cache.get(k) for k in keys]
        missing = [i for i, a in enumerate(answers) if a is None]
        new: dict[str, str] = {}
        if missing:
            for i, answer in zip(missing, self.generator.generate([samples[i] for i in missing]), strict=True):
                answers[i] = new[keys[i]] = answer
        return [a for a in answers if a is not None], new
