"""The name registry: registration, lookup errors with did-you-mean, listing, docs."""

import pytest

from unmirage.errors import ConfigError
from unmirage.registry import Registry, did_you_mean


def test_register_and_get():
    reg: Registry = Registry("widget")

    @reg.register("alpha")
    def alpha():
        """Makes alphas.

        More text."""

    assert reg.get("alpha") is alpha
    assert "alpha" in reg and "beta" not in reg
    assert reg.doc("alpha") == "Makes alphas."


def test_names_sorted_and_iter():
    reg: Registry = Registry("widget")
    for n in ("zeta", "alpha", "mid"):
        reg.register(n)(object())
    assert reg.names() == ["alpha", "mid", "zeta"]
    assert list(reg) == ["alpha", "mid", "zeta"]


def test_duplicate_registration_fails():
    reg: Registry = Registry("widget")
    reg.register("a")(1)
    with pytest.raises(ValueError, match="twice"):
        reg.register("a")(2)
    assert reg.get("a") == 1


def test_unknown_name_did_you_mean():
    reg: Registry = Registry("method")
    reg.register("npo")(1)
    reg.register("rmu")(2)
    with pytest.raises(ConfigError) as e:
        reg.get("nop")
    msg = str(e.value)
    assert "unknown method 'nop'" in msg
    assert "npo, rmu" in msg
    assert "Did you mean 'npo'?" in msg


def test_unknown_name_no_close_match():
    reg: Registry = Registry("judge")
    reg.register("oracle")(1)
    with pytest.raises(ConfigError) as e:
        reg.get("xyzzy")
    assert "Did you mean" not in str(e.value)


def test_doc_empty():
    reg2: Registry = Registry("x")

    class NoDoc:
        __doc__ = None

    reg2.register("n")(NoDoc)
    assert reg2.doc("n") == ""


def test_did_you_mean():
    assert did_you_mean("colour", ["color", "shape"]) == " Did you mean 'color'?"
    assert did_you_mean("qqqq", ["color", "shape"]) == ""


def test_builtin_judge_registry_has_oracle():
    from unmirage.judges import JUDGES

    assert "oracle" in JUDGES
    with pytest.raises(ConfigError, match="Did you mean 'oracle'"):
        JUDGES.get("oracel")


def test_a_lookup_sees_every_plugin_whatever_was_imported():
    """A fresh interpreter that imports only a registry finds every built-in plugin of its kind."""
    import subprocess
    import sys

    from unmirage.plugins import PLUGINS

    code = ("from unmirage.methods.base import METHODS; from unmirage.judges import JUDGES; "
            "from unmirage.data.datasets import DATASETS; from unmirage.attacks.base import ATTACKS; "
            "print(METHODS.names(), JUDGES.names(), DATASETS.names(), ATTACKS.names())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for name in ("sft", "dpo", "ga", "graddiff", "npo", "simnpo", "rmu", "keyword", "vlm", "oracle", "vlguard",
                 "one_word", "prefill", "depth", "relearn", "trigger", "image_cue"):
        assert f"'{name}'" in out
    assert set(PLUGINS) == {"method", "judge", "dataset", "attack"}


def test_a_failed_plugin_import_fails_every_lookup_not_just_the_first(monkeypatch):
    """A registry whose plugins did not all import must not answer from the ones that did."""
    from unmirage import plugins
    from unmirage.registry import Registry

    reg: Registry = Registry("widget-kind")
    monkeypatch.setitem(plugins.PLUGINS, "widget-kind", ("unmirage.no_such_plugin_module",))
    for _ in range(2):
        with pytest.raises(ModuleNotFoundError):
            reg.get("anything")
    assert "widget-kind" not in plugins._loaded
