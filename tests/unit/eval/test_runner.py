"""The evaluation loop with a fake backend: the generation cache, judging, and data-parallel sharding."""

from __future__ import annotations

import json

import pytest

from unmirage.config import EvalConfig
from unmirage.errors import DataError
from unmirage.eval.cache import (
    GenerationCache,
    ImageDigests,
    dir_fingerprint,
    hub_revision,
    model_fingerprint,
)
from unmirage.eval.keyword import KeywordJudge
from unmirage.eval.runner import evaluate, shard
from unmirage.eval.vlm import VLMJudge


class CountingBackend:
    """Answers "sorry" to even-numbered questions and a recipe to the others; counts generations."""

    def __init__(self, max_new_tokens: int = 24):
        self.settings = {"backend": "fake", "max_new_tokens": max_new_tokens, "greedy": True}
        self.generated = 0

    def generate(self, samples):
        self.generated += len(samples)
        return ["sorry, i can not help" if int(s.id[-1]) % 2 == 0 else "mix it then heat it" for s in samples]


def _run(tmp_path, processor, images, splits, name, backend, judge=None, **cfg):
    cfg = EvalConfig(judge="keyword", batch_size=3, cache_dir=str(tmp_path / "cache"), **cfg)
    metrics = evaluate(None, processor, splits, judge or KeywordJudge(), images, tmp_path / name, cfg, 64,
                       show_progress=False, generator=backend, model_key="model-1")
    return metrics, [json.loads(line) for line in (tmp_path / name / "samples.jsonl").read_text().splitlines()]


def test_cache_lets_another_run_skip_generation(tmp_path, eval_processor, eval_images, make_samples):
    splits = {"unsafes": make_samples(5)}
    first = CountingBackend()
    m1, rows1 = _run(tmp_path, eval_processor, eval_images, splits, "run1", first)
    assert first.generated == 5 and m1["asr/unsafes"] == 2 / 5
    again = CountingBackend()
    m2, rows2 = _run(tmp_path, eval_processor, eval_images, {"unsafes@copy": make_samples(5)}, "run2", again)
    assert again.generated == 0
    assert [r["answer"] for r in rows2] == [r["answer"] for r in rows1] and m2["asr/unsafes@copy"] == 2 / 5


def test_resume_reuses_only_answers_to_the_same_query(tmp_path, eval_processor, eval_images, make_samples):
    """A rerun in the same directory keeps finished answers, but a rewrite with another word (same
    id, other instruction) or another image is asked again, and old answers leave the metrics."""
    first = CountingBackend()
    _run(tmp_path, eval_processor, eval_images, {"unsafes@attack": make_samples(4)}, "run", first, cache=False)
    again = CountingBackend()
    _, rows = _run(tmp_path, eval_processor, eval_images, {"unsafes@attack": make_samples(4)}, "run", again,
                   cache=False)
    assert (first.generated, again.generated, len(rows)) == (4, 0, 4)
    reworded = [s.with_(instruction="Share " + s.instruction) for s in make_samples(4)]
    other = CountingBackend()
    metrics, rows = _run(tmp_path, eval_processor, eval_images, {"unsafes@attack": reworded}, "run", other,
                         cache=False)
    assert other.generated == 4 and len(rows) == 8 and metrics["n/unsafes@attack"] == 4
    moved = CountingBackend()
    _run(tmp_path, eval_processor, eval_images, {"unsafes@attack": make_samples(4, image="b.png")}, "run", moved,
         cache=False)
    assert moved.generated == 4


def test_decoding_settings_and_image_content_are_part_of_the_key(tmp_path, eval_processor, eval_images,
                                                                 make_samples):
    _run(tmp_path, eval_processor, eval_images, {"unsafes": make_samples(4)}, "run1", CountingBackend())
    longer = CountingBackend(max_new_tokens=48)
    _run(tmp_path, eval_processor, eval_images, {"unsafes": make_samples(4)}, "run2", longer, max_new_tokens=48)
    assert longer.generated == 4
    other_image, same_pixels = CountingBackend(), CountingBackend()
    _run(tmp_path, eval_processor, eval_images, {"unsafes": make_samples(4, image="b.png")}, "run3", other_image)
    _run(tmp_path, eval_processor, eval_images, {"unsafes": make_samples(4, image="a_copy.png")}, "run4", same_pixels)
    assert other_image.generated == 4 and same_pixels.generated == 0  # keyed by content, not by path


def test_cache_off_or_other_model_generates_again(tmp_path, eval_processor, eval_images, make_samples):
    splits = {"unsafes": make_samples(3)}
    _run(tmp_path, eval_processor, eval_images, splits, "run1", CountingBackend())
    off = CountingBackend()
    _run(tmp_path, eval_processor, eval_images, splits, "run2", off, cache=False)
    assert off.generated == 3
    other = CountingBackend()
    evaluate(None, eval_processor, splits, KeywordJudge(), eval_images, tmp_path / "run3",
             EvalConfig(judge="keyword", cache_dir=str(tmp_path / "cache")), 64, show_progress=False,
             generator=other, model_key="model-2")
    assert other.generated == 3


def test_cache_file_tolerates_a_truncated_last_line(tmp_path):
    cache = GenerationCache(tmp_path, "f" * 64)
    cache.put({"k1": "a1", "k2": "a2"})
    with cache.path.open("a") as f:
        f.write('{"key": "k3", "ans')
    again = GenerationCache(tmp_path, "f" * 64)
    assert again.get("k1") == "a1" and again.get("k2") == "a2" and again.get("k3") is None


def test_model_fingerprint_follows_the_files(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"weights-1")

    class Loaded:
        name_or_path = str(tmp_path)

    before = model_fingerprint(Loaded())
    assert before == dir_fingerprint(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    (tmp_path / "model.safetensors").write_bytes(b"weights-2")
    assert model_fingerprint(Loaded()) != before

    class Built:
        name_or_path = ""

    assert model_fingerprint(Built()) is None


def test_hub_models_are_known_by_their_cached_commit(tmp_path):
    repo = tmp_path / "models--owner--vlm"
    for commit in ("a" * 40, "b" * 40):
        (repo / "snapshots" / commit).mkdir(parents=True)
        (repo / "snapshots" / commit / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("b" * 40)
    assert hub_revision("owner/vlm", cache_dir=tmp_path) == "b" * 40
    assert hub_revision("owner/other", cache_dir=tmp_path) is None


def test_image_digests_stay_inside_the_root(eval_images):
    digests = ImageDigests(eval_images)
    assert digests("a.png") == digests("a_copy.png") != digests("b.png")
    with pytest.raises(DataError, match="outside the image root"):
        digests("../secret.png")
    with pytest.raises(DataError, match="not found"):
        digests("missing.png")


def test_vlm_verdicts_reach_the_metrics(tmp_path, eval_processor, eval_images, make_samples):
    replies = {"sorry, i can not help": "refusal", "mix it then heat it": "the answer explains mixing"}
    judge = VLMJudge(lambda convs, imgs: [replies[c[0]["content"][1]["text"].split("Answer: ")[1].split("\n")[0]]
                                          for c in convs], eval_images)
    metrics, rows = _run(tmp_path, eval_processor, eval_images, {"unsafes": make_samples(4)}, "run", CountingBackend(),
                         judge=judge)
    assert [r["verdict"] for r in rows] == ["refusal", "unparsed", "refusal", "unparsed"]
    assert rows[1]["judge_output"] == "the answer explains mixing"
    assert metrics["unparsed/unsafes"] == 0.5 and metrics["asr/unsafes"] == 0.0 and metrics["rr/unsafes"] == 1.0


@pytest.mark.parametrize("n, world", [(10, 3), (2, 4), (0, 2), (7, 1), (8, 4)])
def test_shards_cover_every_item_once_in_order(n, world):
    items = list(range(n))
    parts = [shard(items, rank, world) for rank in range(world)]
    assert [x for p in parts for x in p] == items
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_shard_matches_accelerate_split():
    assert [shard(list(range(10)), r, 3) for r in range(3)] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]


class CrashingBackend(CountingBackend):
    """Generates one batch, then dies (an interrupted evaluation)."""

    def generate(self, samples):
        if self.generated:
            raise KeyboardInterrupt
        return super().generate(samples)


def test_an_interrupted_evaluation_resumes_its_answers(tmp_path, eval_processor, eval_images, make_samples):
    splits = {"unsafes": make_samples(6)}
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, eval_processor, eval_images, splits, "run", CrashingBackend(), cache=False)
    again = CountingBackend()
    _, rows = _run(tmp_path, eval_processor, eval_images, splits, "run", again, cache=False)
    assert again.generated == 3 and len(rows) == 6  # the first batch of 3 was kept
    assert not (tmp_path / "run" / "samples.stale.jsonl").exists()


def test_answers_of_another_model_are_set_aside(tmp_path, eval_processor, eval_images, make_samples):
    splits = {"unsafes": make_samples(3)}
    _run(tmp_path, eval_processor, eval_images, splits, "run", CountingBackend(), cache=False)
    cfg = EvalConfig(judge="keyword", batch_size=3, cache=False)
    other = CountingBackend()
    evaluate(None, eval_processor, splits, KeywordJudge(), eval_images, tmp_path / "run", cfg, 64,
             show_progress=False, generator=other, model_key="model-2")
    assert other.generated == 3 and (tmp_path / "run" / "samples.stale.jsonl").is_file()


def test_a_kill_mid_append_leaves_a_cut_line_that_the_resume_asks_again(tmp_path, eval_processor, eval_images,
                                                                          make_samples):
    splits = {"unsafes": make_samples(6)}
    _run(tmp_path, eval_processor, eval_images, splits, "run", CountingBackend(), cache=False)
    path = tmp_path / "run" / "samples.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:4]) + "\n" + lines[4][: len(lines[4]) // 2])  # 4 whole answers, half a fifth
    again = CountingBackend()
    _, rows = _run(tmp_path, eval_processor, eval_images, splits, "run", again, cache=False)
    assert again.generated == 2 and len(rows) == 6  # the cut answer and the missing one, asked again
    assert sorted(r["id"] for r in rows) == sorted(s.id for s in splits["unsafes"])


def test_a_model_s_fingerprint_ignores_how_long_it_trained(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    before = dir_fingerprint(tmp_path)
    (tmp_path / "train_log.json").write_text('{"seconds": 12.5}')
    (tmp_path / "artefact.json").write_text('{"key": "k"}')
    assert dir_fingerprint(tmp_path) == before
