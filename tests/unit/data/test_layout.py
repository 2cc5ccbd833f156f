"""The data directory read as `data.*` says: any registered format, its own paths and image root."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from unmirage.config import DataConfig, load_config
from unmirage.data.datasets import load_dataset
from unmirage.data.layout import TEST, TRAIN, DataDir
from unmirage.errors import ConfigError, DataError

FIXTURES = Path(__file__).parents[2] / "fixtures"


def make_images(samples, root: Path) -> None:
    for s in samples:
        (root / s.image).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8)).save(root / s.image)


def spavl_dir(tmp_path: Path) -> Path:
    """A data directory whose safety set is the SPA-VL fixture, with its images made."""
    root = tmp_path / "data"
    root.mkdir()
    shutil.copy(FIXTURES / "spavl" / "train.jsonl", root / "spavl.jsonl")
    make_images(load_dataset("spavl", root / "spavl.jsonl", check_images=False), root / "images")
    return root


def test_a_format_reads_the_safety_set_from_its_own_path(tmp_path):
    root = spavl_dir(tmp_path)
    data = DataDir(root, spec=DataConfig(format="spavl", train="spavl.jsonl"))
    assert data.has(TRAIN) and not data.has(TEST)
    samples = data.read(TRAIN)
    assert samples == load_dataset("spavl", root / "spavl.jsonl", image_root=root / "images")
    assert data.images == root / "images"


def test_the_test_set_may_have_another_format_with_its_options(tmp_path):
    root = spavl_dir(tmp_path)
    shutil.copytree(FIXTURES / "mmsafety", root / "mmsafety")
    spec = DataConfig(format="spavl", train="spavl.jsonl", test="mmsafety", test_format="mmsafety",
                      image_root="mmsafety", options={"mmsafety": {"image_type": "TYPO"}})
    data = DataDir(root, spec=spec)
    assert data.has(TEST)  # a folder that its format reads
    want = load_dataset("mmsafety", root / "mmsafety", image_root=root / "mmsafety", image_type="TYPO",
                        check_images=False)
    with pytest.raises(DataError, match="not found"):  # the fixture ships no images: checked at load
        data.read(TEST)
    make_images(want, root / "mmsafety")
    assert data.read(TEST) == want


def test_how_the_data_is_read_is_part_of_what_it_is(tmp_path):
    root = spavl_dir(tmp_path)
    shutil.copy(root / "spavl.jsonl", root / "train.json")
    plain = DataDir(root).digests()
    read_as_spavl = DataDir(root, spec=DataConfig(format="spavl")).digests()
    assert plain[TRAIN] == read_as_spavl[TRAIN] and "data" not in plain
    assert read_as_spavl["data"] != DataDir(root, spec=DataConfig(format="generic")).digests()["data"]
    assert DataDir(root).digests() == plain  # the default layout keeps its keys


@pytest.mark.parametrize("spec, match", [
    (DataConfig(format="spvl"), "unknown dataset 'spvl'.*spavl"),
    (DataConfig(test_format="mmsafty"), "unknown dataset 'mmsafty'.*mmsafety"),
    (DataConfig(options={"mmsafety": ["TYPO"]}), "data.options.mmsafety must map"),
    (DataConfig(format="spavl", options={"spavl": {"image_root": "x"}}), "image_root are set by"),
    (DataConfig(format="spavl", options={"spavl": {"check_images": False}}), "check_images are set by"),
    (DataConfig(format="spavl", train="../elsewhere.jsonl"), "data.train = '../elsewhere.jsonl' leaves"),
])
def test_a_bad_data_spec_fails_before_any_reading(tmp_path, spec, match):
    with pytest.raises(ConfigError, match=match):
        DataDir(tmp_path, spec=spec)


def test_an_unknown_loader_option_is_named(tmp_path):
    root = spavl_dir(tmp_path)
    data = DataDir(root, spec=DataConfig(format="spavl", train="spavl.jsonl", options={"spavl": {"grup": "x"}}))
    with pytest.raises(ConfigError, match="no option.*grup"):
        data.read(TRAIN)


def test_data_keys_need_a_data_dir_and_the_old_key_says_where_it_went():
    with pytest.raises(ConfigError, match="set data_dir too"):
        load_config(None, ["data.format=spavl"])
    with pytest.raises(ConfigError, match="'data' is now called 'data_dir'"):
        load_config(None, ["data=some/dir"])
    assert load_config(None, ["data_dir=d", "data.format=spavl"]).data.format == "spavl"
