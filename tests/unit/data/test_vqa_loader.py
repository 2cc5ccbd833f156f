"""The VQAv2-style loader: answers as strings or VQAv2 objects, the short-answer prompt, bad records."""

import json

import pytest

from unmirage.data.datasets import load_dataset
from unmirage.data.records import load_image
from unmirage.data.vqa import SHORT_ANSWER, VQA_ANSWERS, load_vqa
from unmirage.errors import DataError

IMAGES = ["images/COCO_val2014_000000262148.jpg", "images/b.png"]


def test_fixture(bench):
    root = bench("vqa", IMAGES)
    samples = load_vqa(root / "vqa.json")
    assert [s.id for s in samples] == ["262148000", "262148001", "q3"]
    assert {s.group for s in samples} == {"safe_safes"}
    first, second, third = samples
    assert first.meta[VQA_ANSWERS] == ["down", "down", "at table", "skateboard", "down", "table", "down", "down",
                                       "down", "down"]
    assert first.response == "down" and first.category == "other"
    assert first.instruction == f"Where is he looking?\n{SHORT_ANSWER}"
    assert second.meta[VQA_ANSWERS] == ["two", "2", "2", "2", "two people", "3"] and second.response == "2"
    assert third.response == "no" and third.category is None and len(third.meta[VQA_ANSWERS]) == 3
    assert load_image(root, third.image).size == (4, 4)
    assert [s.id for s in load_dataset("vqa", root / "vqa.json")] == [s.id for s in samples]


def test_the_bare_question_and_no_doubled_prompt(tmp_path):
    recs = [{"id": 1, "image": "a.png", "question": "What colour?", "answers": ["red"]},
            {"id": 2, "image": "a.png", "question": f"Which?\n{SHORT_ANSWER}", "answers": ["left"]}]
    (tmp_path / "v.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert [s.instruction for s in load_vqa(tmp_path / "v.jsonl", suffix="", check_images=False)] == [
        "What colour?", f"Which?\n{SHORT_ANSWER}"]
    assert load_vqa(tmp_path / "v.jsonl", check_images=False)[1].instruction == f"Which?\n{SHORT_ANSWER}"


@pytest.mark.parametrize("record, match", [
    ({"id": 2, "image": "a.png", "question": "x"}, r"record 1 \(id 2\): missing field 'answers'"),
    ({"id": 2, "image": "a.png", "question": "x", "answers": []}, "field 'answers' must be a non-empty list"),
    ({"id": 2, "image": "a.png", "question": "x", "answers": "yes"}, "field 'answers' must be a non-empty list"),
    ({"id": 2, "image": "a.png", "question": "x", "answers": ["yes", {"text": "no"}]}, r"answers\[1\] must be"),
    ({"id": 2, "image": "a.png", "question": "x", "answers": ["yes", " "]}, r"answers\[1\] must be"),
    ({"id": 2, "image": "a.png", "answers": ["yes"]}, "record 1: missing field 'question'"),
    ({"id": 2, "question": "x", "answers": ["yes"]}, "record 1: missing field 'image'"),
    ({"id": True, "image": "a.png", "question": "x", "answers": ["yes"]}, "'question_id' .* must be a non-empty"),
    ({"id": 1, "image": "a.png", "question": "x", "answers": ["yes"]}, "sample id '1' occurs twice"),
    ({"id": 2, "image": "../a.png", "question": "x", "answers": ["yes"]}, "sample '2'.*outside the image root"),
    ({"id": 2, "image": "/etc/passwd", "question": "x", "answers": ["yes"]}, "sample '2'.*outside the image root"),
])
def test_bad_records(tmp_path, record, match):
    first = {"id": 1, "image": "a.png", "question": "ok?", "answers": ["yes"]}
    (tmp_path / "v.json").write_text(json.dumps([first, record]))
    with pytest.raises(DataError, match=match):
        load_vqa(tmp_path / "v.json", check_images=False)


def test_missing_images_are_found_at_load(tmp_path):
    (tmp_path / "v.json").write_text(json.dumps([{"id": 1, "image": "a.png", "question": "x", "answers": ["y"]}]))
    with pytest.raises(DataError, match="image 'a.png' not found"):
        load_vqa(tmp_path / "v.json")
