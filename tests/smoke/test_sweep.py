"""`unmirage sweep`: one arm per value of a key, sharing the study's base model."""

from __future__ import annotations

import json

import pytest
import yaml
from safetensors.torch import load_file




@pytest.fixture
def small_config(tmp_path):
    cfg = {"name": "sweep", "out_dir": str(tmp_path / "runs"),
           "world": {"n_concepts": 6, "train_renders": 3, "test_renders": 1, "corpus_per_render": 2,
                     "safety_renders": 2, "retain_topup": 5},
           "budget": {"steps": 3, "batch_size": 4}, "arms": {"base": {"steps": 3}}, "eval": {"max_new_tokens": 4}}
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_rmu_layer_sweep(cli, small_config, tmp_path, monkeypatch, capsys):
    assert cli("sweep", "rmu", "params.layer", "0", "3", "--config", str(small_config), "--quiet") == 0
    run = tmp_path / "runs" / "sweep"
    rows = json.loads((run / "sweep_rmu_layer.json").read_text())["rows"]  # one file per arm and key
    assert [r["value"] for r in rows] == [0, 3]
    for r in rows:
        log = json.loads((run / "models" / r["arm"] / "train_log.json").read_text())
        assert log["calibration"]["layer"] == r["value"] and r["coeff"] == log["calibration"]["coeff"] > 0
        assert all(0.0 <= r[k] <= 1.0 for k in ("asr/unsafes", "asr/unsafes@attack", "asr/unsafes@control",
                                                  "rr/safe_safes@rewrite", "rr/safe_safes@control"))
    assert "| params.layer |" in capsys.readouterr().out
    assert len(list((run / "models").glob("base"))) == 1  # one base model, shared


def test_sweep_rejects_an_unknown_parameter_before_training(cli, small_config, tmp_path, monkeypatch, capsys):
    assert cli("sweep", "rmu", "params.layr", "1", "--config", str(small_config)) == 2
    assert "layr" in capsys.readouterr().err
    assert not (tmp_path / "runs" / "sweep" / "models").exists()


def test_seed_sweep_trains_one_arm_per_seed_on_one_base(cli, small_config, tmp_path):
    assert cli("sweep", "sft_posthoc", "seed", "1", "2", "--config", str(small_config), "--quiet") == 0
    models = tmp_path / "runs" / "sweep" / "models"
    logs = {s: json.loads((models / f"sft_posthoc@seed={s}" / "train_log.json").read_text()) for s in (1, 2)}
    assert [logs[s]["seed"] for s in (1, 2)] == [1, 2]
    assert json.loads((models / "base" / "train_log.json").read_text())["seed"] == 0  # the study's seed
    # other data orders, other models
    a, b = (load_file(models / f"sft_posthoc@seed={s}" / "model.safetensors") for s in (1, 2))
    assert any(not (a[k] == b[k]).all() for k in a)
