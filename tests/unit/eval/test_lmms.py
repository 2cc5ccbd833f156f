"""The optional lmms-eval bridge without lmms-eval: the missing-package error, the command line it
builds, and the reading of a results file in lmms-eval 0.3's shape (written here)."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import pytest

from unmirage.errors import ConfigError, DataError
from unmirage.eval.lmms import lmms_command, parse_results, run_lmms_eval, task_list
from unmirage.report.tables import other_metrics_table
from unmirage.results import check_key, check_results, read_results

# the shape of `<output_path>/<model_name_sanitized>/<date>_results.json` as lmms-eval 0.3 writes it
# (its EvaluationTracker, from lm-evaluation-harness 0.4); the numbers are made up
RESULTS = {
    "results": {
        "vqav2_val": {"alias": "vqav2_val", "exact_match,none": 0.7612, "exact_match_stderr,none": "N/A"},
        "mme": {"alias": "mme", "mme_cognition_score,none": 355.7, "mme_percetion_score,none": 1510.75},
        "gsm8k": {"alias": "gsm8k", "exact_match,flexible-extract": 0.25, "exact_match_stderr,flexible-extract": 0.01},
        "pope": {"alias": "pope", "pope_accuracy,none": float("nan")},
    },
    "groups": {"mmbench": {"alias": "mmbench", "gpt_eval_score,none": 64.3}},
    "group_subtasks": {"mmbench": ["mmbench_en_dev"], "vqav2_val": []},
    "configs": {"vqav2_val": {"task": "vqav2_val"}},
    "versions": {"vqav2_val": "Yaml", "mme": "Yaml"},
    "n-shot": {"vqav2_val": 0},
    "higher_is_better": {"vqav2_val": {"exact_match": True}},
    "n-samples": {"vqav2_val": {"original": 214354, "effective": 8}, "mme": {"original": 2374, "effective": 8}},
    "config": {"model": "llava_hf", "model_args": "pretrained=llava-hf/llava-1.5-7b-hf", "limit": 8},
    "git_hash": "abc1234", "date": "20250101_000000", "task_hashes": {}, "model_name": "llava-hf/llava-1.5-7b-hf",
}
EXPECTED = {"lmms/vqav2_val/exact_match": 0.7612, "lmms/mme/mme_cognition_score": 355.7,
            "lmms/mme/mme_percetion_score": 1510.75, "lmms/gsm8k/exact_match[flexible-extract]": 0.25,
            "lmms/gsm8k/exact_match_stderr[flexible-extract]": 0.01, "lmms/mmbench/gpt_eval_score": 64.3}


def test_without_lmms_eval_the_command_says_how_to_install_it(tmp_path):
    with pytest.raises(ConfigError, match=r"not installed; pip install lmms-eval \(it needs torchvision"):
        run_lmms_eval("m", "vqav2_val", tmp_path, find_spec=lambda name: None,
                      run=lambda *a, **k: pytest.fail("lmms-eval was run"))
    assert not (tmp_path / "results.json").exists()


def test_the_cli_reports_the_missing_package(tmp_path, monkeypatch, capsys):
    import importlib.util

    from unmirage.cli import main

    import subprocess

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "lmms_eval" else real(name, *a))
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("lmms-eval was run"))
    monkeypatch.setattr(sys, "argv", ["unmirage", "lmms-eval", "m", "--tasks", "pope", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 2 and "pip install lmms-eval" in capsys.readouterr().err


def test_the_command_line(tmp_path):
    cmd = lmms_command("models/npo", ["vqav2_val", "pope"], tmp_path / "raw", python="py")
    assert cmd == ["py", "-m", "lmms_eval", "--model", "llava_hf", "--model_args", "pretrained=models/npo",
                   "--tasks", "vqav2_val,pope", "--batch_size", "1", "--output_path", str(tmp_path / "raw"),
                   "--log_samples"]
    cmd = lmms_command("Qwen/Qwen2-VL-2B-Instruct", ["mme"], tmp_path, "qwen2_vl", 4, 10, python="py")
    assert cmd[4:8] == ["qwen2_vl", "--model_args", "pretrained=Qwen/Qwen2-VL-2B-Instruct", "--tasks"]
    assert cmd[cmd.index("--batch_size") + 1] == "4" and cmd[-2:] == ["--limit", "10"]
    with pytest.raises(ConfigError, match="cannot hold ','"):
        lmms_command("a,b", ["mme"], tmp_path)
    with pytest.raises(ConfigError, match="must be >= 1"):
        lmms_command("m", ["mme"], tmp_path, limit=0)
    assert task_list(" vqav2_val, pope ") == ["vqav2_val", "pope"]
    for bad in ("", "vqav2_val,", "a b"):
        with pytest.raises(ConfigError, match="--tasks takes"):
            task_list(bad)


def test_parsing_a_results_file():
    metrics, info = parse_results(json.loads(json.dumps(RESULTS)), "r.json")
    assert metrics == EXPECTED  # no alias, no "N/A" stderr, no NaN
    assert info["n-samples"]["vqav2_val"]["effective"] == 8 and info["versions"]["mme"] == "Yaml"
    assert all(check_key(k) is None for k in metrics)
    assert check_results({"arms": {"m": metrics}}) == []  # scores on lmms-eval's scale are no fractions
    assert check_results({"arms": {"m": {"lmms/mme/x": "high"}}}) != []
    assert check_key("lmms/mme") is not None and check_key("lmms/a/b/c") is not None
    with pytest.raises(DataError, match="not an lmms-eval results file"):
        parse_results({"task": {}}, "r.json")


def test_a_run_writes_results_json_from_the_file_lmms_eval_writes(tmp_path):
    out = tmp_path / "out"
    old = out / "lmms_eval" / "npo" / "2024-12-31T00-00-00.000000_results.json"  # an earlier run's: not read
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps({"results": {"pope": {"pope_accuracy,none": 0.1}}}))
    calls = []

    def fake_lmms_eval(cmd, check):
        calls.append(cmd)
        raw = cmd[cmd.index("--output_path") + 1]
        path = tmp_path / raw / "npo" / "2025-01-01T00-00-00.000000_results.json"
        path.write_text(json.dumps(RESULTS))
        return SimpleNamespace(returncode=0)

    metrics = run_lmms_eval(str(tmp_path / "models" / "npo"), "vqav2_val,mme", out, limit=8, run=fake_lmms_eval,
                            find_spec=lambda name: object())
    assert metrics == EXPECTED and calls[0][1:3] == ["-m", "lmms_eval"] and calls[0][-2:] == ["--limit", "8"]
    results = read_results(out)
    assert results["arms"] == {"npo": EXPECTED}
    assert results["config"]["lmms_eval"]["results"] == "lmms_eval/npo/2025-01-01T00-00-00.000000_results.json"
    assert "1510.75 (lmms-eval)" in other_metrics_table(results)

    with pytest.raises(DataError, match="exit code 3"):
        run_lmms_eval("m", "pope", out, run=lambda cmd, check: SimpleNamespace(returncode=3),
                      find_spec=lambda name: object())
    with pytest.raises(DataError, match="wrote no results file"):
        run_lmms_eval("m", "pope", out, run=lambda cmd, check: SimpleNamespace(returncode=0),
                      find_spec=lambda name: object())
