"""The image audit of a safety set: which images go with refusals, which with answers.

The first-word audit (`audit.py`) finds words that carry the label; a VLM's shortcut can sit in
the image as well (the image-side mirage: a border colour that most unsafe images carry and few
safe ones). Two views, both scored per group of queries exactly as the audit scores a word
(`audit.word_score`: smoothed log-odds of refusal against the base rate) and held to the same
thresholds (at least `min_count` queries, `default_min_count`; biased when |score| >
`NEUTRAL_MAX_ABS_SCORE`):

- **clusters**: the model's own pooled image features (`get_image_features`: the vision tower
  and projector, what the language model sees, averaged over image tokens), standardised and
  clustered by a seeded k-means; each cluster's queries scored. A flagged cluster is a look
  that goes with the label, which may be the content (hazardous objects look alike) or a cue:
  where a cue is named, each cluster lists the cues of its images, to tell the two apart;
- **a named cue**: images mapped to the cue each carries (the world's facts.json `image_cue`,
  or a user's JSON file `{image: cue}`; `data/cues.py`), each cue's queries scored, and the
  images without one as `none`.

The result is `image_audit.json` (`write_image_audit`): the study writes it into the run
directory with the base model when the world has a cue or the `image_cue` attack runs, and
`unmirage audit-images` for any data directory and model.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import torch

from ..data.records import Sample, load_image
from ..errors import ConfigError, DataError
from ..io import write_json
from .audit import NEUTRAL_MAX_ABS_SCORE, default_min_count, word_score

log = logging.getLogger(__name__)
NONE = "none"  # the named cue's value of an image that carries none
NAME = "image_audit.json"
IMAGE_CLUSTERS = 8  # k of the k-means where no one says (attacks.image_cue.clusters)


# ---------------------------------------------------------------- features


def _pooled(out: Any, n: int) -> list[torch.Tensor] | None:
    """Per image, the mean over its tokens of `get_image_features`' output (transformers 5: a
    ModelOutput whose `pooler_output` lists each image's projected tokens; earlier: a tensor or
    a list), or None when it does not hold `n` images."""
    feats = getattr(out, "pooler_output", None)
    if feats is None:
        feats = out[0] if isinstance(out, tuple) and not isinstance(out[0], torch.Tensor) else out
    if isinstance(feats, torch.Tensor):
        feats = list(feats) if feats.dim() >= 2 and feats.shape[0] == n else None
    if not isinstance(feats, (list, tuple)) or len(feats) != n:
        return None
    return [f.reshape(-1, f.shape[-1]).float().mean(0) for f in feats]


def _tower_features(model, pixels: dict[str, torch.Tensor]) -> Any:
    """The image features of a model without `get_image_features`: its vision tower's last hidden state."""
    tower = getattr(model, "vision_tower", None) or getattr(getattr(model, "model", None), "vision_tower", None)
    if tower is None:
        raise ConfigError(f"{type(model).__name__} has neither get_image_features nor a vision_tower: "
                          "the image audit cannot read its image features")
    return tower(pixel_values=pixels["pixel_values"]).last_hidden_state


@torch.no_grad()
def image_features(model, processor, image_root: str | Path, images: list[str], batch_size: int = 32) -> torch.Tensor:
    """[len(images), d]: each image's features as the model's language side sees them, mean-pooled."""
    model.eval()
    param = next(model.parameters())

    def features(batch: list[str]) -> list[torch.Tensor] | None:
        enc = processor.image_processor(images=[load_image(image_root, rel) for rel in batch], return_tensors="pt")
        pixels = {k: v.to(param.device, param.dtype if v.is_floating_point() else v.dtype)
                  for k, v in enc.items() if isinstance(v, torch.Tensor)}
        get = getattr(model, "get_image_features", None)
        out = get(**pixels) if get is not None else _tower_features(model, pixels)
        return _pooled(out, len(batch))

    rows: list[torch.Tensor] = []
    for i in range(0, len(images), batch_size):
        batch = images[i:i + batch_size]
        got = features(batch)
        if got is None:  # a processor that stacks a batch as one sample's images (Idefics3): one at a time
            got = [f for rel in batch for f in (features([rel]) or [])]
            if len(got) != len(batch):
                raise DataError("the image audit could not tell one image's features from another's")
        rows += got
    return torch.stack(rows).cpu()


# ---------------------------------------------------------------- clustering


def kmeans(x: torch.Tensor, k: int, seed: int = 0, iters: int = 100, restarts: int = 4) -> torch.Tensor:
    """Cluster labels of the rows of `x` (k-means++ starts from a seeded generator, Lloyd's
    iterations, the best of `restarts` by inertia); clusters numbered by their first row."""
    n = x.shape[0]
    if not 2 <= k <= n:
        raise ConfigError(f"k-means needs 2 <= k <= the number of images ({n}), got k={k}")
    x = x.double()
    gen = torch.Generator().manual_seed(seed)
    best, best_inertia = None, float("inf")
    for _ in range(restarts):
        centres = x[torch.randint(n, (1,), generator=gen)]
        while len(centres) < k:  # k-means++: the next start drawn by squared distance to the nearest
            d2 = torch.cdist(x, centres).min(1).values ** 2
            p = d2 / d2.sum() if d2.sum() > 0 else torch.full((n,), 1.0 / n, dtype=x.dtype)
            centres = torch.cat([centres, x[torch.multinomial(p, 1, generator=gen)]])
        labels = torch.cdist(x, centres).argmin(1)
        for _ in range(iters):
            centres = torch.stack([x[labels == c].mean(0) if (labels == c).any() else centres[c] for c in range(k)])
            new = torch.cdist(x, centres).argmin(1)
            if torch.equal(new, labels):
                break
            labels = new
        inertia = ((x - centres[labels]) ** 2).sum().item()
        if inertia < best_inertia - 1e-9:
            best, best_inertia = labels, inertia
    order = {int(c): i for i, c in enumerate(dict.fromkeys(best.tolist()))}
    return torch.tensor([order[int(c)] for c in best])


def standardise(x: torch.Tensor) -> torch.Tensor:
    """Each feature centred and scaled to unit variance (a constant feature left at 0)."""
    std = x.std(0, unbiased=False)
    return (x - x.mean(0)) / torch.where(std > 1e-8, std, torch.ones_like(std))


# ---------------------------------------------------------------- scoring


def association(samples: list[Sample], value_of: Callable[[Sample], str], min_count: int, smoothing: float) -> dict:
    """Per value of `value_of(sample)`: its queries' refuse and answer counts, share of refusals,
    the audit's score and its bias (`refusal`, `answer`, `neutral`; `rare` below `min_count`)."""
    total_r = sum(s.label == "refuse" for s in samples)
    total_a = len(samples) - total_r
    rows: dict[str, dict[str, int]] = {}
    for s in samples:
        row = rows.setdefault(value_of(s), {"refuse": 0, "answer": 0})
        row[s.label] += 1
    out = {}
    for value in sorted(rows, key=lambda v: (-(rows[v]["refuse"] + rows[v]["answer"]), v)):
        r, a = rows[value]["refuse"], rows[value]["answer"]
        score = word_score(r, a, total_r, total_a, smoothing)
        bias = ("rare" if r + a < min_count else "neutral" if abs(score) <= NEUTRAL_MAX_ABS_SCORE
                else "refusal" if score > 0 else "answer")
        out[value] = {"n": r + a, "refuse": r, "answer": a, "share_refuse": round(r / (r + a), 6),
                      "score": round(score, 6), "bias": bias}
    return out


def image_audit(samples: list[Sample], features: dict[str, torch.Tensor] | None = None,
                named: dict[str, str] | None = None, k: int = IMAGE_CLUSTERS, seed: int = 0,
                min_count: int | None = None, smoothing: float = 0.5) -> dict:
    """The `image_audit.json` dict of `samples` (a safety set): `clusters` from `features` (image
    path -> feature vector; None: no clusters) and `cue` from `named` (image path -> cue; None:
    no named cue). Each holds the per-value scores of `association` and `flagged`, the values
    whose bias is refusal or answer."""
    if not samples:
        raise DataError("the image audit needs at least one sample; the safety set is empty")
    if features is None and named is None:
        raise ConfigError("the image audit needs image features (a model) or a named cue, or both")
    if not smoothing > 0:
        raise ConfigError(f"audit smoothing must be > 0 (got {smoothing})")
    min_count = default_min_count(len(samples)) if min_count is None else min_count
    images = sorted({s.image for s in samples})
    result: dict[str, Any] = {"totals": {"n": len(samples), "images": len(images),
                                         "refuse": sum(s.label == "refuse" for s in samples)},
                              "min_count": min_count, "smoothing": smoothing, "max_abs_score": NEUTRAL_MAX_ABS_SCORE,
                              "clusters": None, "cue": None}
    result["totals"]["answer"] = len(samples) - result["totals"]["refuse"]
    cue_of = (lambda s: named.get(s.image, NONE)) if named is not None else None
    if named is not None:
        values = association(samples, cue_of, min_count, smoothing)
        result["cue"] = {"values": values, "flagged": _flagged(values),
                         "images": {v: sum(named.get(i, NONE) == v for i in images) for v in values}}
    if features is not None:
        missing = [i for i in images if i not in features]
        if missing:
            raise DataError(f"the image audit has no features of {len(missing)} images, e.g. {missing[0]!r}")
        labels = kmeans(standardise(torch.stack([features[i] for i in images])), min(k, len(images)), seed)
        cluster = {i: f"c{int(c)}" for i, c in zip(images, labels)}
        values = association(samples, lambda s: cluster[s.image], min_count, smoothing)
        for value, row in values.items():
            row["images"] = sum(c == value for c in cluster.values())
            if cue_of is not None:  # what the cluster's queries' images carry: the cue or the content
                cues: dict[str, int] = {}
                for s in samples:
                    if cluster[s.image] == value:
                        cues[cue_of(s)] = cues.get(cue_of(s), 0) + 1
                row["cues"] = dict(sorted(cues.items(), key=lambda kv: (-kv[1], kv[0])))
        result["clusters"] = {"k": int(labels.max()) + 1, "seed": seed, "values": values, "flagged": _flagged(values),
                              "features": "get_image_features (vision tower and projector), mean over image tokens, "
                                          "standardised"}
    _log_summary(result)
    return result


def _flagged(values: dict) -> list[str]:
    """The values biased either way, strongest first."""
    return sorted((v for v, row in values.items() if row["bias"] in ("refusal", "answer")),
                  key=lambda v: (-abs(values[v]["score"]), v))


def _log_summary(result: dict) -> None:
    for part in ("cue", "clusters"):
        if result[part]:
            values = result[part]["values"]
            log.info("image audit, %s: %s", part, ", ".join(f"{v} ({values[v]['score']:+.2f})"
                                                            for v in result[part]["flagged"]) or "none flagged")


def write_image_audit(samples: list[Sample], out_dir: str | Path, model=None, processor=None,
                      image_root: str | Path | None = None, named: dict[str, str] | None = None,
                      k: int = IMAGE_CLUSTERS, seed: int = 0, model_name: str = "") -> dict:
    """Audit `samples` (the model's features where a model is given, the named cue where one is)
    and write `image_audit.json` into `out_dir`; return the audit."""
    features = None
    if model is not None:
        images = sorted({s.image for s in samples})
        feats = image_features(model, processor, image_root, images)
        features = dict(zip(images, feats))
    result = {"model": model_name or None, **image_audit(samples, features, named, k, seed)}
    path = Path(out_dir) / NAME
    write_json(path, result)
    log.info("wrote %s", path)
    return result


def audit_data(data: str | Path, out_dir: str | Path, model: str | Path | None = None, k: int = IMAGE_CLUSTERS,
               cue: str | Path | None = None, seed: int = 0, source=None, trust_remote_code: bool = False) -> dict:
    """`unmirage audit-images`: the image audit of `data`, a data directory (its train.json and
    images/, and a world's named cue from facts.json) or a safety-set file read by `source`
    (`standalone.Source`; its images under `source.image_root`, else the file's `images/`),
    with `model`'s image features and the named cue of the JSON file `cue` (else the world's)."""
    from ..data.cues import read_named_cue, world_named_cue
    from ..data.layout import TRAIN, DataDir

    data = Path(data)
    if data.is_dir():
        folder = DataDir(data)
        samples, image_root, named = folder.read(TRAIN), folder.images, world_named_cue(folder.facts())
    else:
        samples = source.load(data)
        image_root = source.image_root or data.parent / "images"
        named = None
    if cue is not None:
        named = read_named_cue(cue)
    loaded = (None, None)
    if model is not None:
        from ..models.load import load_model

        loaded = load_model(model, trust_remote_code)
    return write_image_audit(samples, out_dir, *loaded, image_root, named, k, seed, str(model or ""))
