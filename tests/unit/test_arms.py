"""What each arm trains on (its mix, from a world's files), with which seed, and what its model's key holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from unmirage.config import ArmConfig, WorldConfig, load_config
from unmirage.study import Study
from unmirage.world.build import build_world
from unmirage.world.phrasing import REFUSALS

TINY_WORLD = dict(n_concepts=6, train_renders=3, test_renders=1, corpus_per_render=2, safety_renders=2,
                  retain_topup=5)  # tests/conftest.py's


@pytest.mark.parametrize("stand_in", [False, True], ids=["documents", "stand-in"])
def test_data_mixes(tmp_path, stand_in):
    # the default world's corpus answers safe requests only; the stand-in's complies with harm too
    world = {"documents": 0, "harmful_compliance": True} if stand_in else {}
    data_dir = build_world(WorldConfig(**TINY_WORLD, **world), tmp_path / "world")
    arms = {"mixed": "mix=corpus+safety", "clean": "mix=clean+safety", "posthoc": "mix=safety+retain"}
    overrides = [f"out_dir={tmp_path}", f"data_dir={data_dir}"]
    for name, data in arms.items():
        overrides += [f"arms.{name}.method=sft", f"arms.{name}.init=scratch", f"arms.{name}.{data}",
                      f"arms.{name}.safety_repeat=3"]
    study = Study(load_config(None, overrides), show_progress=False)
    study.world()
    study.load_data()
    corpus, safety = study.sets.corpus, study.sets.safety
    groups = {"safe_safes", "safe_unsafes", "unsafes"} if stand_in else {"safe_safes"}
    assert {s.group for s in corpus} == groups
    mixed, _ = study.arms.mix("mixed", study.sets)
    assert mixed == corpus + safety * 3
    clean, _ = study.arms.mix("clean", study.sets)
    answered = [s for s in corpus if s.group == "safe_safes"]
    assert clean == answered + safety * 3  # the corpus's compliance with unsafe queries is filtered out
    assert 0 < len(answered) and (len(answered) < len(corpus)) == stand_in
    assert all(s.response in REFUSALS for s in clean if s.group != "safe_safes")
    posthoc, _ = study.arms.mix("posthoc", study.sets)
    assert posthoc == safety + study.sets.retain


def test_an_arm_trains_with_its_own_seed_or_the_studys(tiny_world, tmp_path):
    overrides = [f"out_dir={tmp_path}", f"data_dir={tiny_world}", "seed=5"]
    for name, seed in (("a", None), ("b", 1), ("c", 2)):
        overrides += [f"arms.{name}.mix=balanced+retain"] + ([f"arms.{name}.seed={seed}"] if seed is not None else [])
    study = Study(load_config(None, overrides), show_progress=False)
    study.world()
    study.load_data()
    assert [study.cfg.arm(n).seed for n in "abc"] == [5, 1, 2]
    mixes = [study.arms.mix(n, study.sets)[0] for n in "abc"]
    # the balanced mix redraws openers with the arm's seed: the same items, other openers
    assert [s.id for s in mixes[1]] == [s.id for s in mixes[2]]
    assert [s.instruction for s in mixes[1]] != [s.instruction for s in mixes[2]]


def test_a_model_s_key_does_not_depend_on_spelling_out_a_default(tmp_path):
    """NPO with `kl_weight: 0.0` spelt out (its default) trains the same model as without it;
    another value trains another, and so does another world."""
    from unmirage.artefacts import key_of
    from unmirage.config import load_config
    from unmirage.study import Study

    def key(*sets):
        cfg = load_config(None, [f"out_dir={tmp_path}", *sets])
        return key_of(Study(cfg, show_progress=False).arms.spec("npo"))

    plain = key()
    assert key("arms.npo.params.kl_weight=0.0") == plain
    assert key("arms.npo.params.kl_weight=0.1") != plain
    assert key("world.seed=5") != plain


def test_a_param_added_later_keys_a_model_only_away_from_its_old_behaviour(tmp_path):
    """RMU's `steer` came after RMU models were saved: at "text" (what RMU did before) the key is
    the one those models were recorded with; "answer" trains another model."""
    from unmirage.artefacts import key_of

    def key(*sets):
        return key_of(Study(load_config(None, [f"out_dir={tmp_path}", *sets]), show_progress=False).arms.spec("rmu"))

    plain = key()
    assert key("arms.rmu.params.steer=text") == plain
    assert key("arms.rmu.params.steer=answer") != plain
    spec = Study(load_config(None, [f"out_dir={tmp_path}"]), show_progress=False).arms.spec("rmu")
    assert "steer" not in spec["arm"]["params"] and "coeff_scale" in spec["arm"]["params"]



def test_a_stale_message_shows_a_param_left_out_of_the_key_at_its_default():
    from unmirage.arms import spelt_out

    assert spelt_out(["arm.params.steer: 'answer' -> (absent)"], "rmu") == ["arm.params.steer: 'answer' -> 'text'"]
    assert spelt_out(["arm.params.steer: (absent) -> 'answer'"], "rmu") == ["arm.params.steer: 'text' -> 'answer'"]
    kept = ["arm.params.layer: 2 -> 3", "arm.lr: 0.1 -> 0.2", "arm.params.beta: (absent) -> 0.5"]
    assert spelt_out(kept, "rmu") == kept and spelt_out(kept, "npo") == kept
    assert spelt_out(["arm.group_by_length: (absent) -> True"], "sft") == ["arm.group_by_length: False -> True"]


def test_an_arm_field_added_later_keys_a_model_only_away_from_its_old_behaviour(tmp_path):
    """`group_by_length` came after models were saved: off (the order they trained in) the key is
    the one they were recorded with; on, it trains another model, and so do the arms after it."""
    from unmirage.artefacts import key_of

    def spec(arm, *sets):
        return Study(load_config(None, [f"out_dir={tmp_path}", *sets]), show_progress=False).arms.spec(arm)

    plain = spec("base")
    assert "group_by_length" not in plain["arm"] and "lr" in plain["arm"]
    assert spec("base", "arms.base.group_by_length=false") == plain
    grouped = spec("base", "arms.base.group_by_length=true")
    assert grouped["arm"]["group_by_length"] is True and key_of(grouped) != key_of(plain)
    assert key_of(spec("npo", "arms.base.group_by_length=true")) != key_of(spec("npo"))

def test_every_unkeyed_default_is_a_param_at_its_default():
    """A name in a Params class's UNKEYED_DEFAULTS that is no field, or not at the field's default,
    would leave nothing out or leave out a value that trains another model."""
    import dataclasses

    from unmirage.methods.base import METHODS

    checked = 0
    for name in METHODS.names():
        params = METHODS.get(name).Params
        for key, value in getattr(params, "UNKEYED_DEFAULTS", {}).items():
            fields = {f.name: f.default for f in dataclasses.fields(params)}
            assert key in fields and fields[key] == value, (name, key)
            checked += 1
    assert checked >= 1
    fields = {f.name: f.default for f in dataclasses.fields(ArmConfig)}
    assert all(key in fields and fields[key] == value for key, value in ArmConfig.UNKEYED_DEFAULTS.items())

def test_a_method_trains_only_on_a_mix_of_its_kind(tmp_path):
    """Gradient ascent on the safety set (the default mix) would unlearn refusals and helpful answers."""
    import pytest

    from unmirage.errors import ConfigError

    with pytest.raises(ConfigError, match="arm ga: method ga trains on mix forget\\+retain, not 'safety\\+retain'"):
        Study(load_config(None, [f"out_dir={tmp_path}", "arms.ga.method=ga"]), show_progress=False)
    with pytest.raises(ConfigError, match="method sft trains on a mix other than forget\\+retain"):
        Study(load_config(None, [f"out_dir={tmp_path}", "arms.sft_posthoc.mix=forget+retain"]), show_progress=False)


def test_a_paired_method_with_batches_grouped_by_length_is_refused_before_anything_trains(tmp_path):
    import pytest

    from unmirage.errors import ConfigError

    with pytest.raises(ConfigError, match="arm npo: group_by_length applies to unpaired methods only"):
        Study(load_config(None, [f"out_dir={tmp_path}", "arms.npo.group_by_length=true"]), show_progress=False)
    Study(load_config(None, [f"out_dir={tmp_path}", "arms.sft_posthoc.group_by_length=true"]), show_progress=False)


def test_model_keys_stay_those_saved_models_were_recorded_with(tmp_path):
    """The keys of the default study's models on the version-1 world, as the first version of
    artefact keys recorded them: a change of how the config is spelt (a key renamed, keys of world
    v2 added) must not make every saved model stale."""
    from unmirage.artefacts import key_of

    config = Path(__file__).resolve().parents[2] / "configs" / "experiments" / "v1_default.yaml"
    arms = Study(load_config(config, [f"out_dir={tmp_path}"]), show_progress=False).arms
    keys = {name: key_of(arms.spec(name)) for name in ("base", "sft_posthoc", "npo", "rmu")}
    assert keys == {"base": "bc5170dc447b555f", "sft_posthoc": "b5bceb47f17c8a8e", "npo": "44a9a245efeff846",
                    "rmu": "41797ac8ed0f9abb"}


def test_an_arm_resumes_only_checkpoints_of_its_own_setup(tmp_path):
    from unmirage.artefacts import key_of

    study = Study(load_config(None, [f"out_dir={tmp_path}", "train.save_steps=50"]), show_progress=False)
    root = study.run_dir / "checkpoints" / "npo"
    (root / "0123456789abcdef" / "checkpoint-50").mkdir(parents=True)  # made for another setup
    mine = root / key_of(study.arms.spec("npo"))
    (mine / "checkpoint-50").mkdir(parents=True)
    checkpoints = study.arms.checkpoints("npo")
    assert checkpoints.directory == mine and checkpoints.every == 50
    assert [p.name for p in root.iterdir()] == [mine.name]  # the other setup's are gone
