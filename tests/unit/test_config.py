"""Config loading: defaults -> YAML -> overrides, type checks, did-you-mean errors."""

from pathlib import Path

import pytest
import yaml

from unmirage.config import ArmConfig, StudyConfig, WorldConfig, load_config
from unmirage.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
OPENERS_DIR = REPO / "configs" / "worlds" / "openers"


def test_defaults_load():
    cfg = load_config()
    assert isinstance(cfg, StudyConfig)
    assert cfg == StudyConfig()
    assert cfg.world.bias == 1.0
    assert "base" in cfg.arms and isinstance(cfg.arms["base"], ArmConfig)
    assert cfg.selected_arms() == list(cfg.arms)


def test_yaml_then_overrides_in_order(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"name": "fromfile", "world": {"n_concepts": 8, "bias": 0.5},
                                 "model": {"text_layers": 2}}))
    cfg = load_config(p)
    assert cfg.name == "fromfile" and cfg.world.n_concepts == 8 and cfg.world.bias == 0.5
    # untouched defaults survive the merge
    assert cfg.world.train_renders == WorldConfig().train_renders
    assert cfg.model.text_layers == 2

    cfg = load_config(p, ["world.bias=0.25", "name=fromcli", "arms.npo.params.beta=0.1"])
    assert cfg.world.bias == 0.25
    assert cfg.name == "fromcli"
    assert cfg.world.n_concepts == 8  # from the file, not overridden
    assert cfg.arms["npo"].params == {"beta": 0.1, "retain_weight": 4.0}  # the other default params survive
    assert cfg.arms["npo"].method == "npo"  # merged, not replaced


def test_later_override_wins():
    cfg = load_config(None, ["world.seed=1", "world.seed=7"])
    assert cfg.world.seed == 7


def test_unknown_key_did_you_mean(tmp_path):
    with pytest.raises(ConfigError, match="Did you mean 'bias'"):
        load_config(None, ["world.bais=0.3"])
    p = tmp_path / "c.yaml"
    p.write_text("modle:\n  name: tiny\n")
    with pytest.raises(ConfigError, match="Did you mean 'model'"):
        load_config(p)


@pytest.mark.parametrize("override", ["world.bias=abc", "world.n_concepts=2.5", "world.seed=true",
                                      "model.trust_remote_code=1", "run_arms=base", "world=3"])
def test_wrong_type(override):
    with pytest.raises(ConfigError):
        load_config(None, [override])


def test_exponent_string_becomes_float(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("arms:\n  npo:\n    lr: 3e-4\n")  # YAML 1.1 reads this as a string
    assert yaml.safe_load(p.read_text())["arms"]["npo"]["lr"] == "3e-4"
    cfg = load_config(p)
    assert isinstance(cfg.arms["npo"].lr, float) and cfg.arms["npo"].lr == pytest.approx(3e-4)
    cfg = load_config(None, ["arms.rmu.lr=3e-4"])
    assert cfg.arms["rmu"].lr == pytest.approx(3e-4)


def test_int_to_float():
    cfg = load_config(None, ["world.bias=1"])
    assert isinstance(cfg.world.bias, float)


def test_a_world_with_no_source_of_recipes_is_refused():
    with pytest.raises(ConfigError, match="harmful_compliance"):
        load_config(None, ["world.documents=0"])
    assert load_config(None, ["world.documents=0", "world.harmful_compliance=true"]).world.documents == 0
    assert load_config(None, ["world.documents=0", "world.version=1"]).world.version == 1


@pytest.mark.parametrize("bias", ["-0.1", "1.5"])
def test_bias_out_of_range(bias):
    with pytest.raises(ConfigError, match="bias"):
        load_config(None, [f"world.bias={bias}"])


def test_unknown_data_mix():
    with pytest.raises(ConfigError, match="mix must be one of"):
        load_config(None, ["arms.npo.mix=forget+retian"])
    with pytest.raises(ConfigError, match="Did you mean 'forget\\+retain'"):
        ArmConfig(mix="forget+retian")


def test_run_arms_missing_arm():
    with pytest.raises(ConfigError, match="rmx"):
        load_config(None, ["run_arms=[base, rmx]"])
    cfg = load_config(None, ["run_arms=[base, rmu]"])
    assert cfg.selected_arms() == ["base", "rmu"]


def test_config_not_a_mapping(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(p)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    p = tmp_path / "bad.yaml"
    p.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="YAML"):
        load_config(p)


def test_override_without_equals():
    with pytest.raises(ConfigError, match="key.sub=value"):
        load_config(None, ["world.bias"])


def _config_files():
    return sorted((REPO / "configs" / "experiments").glob("**/*.yaml"))  # accelerate/ holds launcher configs


@pytest.mark.parametrize("path", _config_files() or [None], ids=lambda p: str(p.relative_to(REPO)) if p else "none")
def test_shipped_configs_load(path):
    if path is None:
        pytest.skip("no config files under configs/")
    cfg = load_config(path)
    assert isinstance(cfg, StudyConfig)


@pytest.mark.parametrize("path", sorted(OPENERS_DIR.glob("*.yaml")) or [None],
                         ids=lambda p: p.name if p else "none")
def test_shipped_opener_profiles_load(path):
    from unmirage.data.records import GROUPS
    from unmirage.world.phrasing import load_profile

    if path is None:
        pytest.skip("no opener profiles under configs/worlds/openers/")
    prof = load_profile(str(path))
    assert set(prof) == set(GROUPS)
    for words in prof.values():
        assert sum(words.values()) == pytest.approx(1.0)


def test_default_experiment_file_records_the_defaults():
    from pathlib import Path

    from unmirage.config import load_config, to_dict

    path = Path(__file__).resolve().parents[2] / "configs" / "experiments" / "default.yaml"
    assert to_dict(load_config(path)) == to_dict(load_config(None))


def test_a_renamed_key_says_its_new_name():
    with pytest.raises(ConfigError, match="'data' is now called 'data_dir'"):
        load_config(None, ["data=some/dir"])
    with pytest.raises(ConfigError, match="'data' is now called 'mix'"):
        load_config(None, ["arms.npo.data=forget+retain"])


def test_eval_rows_follow_the_model_s_size_unless_set():
    """eval.batch_size 0: 512 rows for a model of under 100 M parameters (a tiny model's cache
    is small), 64 for a larger one; a set batch size is kept whatever the model."""
    import torch

    from unmirage.config import EvalConfig

    small = torch.nn.Linear(128, 128)
    large = torch.nn.Linear(20_000, 10_000, device="meta")  # 200 M parameters, no memory
    assert EvalConfig().rows(small) == 512 and EvalConfig().rows(large) == 64
    assert EvalConfig(batch_size=8).rows(small) == 8 and EvalConfig(batch_size=8).rows(large) == 8
    assert EvalConfig().rows(object()) == 64  # a backend without the weights in this process (vllm)
    assert EvalConfig().scoring_rows() == 64 and EvalConfig(batch_size=8).scoring_rows() == 8  # teacher-forced
    with pytest.raises(ConfigError, match="eval.batch_size must be >= 0"):
        load_config(None, ["eval.batch_size=-1"])
