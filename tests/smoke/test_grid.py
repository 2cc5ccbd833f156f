"""`unmirage grid`: cells through submitit's local executor, aggregated as a multi-seed study."""

from __future__ import annotations

import json

import pytest
import yaml

from unmirage import grid as grid_mod
from unmirage.config import load_config
from unmirage.study import run_study

WORLD = {"n_concepts": 6, "train_renders": 3, "test_renders": 1, "corpus_per_render": 2, "safety_renders": 2,
         "retain_topup": 5}
ARMS = {"base": {"steps": 4, "batch_size": 4},
        "sft_posthoc": {"method": "sft", "init": "base", "mix": "safety+retain", "steps": 4, "batch_size": 4}}


def _config(tmp_path, out, **extra):
    path = tmp_path / f"{out}.yaml"
    path.write_text(yaml.safe_dump({"name": "g", "out_dir": str(tmp_path / out), "world": WORLD, "arms": ARMS,
                                    "run_arms": list(ARMS), "eval": {"max_new_tokens": 8}, **extra}))
    return path


def test_a_two_seed_two_arm_grid_matches_the_multi_seed_study(cli, tmp_path, monkeypatch):
    path = _config(tmp_path, "grid", seeds=[0, 1])
    assert cli("grid", str(path), "--executor", "local", "--timeout-min", "10") == 0
    grid = json.loads((tmp_path / "grid" / "g" / "results.json").read_text())
    seeds_root = run_study(load_config(_config(tmp_path, "seeds", seeds=[0, 1])), show_progress=False)
    seeds = json.loads((seeds_root / "results.json").read_text())
    assert grid["seeds"] == seeds["seeds"] == [0, 1] and list(grid["arms"]) == list(seeds["arms"]) == list(ARMS)
    for arm in ARMS:
        for key, stat in seeds["arms"][arm].items():
            if key != "budget":
                assert grid["arms"][arm][key]["values"] == stat["values"], (arm, key)
    assert (tmp_path / "grid" / "g" / "report.md").is_file()
    # submitted again, every cell is done: no job is started, the report is written again
    monkeypatch.setattr(grid_mod, "executor", lambda *a, **k: pytest.fail("a finished cell was submitted again"))
    assert cli("grid", str(path), "--executor", "local") == 0


def test_a_swept_key_gives_one_cell_per_value_and_seed(tmp_path):
    cfg = load_config(_config(tmp_path, "x", seeds=[0, 1], grid={"arms.sft_posthoc.lr": [1e-4, 3e-4]}))
    cells = grid_mod.cells(cfg)
    assert [(v["arms.sft_posthoc.lr"], s) for v, s, _ in cells] == [(1e-4, 0), (1e-4, 1), (3e-4, 0), (3e-4, 1)]
    assert [c.arms["sft_posthoc"].lr for _, _, c in cells] == [1e-4, 1e-4, 3e-4, 3e-4]
    assert len({c.name for _, _, c in cells}) == 4 and all(c.name.startswith("g/cells/") for _, _, c in cells)
    assert [c.world.seed for _, _, c in cells] == [0, 1, 0, 1]  # each seed shifts the world, as seeds: [...] does
    assert cells == grid_mod.cells(cfg)  # the same config, the same cells (keys)


def test_a_cell_s_key_ignores_how_it_runs_and_budgets_cannot_be_swept(tmp_path):
    from unmirage.errors import ConfigError

    base = load_config(_config(tmp_path, "x", seeds=[0]))
    faster = load_config(_config(tmp_path, "x", seeds=[0], train={"save_steps": 10}, eval={"max_new_tokens": 8,
                                                                                           "batch_size": 8}))
    assert grid_mod.cells(base)[0][2].name == grid_mod.cells(faster)[0][2].name
    other = load_config(_config(tmp_path, "x", seeds=[0], eval={"max_new_tokens": 9}))
    assert grid_mod.cells(base)[0][2].name != grid_mod.cells(other)[0][2].name  # what it measures is in the key
    with pytest.raises(ConfigError, match="budget.steps"):
        grid_mod.cells(load_config(_config(tmp_path, "x", grid={"budget.steps": [1, 2]})))
