"""Grid cells keep their keys when the config gains keys: a resubmitted grid skips finished cells."""

from __future__ import annotations

from dataclasses import replace

from unmirage.config import load_config
from unmirage.grid import cell_key, cells


def test_cells_keep_the_keys_the_earlier_code_gave_them():
    # computed by the code before the data, attacks, planted, image_cue and rewriter keys existed,
    # on the default of then: the stand-in world (no documents, harmful compliance), no mixed SFT reference
    stand_in = ["world.documents=0", "world.harmful_compliance=true", "world.unsafe_on_hazard=[describe,make,identify,use]"]
    cfg = load_config(None, ["seeds=[0,1]", "grid={arms.npo.lr: [1e-4, 4e-4]}", *stand_in])
    cfg = replace(cfg, arms={name: arm for name, arm in cfg.arms.items() if name != "sft_mixed_ref"})
    assert [cell_key(c) for _, _, c in cells(cfg)][:2] == ["b8d23b9c207be740", "fcc958a28749786f"]


def test_an_added_key_away_from_its_default_is_another_cell():
    base = load_config(None, ["seeds=[0]"])
    (_, _, plain), = cells(base)
    (_, _, attacked), = cells(load_config(None, ["seeds=[0]", "attacks={prefill: {}}"]))
    (_, _, planted), = cells(load_config(None, ["seeds=[0]", "world.planted={honestly: {unsafes: 0.5}}"]))
    assert len({cell_key(plain), cell_key(attacked), cell_key(planted)}) == 3
