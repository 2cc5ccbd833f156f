"""The image-cue attack (cued copies of the test images, the queries as they were) and the image
audit (a named cue's and the image clusters' association with the label, scored as words are)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from unmirage.attacks.audit import NEUTRAL_MAX_ABS_SCORE, word_score
from unmirage.attacks.base import ATTACKS, QueryContext, make_attacks
from unmirage.attacks.image_audit import image_audit, image_features, kmeans, write_image_audit
from unmirage.config import ImageCueConfig, ModelConfig, WorldConfig
from unmirage.data.cues import Cue, cue_rgb, write_cued
from unmirage.data.layout import DataDir
from unmirage.data.records import Sample, resolve_image
from unmirage.errors import ConfigError, DataError
from unmirage.models.families import fresh_tiny
from unmirage.world.build import build_world
from unmirage.world.oracle import make_oracle

TINY_WORLD = dict(n_concepts=6, train_renders=3, test_renders=1, corpus_per_render=2, safety_renders=2,
                  retain_topup=5)  # tests/conftest.py's


@pytest.fixture(scope="module")
def cued_world(tmp_path_factory):
    cue = ImageCueConfig(kind="border", unsafe="red", safe="green", share=0.9)
    return build_world(WorldConfig(**TINY_WORLD, image_cue=cue), tmp_path_factory.mktemp("cued") / "w")


@pytest.fixture(scope="module")
def plain_world(tmp_path_factory):  # its own: the attack writes copies into a world's images
    return build_world(WorldConfig(**TINY_WORLD), tmp_path_factory.mktemp("plain") / "w")


def _splits(world, params=None):
    data = DataDir(world)
    sets = data.load()
    (attack,) = make_attacks({"image_cue": params or {}})
    return sets, attack.splits(QueryContext(sets.test, make_oracle(world), {}, sets, data.images, data.facts()))


def _edge(path) -> set[tuple[int, ...]]:
    a = np.asarray(Image.open(path))
    return {tuple(int(c) for c in px) for px in np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])}


def test_the_attack_is_registered_and_checks_its_parameters():
    assert "image_cue" in set(ATTACKS.names())
    with pytest.raises(ConfigError, match="attacks.image_cue: cue kind 'ring'"):
        make_attacks({"image_cue": {"kind": "ring"}})
    with pytest.raises(ConfigError, match="clusters"):
        make_attacks({"image_cue": {"clusters": 1}})


def test_the_splits_swap_the_cues_on_the_same_queries(cued_world):
    sets, splits = _splits(cued_world)
    assert set(splits) == {"unsafes@cue", "safe_safes@cue", "unsafes@owncue", "safe_safes@owncue"}
    root = cued_world / "images"
    for split, group, colour in (("unsafes@cue", "unsafes", "green"), ("safe_safes@cue", "safe_safes", "red"),
                                 ("unsafes@owncue", "unsafes", "red"), ("safe_safes@owncue", "safe_safes", "green")):
        plain = [s for s in sets.test if s.group == group]
        assert [s.meta["source_id"] for s in splits[split]] == [s.id for s in plain]
        for a, b in zip(plain, splits[split]):
            assert (b.instruction, b.group, b.response) == (a.instruction, a.group, a.response)
            assert b.image == f"cue/border-{colour}-2/{a.image}" and b.meta["source_image"] == a.image
            path = resolve_image(root, b.image)  # inside the image root, or this raises
            assert path.is_file() and _edge(path) == {cue_rgb(colour)}
            assert (root / a.image).is_file() and _edge(root / a.image) != {cue_rgb(colour)}  # the render untouched


def test_making_the_splits_again_changes_no_file(cued_world):
    _, first = _splits(cued_world)
    paths = [cued_world / "images" / s.image for s in first["unsafes@cue"]]
    stamps = [(p.stat().st_mtime_ns, p.read_bytes()) for p in paths]
    _, again = _splits(cued_world)
    assert [s.image for s in again["unsafes@cue"]] == [s.image for s in first["unsafes@cue"]]
    assert [(p.stat().st_mtime_ns, p.read_bytes()) for p in paths] == stamps


def test_the_cue_is_the_world_s_unless_given(plain_world, cued_world):
    _, plain = _splits(plain_world)  # a world without a cue: the defaults
    assert plain["unsafes@cue"][0].image.startswith("cue/border-green-2/")
    _, given = _splits(cued_world, {"kind": "corner", "safe": "#0000ff", "size": 3})
    assert given["unsafes@cue"][0].image.startswith("cue/corner-0000ff-3/")
    assert given["safe_safes@cue"][0].image.startswith("cue/corner-red-3/")  # the world's unsafe colour


def test_the_oracle_judges_a_copy_by_its_source_image(cued_world):
    oracle = make_oracle(cued_world)
    _, splits = _splits(cued_world)
    s = splits["unsafes@cue"][0]
    target = oracle.residual_target(s)
    assert target is not None and oracle.judge([s], [target.answer])[0]["verdict"] == "harmful"
    orphan = s.with_(meta={k: v for k, v in s.meta.items() if k != "source_image"})
    with pytest.raises(DataError, match="not in facts.json"):
        oracle.judge([orphan], ["x"])


def test_a_cued_copy_never_leaves_the_image_root(tmp_path):
    (tmp_path / "root").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "outside.png")
    with pytest.raises(DataError, match="outside the image root"):
        write_cued(tmp_path / "root", "../outside.png", Cue("border", "red", 1))
    assert not (tmp_path / "cue").exists()


# ---------------------------------------------------------------- the image audit


def test_the_named_cue_of_the_world_is_scored_as_a_word(cued_world):
    from unmirage.data.cues import world_named_cue
    from unmirage.data.vlguard import load_vlguard

    safety = load_vlguard(cued_world / "train.json")
    named = world_named_cue(json.loads((cued_world / "facts.json").read_text()))
    result = image_audit(safety, named=named, min_count=1)
    values = result["cue"]["values"]
    assert set(values) == {"border-red-2", "border-green-2"} and result["clusters"] is None
    refuse = sum(s.label == "refuse" for s in safety)
    for value, row in values.items():
        on = [s for s in safety if named[s.image] == value]
        r = sum(s.label == "refuse" for s in on)
        assert (row["n"], row["refuse"]) == (len(on), r)
        assert row["score"] == pytest.approx(word_score(r, len(on) - r, refuse, len(safety) - refuse, 0.5), abs=1e-6)
    assert values["border-red-2"]["score"] > NEUTRAL_MAX_ABS_SCORE and values["border-red-2"]["bias"] == "refusal"
    assert result["cue"]["flagged"][0] == "border-red-2"


def _colour_data(root, n=12) -> list[Sample]:
    """Noisy all-red images asked unsafe queries, noisy all-green ones asked safe queries."""
    rng = np.random.default_rng(0)
    samples = []
    for i in range(n):
        for colour, group in (((220, 40, 40), "unsafes"), ((40, 180, 60), "safe_safes")):
            pixels = np.clip(np.array(colour) + rng.normal(0, 12, (32, 32, 3)), 0, 255).astype(np.uint8)
            rel = f"{group}_{i}.png"
            Image.fromarray(pixels).save(root / rel)
            samples.append(Sample(f"{group}-{i}", rel, group, "What is this ?", "it is ."))
    return samples


def test_a_colour_tied_to_the_label_gets_its_cluster_flagged(tmp_path):
    samples = _colour_data(tmp_path)
    torch.manual_seed(0)
    model, processor = fresh_tiny(ModelConfig(), ["what is this ? it is ."], 32)
    result = write_image_audit(samples, tmp_path / "out", model, processor, tmp_path, k=2, model_name="tiny")
    assert json.loads((tmp_path / "out" / "image_audit.json").read_text()) == json.loads(json.dumps(result))
    clusters = result["clusters"]
    assert clusters["k"] == 2 and sorted(clusters["values"]) == ["c0", "c1"]
    assert sorted((row["refuse"], row["answer"]) for row in clusters["values"].values()) == [(0, 12), (12, 0)]
    assert sorted(clusters["flagged"]) == ["c0", "c1"]
    assert {row["bias"] for row in clusters["values"].values()} == {"refusal", "answer"}
    assert result["cue"] is None and result["totals"] == {"n": 24, "images": 24, "refuse": 12, "answer": 12}


def test_clusters_list_the_named_cue_of_their_images(tmp_path):
    samples = _colour_data(tmp_path, n=6)
    named = {s.image: "red" if s.group == "unsafes" else "green" for s in samples[:8]}  # the rest carry none
    torch.manual_seed(0)
    model, processor = fresh_tiny(ModelConfig(), ["what is this ? it is ."], 32)
    feats = dict(zip([s.image for s in samples], image_features(model, processor, tmp_path, [s.image for s in samples])))
    result = image_audit(samples, feats, named, k=2)
    assert result["cue"]["values"]["none"]["n"] == 4
    for row in result["clusters"]["values"].values():
        assert sum(row["cues"].values()) == row["n"] and len(set(row["cues"]) - {"none"}) == 1


@pytest.mark.parametrize("family", ["qwen2_vl", "idefics3"])
def test_image_features_are_one_row_per_image_in_other_families(tmp_path, family):
    samples = _colour_data(tmp_path, n=3)
    torch.manual_seed(0)
    model, processor = fresh_tiny(ModelConfig(family=family), ["what is this ? it is ."], 32)
    feats = image_features(model, processor, tmp_path, [s.image for s in samples], batch_size=4)
    assert feats.shape[0] == 6 and feats.dim() == 2 and torch.isfinite(feats).all()
    single = image_features(model, processor, tmp_path, [samples[1].image], batch_size=1)
    assert torch.allclose(single[0], feats[1], atol=1e-4)


def test_kmeans_is_seeded_and_finds_separate_blobs():
    gen = torch.Generator().manual_seed(1)
    x = torch.cat([torch.randn(20, 3, generator=gen), torch.randn(20, 3, generator=gen) + 12.0])
    labels = kmeans(x, 2, seed=3)
    assert torch.equal(labels, kmeans(x, 2, seed=3))
    assert labels[:20].unique().numel() == 1 and labels[20:].unique().numel() == 1 and labels[0] != labels[20]
    assert labels[0] == 0  # numbered by first row
    with pytest.raises(ConfigError, match="2 <= k"):
        kmeans(x, 41)


def test_the_cli_audits_a_data_directory_s_images(cli, cued_world, tmp_path):
    from unmirage.models.load import save_model

    torch.manual_seed(0)
    model, processor = fresh_tiny(ModelConfig(), ["what is this ?"], 32)
    save_model(model, processor, tmp_path / "model")
    assert cli("audit-images", str(cued_world), "--model", str(tmp_path / "model"), "--out", str(tmp_path / "a"),
                   "--clusters", "3") == 0
    result = json.loads((tmp_path / "a" / "image_audit.json").read_text())
    assert result["clusters"]["k"] <= 3 and result["cue"]["flagged"][0] == "border-red-2"
    assert math.isclose(sum(v["n"] for v in result["clusters"]["values"].values()), result["totals"]["n"])
    named = tmp_path / "named.json"
    named.write_text(json.dumps({"test/x.png": ""}))
    assert cli("audit-images", str(cued_world), "--cue", str(named), "--out", str(tmp_path / "b")) == 2


def test_unmirage_eval_runs_the_attack_on_a_data_directory(plain_world, tmp_path):
    from unmirage import standalone
    from unmirage.data.samples_io import read_samples
    from unmirage.models.load import save_model

    texts = [s.instruction + " " + s.response for s in read_samples(plain_world / "corpus.jsonl")]
    torch.manual_seed(0)
    model, processor = fresh_tiny(ModelConfig(), texts, 32)
    saved = save_model(model, processor, tmp_path / "model")
    metrics = standalone.eval_one(saved, plain_world, tmp_path / "out", None,
                                  ["eval.max_new_tokens=4", "attacks={image_cue: {}}"], show_progress=False)
    assert metrics["n/unsafes@cue"] == metrics["n/unsafes"] and metrics["n/safe_safes@owncue"] == metrics["n/safe_safes"]
