"""Every registered loader reachable from the command line: audit, attack and judge on each fixture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from unmirage.data.datasets import DATASETS, load_dataset

FIXTURES = Path(__file__).parents[1] / "fixtures"
CASES = {  # format -> (file, loader options)
    "mirage": ("mirage/what_3shot.json", ["shots=3"]),
    "spavl": ("spavl/train.jsonl", []),
    "mmsafety": ("mmsafety", ["image_type=TYPO"]),
    "figstep": ("figstep/question/safebench.csv", []),
    "generic": ("generic/data.jsonl", []),
    "vqa": ("vqa/vqa.json", []),
}


def test_every_format_has_a_case():
    assert set(CASES) | {"vlguard"} == set(DATASETS.names())  # vlguard: the study's own format, below


@pytest.mark.parametrize("fmt", [*CASES, "vlguard"])
def test_audit_attack_and_judge_read_every_format(cli, tmp_path, tiny_world, fmt):
    rel, options = CASES.get(fmt, (None, []))
    path = FIXTURES / rel if rel else tiny_world / "test.json"
    opts = [a for o in options for a in ("--option", o)]
    queries = load_dataset(fmt, path, check_images=False, **{k: yaml.safe_load(v) for k, v in
                                                              (o.split("=") for o in options)})

    assert cli("audit", str(path), "--format", fmt, *opts, "--out", str(tmp_path / "audit")) == 0
    audit = json.loads((tmp_path / "audit" / "audit.json").read_text())
    assert sum(g["n"] for g in audit["groups"].values()) == len(queries)

    assert cli("attack", str(path), "--format", fmt, *opts, "--attack-word", "What", "--refusal-word", "Share",
               "--control-word", "How", "--shots", "2", "--out", str(tmp_path / "attacks")) == 0
    attacked = (tmp_path / "attacks" / "unsafes_at_attack.jsonl").read_text().splitlines()
    assert len(attacked) == 2 * sum(q.group == "unsafes" for q in queries)

    answers = tmp_path / "answers.jsonl"  # every other query refused
    answers.write_text("".join(json.dumps({"id": q.id, "answer": "I cannot help with that." if i % 2 else "Sure."})
                               + "\n" for i, q in enumerate(queries)))
    assert cli("judge", str(answers), "--queries", str(path), "--format", fmt, *opts, "--judge", "keyword",
               "--out", str(tmp_path / "judged")) == 0
    arm = json.loads((tmp_path / "judged" / "results.json").read_text())["arms"]["answers"]
    units = {q.meta.get("source_id") or q.id for q in queries}  # K shots of one query are one unit (any of K)
    assert sum(v for k, v in arm.items() if k.startswith("n/") and "[" not in k and "_k1" not in k) == len(units)
    answers.write_text("".join(json.dumps({"id": q.id, "answer": "Sure."}) + "\n" for q in queries[1:]))
    assert cli("judge", str(answers), "--queries", str(path), "--format", fmt, *opts, "--judge", "keyword",
               "--out", str(tmp_path / "judged2")) == 2  # an answers file that misses a query


def test_eval_reads_a_test_set_of_another_format(cli, tmp_path, tiny_world):
    import shutil

    from PIL import Image

    from unmirage.config import ModelConfig
    from unmirage.models.families import fresh_tiny
    from unmirage.models.load import save_model

    data = shutil.copytree(FIXTURES / "generic", tmp_path / "generic")
    queries = load_dataset("generic", data / "data.jsonl", check_images=False)
    for q in queries:
        (data / q.image).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 32), (200, 40, 40)).save(data / q.image)
    model, processor = fresh_tiny(ModelConfig(), [q.instruction for q in queries], 32)
    saved = save_model(model, processor, tmp_path / "model")
    args = ["eval", str(saved), "--data", str(data / "data.jsonl"), "--format", "generic", "--judge", "keyword",
            "--max-new-tokens", "4", "--out", str(tmp_path / "eval")]
    assert cli(*args) == 2  # where its images lie must be said
    assert cli(*args, "--image-root", str(data)) == 0
    rows = (tmp_path / "eval" / "samples.jsonl").read_text().splitlines()
    assert len(rows) == len(queries)
