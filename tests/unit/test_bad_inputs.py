"""The catalogue of bad inputs (docs/bad-inputs.md): each stops with a message that says what to
fix, and nothing already finished is lost."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from unmirage.config import ArmConfig, ModelConfig, load_config
from unmirage.data.datasets import load_dataset
from unmirage.data.inputs import Encoder
from unmirage.data.layout import DataDir
from unmirage.data.records import Sample, load_image
from unmirage.data.vlguard import load_vlguard
from unmirage.errors import ConfigError, DataError
from unmirage.eval.runner import make_judge
from unmirage.io import write_json
from unmirage.models.families import fresh_tiny
from unmirage.models.load import load_model, save_model
from unmirage.study import Study


@pytest.fixture
def data(tiny_world, tmp_path):
    """A copy of the tiny world that a test may break."""
    return shutil.copytree(tiny_world, tmp_path / "data")


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    model, processor = fresh_tiny(ModelConfig(), ["what is it", "share this image"], 32)
    return save_model(model, processor, tmp_path_factory.mktemp("model") / "m")


# ---------------------------------------------------------------- images

def test_a_missing_image(data):
    with pytest.raises(DataError, match="not found under"):
        load_image(data / "images", "train/nowhere.png")


def test_a_corrupt_image(data):
    (data / "images" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="cannot be read"):
        load_image(data / "images", "bad.png")


def test_an_image_path_outside_its_root(data):
    records = json.loads((data / "train.json").read_text())
    records[0]["image"] = "../../etc/passwd"
    (data / "train.json").write_text(json.dumps(records))
    with pytest.raises(DataError, match="outside the image root"):
        load_dataset("vlguard", data / "train.json", image_root=data / "images")


# ---------------------------------------------------------------- records and sets

def test_malformed_json(data):
    (data / "train.json").write_text('[{"id": 1,')
    with pytest.raises(DataError, match="not valid JSON"):
        load_vlguard(data / "train.json")


def test_a_record_missing_a_field(data):
    records = json.loads((data / "test.json").read_text())
    del records[1]["instr-resp"]
    (data / "test.json").write_text(json.dumps(records))
    with pytest.raises(DataError, match="record 1.*missing key 'instr-resp'"):
        load_vlguard(data / "test.json")


def test_an_empty_split(data, tmp_path):
    (data / "test.json").write_text("[]")
    study = Study(load_config(None, [f"out_dir={tmp_path}", f"data_dir={data}"]), show_progress=False)
    with pytest.raises(DataError, match="test.json: holds no samples"):
        study.load_data()


def test_an_empty_forget_set(data, tmp_path):
    (data / "forget.jsonl").write_text("")
    study = Study(load_config(None, [f"out_dir={tmp_path}", f"data_dir={data}"]), show_progress=False)
    with pytest.raises(DataError, match="forget.jsonl: holds no samples"):
        study.load_data()


# ---------------------------------------------------------------- names

@pytest.mark.parametrize("override, match", [
    ("arms.npo.method=npx", "unknown method 'npx'.*Did you mean 'npo'"),
    ("eval.judge=orcale", "unknown judge 'orcale'.*Did you mean 'oracle'"),
    ("wrold.seed=1", "unknown key 'wrold'.*Did you mean 'world'"),
    ("arms.npo.mix=forget+retian", "Did you mean 'forget\\+retain'"),
])
def test_an_unknown_name(tmp_path, override, match):
    with pytest.raises(ConfigError, match=match):
        Study(load_config(None, [f"out_dir={tmp_path}", override]), show_progress=False)


def test_an_unknown_dataset_format(data):
    with pytest.raises(ConfigError, match="unknown dataset 'vlgaurd'.*Did you mean 'vlguard'"):
        load_dataset("vlgaurd", data / "train.json")


def test_a_judge_that_does_not_fit_the_data(tmp_path):
    from unmirage.config import EvalConfig

    with pytest.raises(DataError, match="facts.json"):  # the oracle knows the embedded world only
        make_judge(EvalConfig(judge="oracle"), tmp_path, tmp_path / "images")


# ---------------------------------------------------------------- models

def test_a_model_directory_without_weights(saved_model, tmp_path):
    bare = shutil.copytree(saved_model, tmp_path / "bare")
    (bare / "model.safetensors").unlink()
    with pytest.raises(ConfigError, match="holds no weights"):
        load_model(bare)


def test_a_pickle_only_checkpoint_is_refused(saved_model, tmp_path, monkeypatch):
    pickled = shutil.copytree(saved_model, tmp_path / "pickled")
    (pickled / "model.safetensors").unlink()
    torch.save({"w": torch.zeros(1)}, pickled / "pytorch_model.bin")
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("a pickle file was loaded"))
    with pytest.raises(ConfigError, match="only as pickle files \\(pytorch_model.bin\\)"):
        load_model(pickled)


def test_remote_code_needed_but_off(saved_model, tmp_path):
    remote = shutil.copytree(saved_model, tmp_path / "remote")
    config = json.loads((remote / "config.json").read_text())
    write_json(remote / "config.json", {**config, "auto_map": {"AutoConfig": "configuration_x.XConfig"}})
    with pytest.raises(ConfigError, match="trust_remote_code=true"):
        load_model(remote)


def test_truncation_that_would_cut_image_tokens(saved_model, data):
    model, processor = load_model(saved_model)
    sample = Sample("a", "train/" + next((data / "images" / "train").iterdir()).name, "safe_safes", "what is it",
                    "a long answer " * 20)
    with pytest.raises(DataError, match="image tokens are never truncated"):
        Encoder(processor, data / "images", max_length=16).encode(sample)


# ---------------------------------------------------------------- writes

def test_an_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    import os

    from unmirage.results import study_results, write_results

    path = tmp_path / "results.json"
    write_results(path, study_results({}, {}, {"a": {"asr/unsafes": 0.5}}, {}, {}, {}))
    before = path.read_text()

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_results(path, study_results({}, {}, {"a": {"asr/unsafes": 0.9}}, {}, {}, {}))
    assert path.read_text() == before  # the finished results, whole
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no half-written file left behind


def test_a_stale_model_stops_the_run_before_any_work(tmp_path):
    """An arm whose saved model was made for another setup is named, and nothing is overwritten."""
    from unmirage.arms import Arms
    from unmirage.artefacts import record

    cfg = load_config(None, [f"out_dir={tmp_path}"])
    models = tmp_path / "default" / "models" / "sft_posthoc"
    models.mkdir(parents=True)
    (models / "config.json").write_text("{}")
    (models / "model.safetensors").write_bytes(b"weights")
    spec = Arms(cfg, tmp_path / "default", DataDir(tmp_path), False).spec("sft_posthoc")
    record(models, {**spec, "arm": {**spec["arm"], "lr": 1.0}})
    with pytest.raises(ConfigError, match="sft_posthoc: arm.lr"):
        Study(cfg, show_progress=False).run()
    assert (models / "model.safetensors").read_bytes() == b"weights"
    assert not (tmp_path / "default" / "world").exists()  # stopped before building anything


def test_a_paired_method_on_the_wrong_mix():
    from unmirage.mixes import check_mix

    with pytest.raises(ConfigError, match="method npo trains on mix forget\\+retain"):
        check_mix("npo", ArmConfig().mix, "arm npo")
