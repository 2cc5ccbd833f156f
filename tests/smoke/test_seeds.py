"""A multi-seed study through the CLI: arms that start from other arms, the opener-balanced
baseline, the study's budget for arms that set none, and the mean ± std report."""

from __future__ import annotations

import json
import statistics

import yaml



def test_two_seeds_with_chained_arms(tmp_path, cli):
    cfg = {
        "name": "seeds", "out_dir": str(tmp_path / "runs"), "seeds": [0, 1],
        "world": {"n_concepts": 6, "train_renders": 3, "test_renders": 1, "corpus_per_render": 2,
                  "safety_renders": 2, "retain_topup": 5},
        "budget": {"steps": 3, "batch_size": 4},
        "arms": {"base": {"steps": 4},
                 "sft_balanced": {"method": "sft", "init": "base", "mix": "balanced+retain"},
                 "npo_after_sft": {"method": "npo", "init": "sft_posthoc", "mix": "forget+retain"}},
        "run_arms": ["sft_balanced", "npo_after_sft"],
        "eval": {"max_new_tokens": 6},
    }
    path = tmp_path / "seeds.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert cli("run", str(path), "--quiet") == 0
    root = tmp_path / "runs" / "seeds"
    per_seed = {s: json.loads((root / f"seed_{s}" / "results.json").read_text()) for s in (0, 1)}
    worlds = {s: json.loads((root / f"seed_{s}" / "world" / "world.json").read_text())["seed"] for s in (0, 1)}
    assert worlds == {0: 0, 1: 1}
    # the chain: sft_posthoc is trained because npo_after_sft starts from it; base before both
    assert list(per_seed[0]["arms"]) == ["base", "sft_balanced", "sft_posthoc", "npo_after_sft"]
    budget = per_seed[0]["arms"]["npo_after_sft"]["budget"]
    assert budget["init"] == "sft_posthoc" and budget["steps"] == 3 and budget["examples"] == 12
    assert per_seed[0]["arms"]["base"]["budget"]["steps"] == 4
    agg = json.loads((root / "results.json").read_text())
    assert agg["seeds"] == [0, 1]
    for arm in per_seed[0]["arms"]:
        for key in ("asr/unsafes@attack", "rr/safe_safes@rewrite", "utility/utility"):
            values = [per_seed[s]["arms"][arm][key] for s in (0, 1)]
            stat = agg["arms"][arm][key]
            assert stat["values"] == values
            assert abs(stat["mean"] - statistics.fmean(values)) < 1e-9
            assert abs(stat["std"] - statistics.stdev(values)) < 1e-9
            lo, hi = stat["ci"]
            assert 0.0 <= lo <= hi <= 1.0
    report = (root / "report.md").read_text()
    assert "± " in report and "npo_after_sft" in report and (root / "tradeoff.png").stat().st_size > 1000
