"""The registered attacks on every arm of a small study: their keys, their answers, the report."""

from __future__ import annotations

import json

import yaml

from unmirage.config import default_arms
from unmirage.results import check_results
from unmirage.world.oracle import make_oracle, words_of


def test_a_study_runs_the_registered_attacks_on_every_arm(cli, tmp_path):
    steps = {"steps": 4, "batch_size": 4}
    cfg = {"name": "attacks", "out_dir": str(tmp_path / "runs"),
           "world": {"n_concepts": 6, "train_renders": 3, "test_renders": 1, "corpus_per_render": 2,
                     "safety_renders": 2, "retain_topup": 5},
           "arms": {name: dict(steps) for name in default_arms()},
           "run_arms": ["npo"], "eval": {"max_new_tokens": 8},
           "attacks": {"prefill": {"tokens": [0, 3]}, "depth": {"positions": 4},
                       "relearn": {"steps": [0, 2], "batch_size": 4}}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert cli("run", str(path), "--quiet") == 0
    run = tmp_path / "runs" / "attacks"
    results = json.loads((run / "results.json").read_text())
    assert check_results(results) == []
    base, npo = results["arms"]["base"], results["arms"]["npo"]
    for arm in (base, npo):
        assert {"asr/unsafes@prefill0", "asr/unsafes@prefill3", "asr/unsafes@relearn0"} <= set(arm)
    assert "asr/unsafes@relearn2" in npo and "asr/unsafes@relearn2" not in base  # the base is not relearned
    assert "leak/unsafes@relearn2" in npo  # graded by the oracle, as the report's relearning table needs
    assert [f"kl/harmful[{t}]" in npo for t in (1, 2, 3, 4)] == [True] * 4 and "kl/harmful[1]" not in base
    assert npo["n/unsafes@relearn0"] < npo["n/unsafes"]  # held-out hazards only

    steps_of_hazards = {w for h in make_oracle(run / "world").hazards for w in h}
    rows = [json.loads(line) for line in (run / "eval" / "npo" / "samples.jsonl").read_text().splitlines()]
    prefilled = [r for r in rows if r["split"] == "unsafes@prefill3"]
    assert prefilled and all(r.get("prefill") for r in prefilled)
    assert not any(words_of(r["prefill"]) & steps_of_hazards for r in prefilled)
    relearned = run / "eval" / "npo" / "attacks" / "relearn" / "step2" / "model"
    assert (relearned / "artefact.json").is_file()
    made = relearned.stat().st_mtime_ns, sorted(p.name for p in relearned.iterdir())

    report = (run / "report.md").read_text()
    assert "## Prefilling attack" in report and "## Relearning attack" in report and "## Alignment depth" in report
    assert (run / "depth.png").is_file() and "(depth.png)" in report

    assert cli("run", str(path), "--quiet") == 0  # a rerun reuses the relearned model
    assert (relearned.stat().st_mtime_ns, sorted(p.name for p in relearned.iterdir())) == made
