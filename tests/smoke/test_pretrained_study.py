"""The study on a model named by path (as a hub checkpoint would be), on a given data directory:
a base arm that only evaluates the pretrained model, and arms that start from it."""

from __future__ import annotations

import json

import torch
import yaml

from unmirage.config import ModelConfig
from unmirage.data.samples_io import read_samples
from unmirage.models.families import fresh_tiny
from unmirage.models.load import save_model

SMALL = {"text_hidden": 32, "text_intermediate": 64, "text_layers": 3, "text_heads": 2, "vision_hidden": 32,
         "vision_layers": 1, "vision_heads": 2}


def test_study_on_a_pretrained_qwen2_vl(tiny_world, tmp_path, cli):
    texts = [s.instruction + " " + s.response for name in ("corpus", "forget", "retain", "utility")
             for s in read_samples(tiny_world / f"{name}.jsonl")]
    torch.manual_seed(0)
    model, processor = fresh_tiny(ModelConfig(family="qwen2_vl", max_length=128, **SMALL), texts, 32)
    save_model(model, processor, tmp_path / "pretrained")
    cfg = {"name": "real", "out_dir": str(tmp_path / "runs"), "data_dir": str(tiny_world),
           "model": {"name": str(tmp_path / "pretrained"), "max_length": 128},
           "budget": {"steps": 2, "batch_size": 4},
           "arms": {"base": {"method": "none", "init": "pretrained"},
                    "npo": {"method": "npo", "init": "base", "mix": "forget+retain", "lr": 1e-2},
                    "sft_lora": {"method": "sft", "init": "pretrained", "mix": "safety+retain", "lr": 1e-2}},
           "run_arms": ["base", "npo", "sft_lora"], "eval": {"judge": "keyword", "max_new_tokens": 4}}
    path = tmp_path / "real.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert cli("run", str(path), "--quiet", "--set", "model.finetune=lora") == 0
    run = tmp_path / "runs" / "real"
    results = json.loads((run / "results.json").read_text())
    assert list(results["arms"]) == ["base", "sft_lora", "npo"]  # each arm after the one it starts from
    assert not (run / "models" / "base").exists()  # nothing trained, nothing copied
    for arm in ("npo", "sft_lora"):
        log = json.loads((run / "models" / arm / "train_log.json").read_text())
        assert log["budget"]["steps"] == 2 and log["trainable_parameters"] > 0
        assert 0.0 <= results["arms"][arm]["rr/safe_safes@rewrite"] <= 1.0
    assert (run / "report.md").is_file()
