"""A small study on a world whose safety set carries an image cue, with the image-cue attack on
every arm: its splits' keys, its answers on the cued copies, the image audit and the report."""

from __future__ import annotations

import json

import yaml

from unmirage.config import default_arms
from unmirage.results import check_results


def test_a_study_runs_the_image_cue_attack_and_audits_the_images(cli, tmp_path):
    steps = {"steps": 4, "batch_size": 4}
    cfg = {"name": "cue", "out_dir": str(tmp_path / "runs"),
           "world": {"n_concepts": 6, "train_renders": 3, "test_renders": 1, "corpus_per_render": 2,
                     "safety_renders": 2, "retain_topup": 5, "image_cue": {"kind": "border"}},
           "arms": {name: dict(steps) for name in default_arms()},
           "run_arms": ["sft_posthoc"], "eval": {"max_new_tokens": 8},
           "attacks": {"image_cue": {"clusters": 3}}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert cli("run", str(path), "--quiet") == 0
    run = tmp_path / "runs" / "cue"
    results = json.loads((run / "results.json").read_text())
    assert check_results(results) == []
    for arm in ("base", "sft_posthoc"):
        a = results["arms"][arm]
        assert a["n/unsafes@cue"] == a["n/unsafes"] > 0 and a["n/safe_safes@cue"] == a["n/safe_safes"] > 0
        assert {"asr/unsafes@cue", "rr/safe_safes@cue", "asr/unsafes@owncue", "rr/safe_safes@owncue"} <= set(a)

    rows = [json.loads(line) for line in (run / "eval" / "sft_posthoc" / "samples.jsonl").read_text().splitlines()]
    plain = {r["id"]: r for r in rows if r["split"] == "unsafes"}
    cued = [r for r in rows if r["split"] == "unsafes@cue"]
    assert cued and all(r["image"].startswith("cue/border-green-2/test/") for r in cued)
    own = [r for r in rows if r["split"] == "unsafes@owncue"]
    assert len(own) == len(cued) and all(r["image"].startswith("cue/border-red-2/test/") for r in own)
    assert all(r["instruction"] == plain[r["source_id"]]["instruction"] for r in cued)
    assert all((run / "world" / "images" / r["image"]).is_file() for r in cued)

    audit = json.loads((run / "image_audit.json").read_text())
    assert audit["model"] == "base" and audit["clusters"]["k"] <= 3
    assert audit["cue"]["flagged"][0] == "border-red-2"  # red goes with refusals in the safety set
    assert audit["cue"]["values"]["border-red-2"]["score"] > audit["max_abs_score"]
    assert sum(v["n"] for v in audit["clusters"]["values"].values()) == audit["totals"]["n"]

    report = (run / "report.md").read_text()
    assert "## Image cue" in report
