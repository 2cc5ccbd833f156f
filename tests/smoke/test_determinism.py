"""Two runs of the same study config with the same seeds give the same results.json."""

from __future__ import annotations

import json

import yaml

from unmirage.config import default_arms


def test_the_same_config_twice_gives_identical_results(cli, tmp_path):
    cfg = {
        "name": "same",
        "world": {"n_concepts": 6, "train_renders": 3, "test_renders": 1, "corpus_per_render": 2,
                  "safety_renders": 2, "retain_topup": 5},
        "arms": {name: {"steps": 4, "batch_size": 4} for name in default_arms()},
        "eval": {"max_new_tokens": 8, "cache": False},  # no answer may come from the other run
    }
    results = []
    for run in ("a", "b"):
        path = tmp_path / f"{run}.yaml"
        path.write_text(yaml.safe_dump({**cfg, "out_dir": str(tmp_path / run)}))
        assert cli("run", str(path), "--quiet") == 0
        results.append(json.loads((tmp_path / run / "same" / "results.json").read_text()))
    a, b = results
    for doc in (a, b):
        doc.pop("timings")  # seconds differ from run to run
        doc["config"].pop("out_dir")
    assert a == b
    assert a["arms"]["sft_posthoc"] and a["artefacts"]["npo"]["answers"]  # something was compared
