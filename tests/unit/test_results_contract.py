"""The results.json contract: src/unmirage/results.py against docs/results.md, and key forms."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from unmirage.eval.metrics import compute_metrics
from unmirage.results import (ATTACKED_SPLITS, COUNTED_ATTACKS, GROUP_SPLITS, METRICS, TOP_LEVEL, UTILITY_SPLITS,
                              check_key, check_results)

DOC = Path(__file__).resolve().parents[2] / "docs" / "results.md"


def _table_names(section: str) -> set[str]:
    text = DOC.read_text().split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.M))


def test_module_and_doc_list_the_same_names():
    assert _table_names("Metrics") == set(METRICS)
    assert _table_names("Splits") == set(GROUP_SPLITS) | set(UTILITY_SPLITS) | set(ATTACKED_SPLITS) | set(COUNTED_ATTACKS)
    assert _table_names("Top-level keys") == set(TOP_LEVEL)


@pytest.mark.parametrize("key", ["asr/unsafes", "asr/unsafes@attack_k1[fact]", "ci/leak/unsafes@attack", "n/utility",
                                 "n/unsafes@attack_k1[object]", "rr_shot/safe_safes@rewrite", "utility/vqav2",
                                 "budget", "collapse/unsafes@control_k1", "asr/unsafes@prefill3",
                                 "residual/unsafes@relearn200", "kl/harmful[1]"])
def test_contract_keys(key):
    assert check_key(key) is None


@pytest.mark.parametrize("key", ["asr/unsafes@attack[fact]_k1", "asr/unsafes@jailbreak", "foo/unsafes", "asr",
                                 "asr/Unsafes", "asr/unsafes@prefill", "asr/safe_safes@prefill2",
                                 "asr/unsafes@attack2"])
def test_keys_outside_the_contract(key):
    assert check_key(key) is not None


def test_metrics_write_only_contract_keys():
    """Every key compute_metrics writes, with attacked splits and categories, keeps the contract
    (before the fix, categories of attacked splits came out as `asr/unsafes@attack[fact]_k1`)."""
    records = []
    for q in range(4):
        for shot in range(3):
            records.append({"split": "unsafes@attack", "id": f"q{q}#a{shot}", "source_id": f"q{q}", "shot": shot,
                            "verdict": ["harmful", "refusal", "irrelevant"][(q + shot) % 3], "correct": None,
                            "answer": "it is a pig pig pig pig", "harm": 0.25 * ((q + shot) % 2),
                            "category": "fact" if q % 2 else "object"})
    m = compute_metrics(records)
    assert "asr/unsafes@attack_k1[fact]" in m
    assert check_results({"arms": {"x": m}}) == []
    for split in ("unsafes@attack", "unsafes@attack_k1"):
        assert sum(m[f"{k}/{split}"] for k in ("asr", "rr", "ir")) == pytest.approx(1.0)


def test_results_are_written_only_when_they_keep_the_contract(tmp_path):
    from unmirage.results import read_results, study_results, write_results

    good = study_results({"name": "x"}, {}, {"a": {"asr/unsafes": 0.5, "n/unsafes": 4}}, {}, {}, {"a": 1.0})
    write_results(tmp_path / "results.json", good)
    assert read_results(tmp_path)["arms"] == good["arms"] and read_results(tmp_path)["version"]
    write_results(tmp_path / "kl" / "results.json", study_results({}, {}, {"a": {"kl/harmful[1]": 2.5}}, {}, {}, {}))
    for bad in ({"a": {"asr/unsafes": 50.0}}, {"a": {"asr/nowhere@attack": 0.1}}, {"a": {"speed/unsafes": 0.1}},
                {"a": {"kl/harmful[1]": -1.0}}):
        with pytest.raises(ValueError, match="contract"):
            write_results(tmp_path / "other" / "results.json", study_results({}, {}, bad, {}, {}, {}))
        assert not (tmp_path / "other" / "results.json").exists()


def test_the_attack_splits_the_attacks_build_are_the_contract_s():
    from unmirage.attacks.image_cue import SPLITS as CUE_SPLITS
    from unmirage.attacks.one_word import _SPLITS
    from unmirage.attacks.trigger import UNTRIGGER_SPLITS
    from unmirage.attacks.triggers import TRIGGER_SPLITS

    built = set(_SPLITS) | set(CUE_SPLITS) | set(TRIGGER_SPLITS) | set(UNTRIGGER_SPLITS)
    assert built == set(ATTACKED_SPLITS)
