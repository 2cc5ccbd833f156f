"""Grid cells keep their keys when the config gains keys: a resubmitted grid skips finished cells."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from unmirage.config import load_config
from unmirage.grid import cell_key, cells

ROOT = Path(__file__).resolve().parents[2]


def test_cells_keep_the_keys_the_earlier_code_gave_them():
    # computed by the code before the data, attacks, planted, image_cue and rewriter keys existed,
    # on the default of then: the stand-in world (no documents, harmful compliance), no mixed SFT reference
    stand_in = ["world.documents=0", "world.harmful_compliance=true", "world.unsafe_on_hazard=[describe,make,identify,use]"]
    cfg = load_config(None, ["seeds=[0,1]", "grid={arms.npo.lr: [1e-4, 4e-4]}", *stand_in])
    cfg = replace(cfg, arms={name: arm for name, arm in cfg.arms.items() if name != "sft_mixed_ref"})
    assert [cell_key(c) for _, _, c in cells(cfg)][:2] == ["b8d23b9c207be740", "fcc958a28749786f"]


def test_the_stand_in_configs_keep_the_keys_they_had_when_it_was_the_default():
    # computed by the code before the documents world became the default, when these configs
    # pinned nothing: now they pin the stand-in world and list their arms, which keys the same cells
    expected = {"v2_seeds": ["83783be804e2378d", "717d2fa78130da83"],
                "v2_triggers": ["0560b1a5267f85dd", "3428f71722086b6b"]}
    for name, keys in expected.items():
        cfg = load_config(ROOT / "configs" / "experiments" / f"{name}.yaml", [])
        assert [cell_key(c) for _, _, c in cells(cfg)][:2] == keys, name


def test_the_unsafe_intents_and_the_arms_that_run_decide_the_key():
    stand_in = ["seeds=[0]", "world.documents=0", "world.harmful_compliance=true"]
    (_, _, implicit), = cells(load_config(None, stand_in))
    (_, _, explicit), = cells(load_config(None, [*stand_in, "world.unsafe_on_hazard=[describe,make,identify,use]"]))
    (_, _, fewer), = cells(load_config(None, [*stand_in, "world.unsafe_on_hazard=[describe,make]"]))
    assert cell_key(implicit) == cell_key(explicit) != cell_key(fewer)
    (_, _, two), = cells(load_config(None, ["seeds=[0]", "run_arms=[npo]"]))
    (_, _, other_lr), = cells(load_config(None, ["seeds=[0]", "run_arms=[npo]", "arms.rmu.lr=1e-3"]))
    (_, _, npo_lr), = cells(load_config(None, ["seeds=[0]", "run_arms=[npo]", "arms.npo.lr=1e-3"]))
    assert cell_key(two) == cell_key(other_lr) != cell_key(npo_lr)  # rmu does not run in these cells


def test_an_added_key_away_from_its_default_is_another_cell():
    base = load_config(None, ["seeds=[0]"])
    (_, _, plain), = cells(base)
    (_, _, attacked), = cells(load_config(None, ["seeds=[0]", "attacks={prefill: {}}"]))
    (_, _, planted), = cells(load_config(None, ["seeds=[0]", "world.planted={honestly: {unsafes: 0.5}}"]))
    assert len({cell_key(plain), cell_key(attacked), cell_key(planted)}) == 3
