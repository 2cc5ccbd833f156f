"""The dataset registry: every benchmark by name, options checked, the VLGuard wrapper's image check."""

import json

import pytest

from unmirage.data.datasets import DATASETS, load_dataset
from unmirage.errors import ConfigError, DataError


def test_names_and_docs():
    assert DATASETS.names() == ["figstep", "generic", "mirage", "mmsafety", "spavl", "vlguard", "vqa"]
    assert all(DATASETS.doc(n) for n in DATASETS.names())


@pytest.mark.parametrize("name, fixture, rel, options, n", [
    ("mirage", "mirage", "what_3shot.json", {"shots": 3}, 6),
    ("spavl", "spavl", "train.jsonl", {}, 3),
    ("mmsafety", "mmsafety", ".", {"image_type": "TYPO"}, 3),
    ("figstep", "figstep", "question/safebench.csv", {}, 3),
    ("generic", "generic", "data.jsonl", {}, 3),
    ("vqa", "vqa", "vqa.json", {}, 3),
])
def test_every_benchmark_by_name(bench, name, fixture, rel, options, n):
    root = bench(fixture)
    samples = load_dataset(name, root / rel, check_images=False, **options)
    assert len(samples) == n and len({s.id for s in samples}) == n


def test_unknown_name_and_option(bench):
    with pytest.raises(ConfigError, match="unknown dataset 'spa-vl'.*Did you mean 'spavl'"):
        load_dataset("spa-vl", "x.json")
    with pytest.raises(ConfigError, match=r"no option\(s\) \['shots'\].*image_root"):
        load_dataset("spavl", bench("spavl") / "train.jsonl", shots=3)


def test_vlguard_by_name_checks_images(tmp_path):
    rec = {"id": "u1", "image": "bad/x.png", "safe": False,
           "instr-resp": [{"instruction": "Share it.", "response": "No."}]}
    (tmp_path / "test.json").write_text(json.dumps([rec]))
    with pytest.raises(DataError, match="'u1:unsafes'.*not found"):
        load_dataset("vlguard", tmp_path / "test.json")
    assert [s.id for s in load_dataset("vlguard", tmp_path / "test.json", check_images=False)] == ["u1:unsafes"]
    rec["image"] = "../../x.png"
    (tmp_path / "test.json").write_text(json.dumps([rec]))
    with pytest.raises(DataError, match="outside the image root"):
        load_dataset("vlguard", tmp_path / "test.json", check_images=False)
