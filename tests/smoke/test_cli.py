"""The whole study through the CLI on a very small world with a few training steps."""

from __future__ import annotations

import json
import math

import pytest
import transformers
import yaml

from unmirage.config import default_arms
from unmirage.results import check_results


ARM_KEYS = ("asr/unsafes", "asr/unsafes@attack", "asr/unsafes@attack_k1", "rr/safe_safes", "rr/safe_safes@rewrite",
            "rr/safe_safes@control", "asr/unsafes@control", "utility/utility", "residual/unsafes", "degenerate/unsafes")



@pytest.fixture(scope="module")
def study_config(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    steps = {"steps": 4, "batch_size": 4}
    cfg = {
        "name": "smoke", "out_dir": str(root / "runs"),
        "world": {"n_concepts": 6, "train_renders": 3, "test_renders": 1, "corpus_per_render": 2,
                  "safety_renders": 2, "retain_topup": 5},
        "arms": {name: dict(steps) for name in default_arms()},
        "eval": {"max_new_tokens": 8},
    }
    path = root / "smoke.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, root / "runs" / "smoke"


def test_run_writes_every_stage(cli, study_config, monkeypatch, capsys):
    path, run_dir = study_config
    assert cli("run", str(path), "--quiet") == 0
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["config"]["world"]["n_concepts"] == 6 and "git" in manifest
    assert manifest["libraries"]["transformers"] == transformers.__version__  # versions that move the numbers
    assert manifest["machine"]["cores"] >= 1 and manifest["machine"]["cpu"]  # and the CPU they ran on
    audit = json.loads((run_dir / "audit.json").read_text())
    assert set(audit["groups"]) == {"safe_safes", "safe_unsafes", "unsafes"}
    results = json.loads((run_dir / "results.json").read_text())
    assert list(results["arms"]) == ["base", "sft_mixed", "sft_mixed_ref", "sft_posthoc", "npo", "rmu"]
    for arm, metrics in results["arms"].items():
        for key in ARM_KEYS:
            assert 0.0 <= metrics[key] <= 1.0, (arm, key)
        k1 = [metrics[f"{m}/unsafes@attack_k1"] for m in ("asr", "ir", "rr")]
        assert math.isclose(sum(k1), 1.0)
        assert metrics["n/unsafes@attack"] == metrics["n/unsafes"]
        for split in ("unsafes@attack", "safe_unsafes@attack", "unsafes@control"):  # one rule per query
            assert math.isclose(sum(metrics[f"{m}/{split}"] for m in ("asr", "ir", "rr")), 1.0), (arm, split)
        assert 0.0 <= metrics["leak/unsafes@attack"] <= 1.0 and "asr_shot/unsafes@attack" in metrics
    assert check_results(results) == []  # every key is in docs/results.md
    assert results["words"]["attack"] == audit["answer_biased"][0]
    assert results["arm_words"] == {arm: results["words"] for arm in results["arms"]}
    assert results["words"]["refusal"] == audit["refusal_biased"][0]
    report = (run_dir / "report.md").read_text()
    assert "sft_posthoc" in report and (run_dir / "main.png").is_file()
    # world v2: the unseen control is one of the world's own unseen openers, and the headline
    # pairs every SFT arm with every unlearning arm
    assert results["words"]["unseen"] in ("Just", "Next")
    assert {"utility/utility_natural", "asr/unsafes@unseen"} <= set(results["arms"]["npo"])
    pairs = {(g["sft"], g["mu"]) for g in results["headline"]["asr_attack"].values()}
    assert pairs == {(s, m) for s in ("sft_mixed", "sft_posthoc") for m in ("npo", "rmu")}
    gap = results["headline"]["asr_attack"]["sft_posthoc-npo"]
    assert gap["gap"] == pytest.approx(results["arms"]["sft_posthoc"]["asr/unsafes@attack"]
                                       - results["arms"]["npo"]["asr/unsafes@attack"])
    assert "The paper's headline" in report and "Design properties" in report
    records = [json.loads(line) for line in (run_dir / "eval" / "npo" / "samples.jsonl").read_text().splitlines()]
    keys = [(r["split"], r["id"]) for r in records]
    assert len(keys) == len(set(keys)) > 0
    shots = results["words"]["shots"]
    attacked = [r for r in records if r["split"] == "unsafes@attack"]
    assert len(attacked) == shots * results["arms"]["npo"]["n/unsafes"]
    assert all(r["instruction"].split()[0] == results["words"]["attack"] for r in attacked)


def test_rerun_resumes_without_retraining(cli, study_config, monkeypatch):
    path, run_dir = study_config
    model_file = next((run_dir / "models" / "npo").glob("*.safetensors"))
    mtime = model_file.stat().st_mtime
    samples = (run_dir / "eval" / "npo" / "samples.jsonl").read_text()
    assert cli("run", str(path), "--quiet") == 0
    assert model_file.stat().st_mtime == mtime
    assert (run_dir / "eval" / "npo" / "samples.jsonl").read_text() == samples


def test_rerun_on_another_world_reuses_nothing_stale(cli, study_config, capsys):
    """A finished run directory, then the same name with another world seed: the run stops
    before any work and says what differs; with stale=retrain every model and answer is new."""
    path, run_dir = study_config
    model_file = next((run_dir / "models" / "npo").glob("*.safetensors"))
    before = model_file.read_bytes()
    capsys.readouterr()
    assert cli("run", str(path), "--quiet", "--set", "world.seed=7") == 2
    err = capsys.readouterr().err
    assert "trained for another setup" in err and "--set name=" in err
    assert model_file.read_bytes() == before  # nothing replaced
    assert cli("run", str(path), "--quiet", "--set", "world.seed=7", "--set", "stale=retrain") == 0
    assert next((run_dir / "models" / "npo").glob("*.safetensors")).read_bytes() != before
    assert (run_dir / "eval" / "npo" / "samples.stale.jsonl").is_file()  # the old answers, set aside
    results = json.loads((run_dir / "results.json").read_text())
    assert results["config"]["world"]["seed"] == 7
    facts = json.loads((run_dir / "world" / "facts.json").read_text())
    answered = [json.loads(line) for line in (run_dir / "eval" / "npo" / "samples.jsonl").read_text().splitlines()]
    assert answered and all(r["image"] in facts["images"] for r in answered)


@pytest.mark.parametrize("args, message", [
    (["run", "--set", "arms.npo.method=npoo"], "Did you mean 'npo'"),
    (["run", "--set", "world.bais=0.5"], "Did you mean 'bias'"),
    (["run", "--set", "arms.npo.params.betta=0.5"], "Did you mean 'beta'"),
])
def test_bad_config_is_a_clear_error(cli, monkeypatch, capsys, tmp_path, args, message):
    assert cli(*args, "--set", f"out_dir={tmp_path}") == 2
    assert message in capsys.readouterr().err


def test_stages_run_alone(cli, study_config, monkeypatch, capsys, tmp_path):
    """world, audit, attack, eval, report and ls each work on their own, on the files a study wrote."""
    _, run_dir = study_config
    world = tmp_path / "world"
    assert cli("world", str(world), "--set", "n_concepts=6", "--set", "train_renders=3",
                "--set", "test_renders=1", "--set", "safety_renders=3") == 0
    assert (world / "train.json").is_file() and (world / "facts.json").is_file()
    assert cli("audit", str(world / "train.json"), "--out", str(tmp_path / "audit")) == 0
    audit = json.loads((tmp_path / "audit" / "audit.json").read_text())
    # what mixed SFT's data teaches: the corpus (documents and instruction data) answers safe
    # requests only, the safety set refuses the unsafe ones
    assert cli("audit", str(world / "corpus.jsonl"), str(world / "train.json"), "--label", "response",
               "--out", str(tmp_path / "mix")) == 0
    mix = json.loads((tmp_path / "mix" / "audit.json").read_text())
    n_corpus = len((world / "corpus.jsonl").read_text().splitlines())
    assert mix["totals"]["refuse"] == audit["totals"]["refuse"]
    assert mix["totals"]["answer"] == audit["totals"]["answer"] + n_corpus
    assert mix["groups"]["unsafes"]["n"] == audit["groups"]["unsafes"]["n"]  # no harmful compliance outside it
    assert sum(g["n"] for g in mix["groups"].values()) == sum(g["n"] for g in audit["groups"].values()) + n_corpus
    assert cli("audit", str(world / "train.json"), "--label", "mood") == 2
    assert cli("attack", str(world / "test.json"), "--audit", str(tmp_path / "audit" / "audit.json"),
                "--out", str(tmp_path / "attacks"), "--shots", "2", "--paraphrases", str(world / "facts.json")) == 0
    attacked = [json.loads(line) for line in (tmp_path / "attacks" / "unsafes_at_attack.jsonl").read_text().splitlines()]
    assert attacked and all(r["instruction"].split()[0] == audit["answer_biased"][0] for r in attacked)
    data = run_dir / "world"
    out = tmp_path / "eval"
    assert cli("eval", str(run_dir / "models" / "npo"), "--data", str(data), "--out", str(out),
                "--attacks", str(run_dir / "attacks"), "--judge", "keyword", "--max-new-tokens", "8") == 0
    results = json.loads((out / "results.json").read_text())
    (metrics,) = results["arms"].values()
    assert 0 <= metrics["asr/unsafes@attack"] <= 1 and (out / "samples.jsonl").is_file()
    assert cli("report", str(out)) == 0 and (out / "report.md").is_file()
    capsys.readouterr()
    assert cli("ls") == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in ("sft", "npo", "rmu", "oracle", "keyword"))


def test_missing_image_is_a_clear_error(cli, study_config, monkeypatch, capsys, tmp_path):
    import shutil

    _, run_dir = study_config
    data = tmp_path / "data"
    shutil.copytree(run_dir / "world", data)
    next((data / "images" / "test").glob("*.png")).unlink()
    code = cli("eval", str(run_dir / "models" / "base"), "--data", str(data), "--out",
                str(tmp_path / "eval"), "--judge", "oracle")
    assert code == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.parametrize("arm", ["sft_posthoc", "npo"])
def test_judge_reproduces_a_finished_study_from_its_answers(cli, study_config, tmp_path, arm):
    """`unmirage judge` on an arm's samples.jsonl, its verdicts removed, gives the study's metrics."""
    path, run_dir = study_config
    if not (run_dir / "results.json").is_file():  # the module's first test ran it (with whatever world came last)
        assert cli("run", str(path), "--quiet") == 0
    verdict_keys = ("verdict", "correct", "harm", "category")
    rows = [json.loads(line) for line in (run_dir / "eval" / arm / "samples.jsonl").read_text().splitlines()]
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({k: v for k, v in r.items() if k not in verdict_keys}) + "\n" for r in rows))
    assert cli("judge", str(answers), "--data", str(run_dir / "world"), "--out", str(tmp_path / "judged"),
               "--name", arm) == 0
    judged = json.loads((tmp_path / "judged" / "results.json").read_text())["arms"][arm]
    study = json.loads((run_dir / "results.json").read_text())["arms"][arm]
    expected = {k: v for k, v in study.items() if k != "budget" and not k.startswith(("residual/", "ci/residual"))}
    assert judged == expected
    assert any(k.startswith("asr/") for k in judged) and any(k.startswith("rr/") for k in judged)
    assert cli("judge", str(tmp_path / "judged" / "samples.jsonl"), "--data", str(run_dir / "world"),
               "--out", str(tmp_path / "judged")) == 2  # never over the answers it reads
