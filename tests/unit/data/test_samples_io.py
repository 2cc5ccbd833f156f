"""JSONL sample files: round trip, validation, interrupted appends."""

import json

import pytest

from unmirage.data.records import Sample
from unmirage.data.samples_io import read_samples, sample_from_dict, sample_to_dict, write_samples
from unmirage.errors import DataError
from unmirage.io import append_jsonl, read_jsonl


SAMPLES = [
    Sample("a:safe_safes", "x/a.png", "safe_safes", "What is it ?", "a cup .", None, {"concept": "bab"}),
    Sample("b:unsafes", "x/b.png", "unsafes", "Share how ?", "sorry .", "hazard", {}),
    Sample("c:safe_unsafes", "x/c.png", "safe_unsafes", "Can I ? ünïcode", "", None, {"k": [1, 2]}),
]


def test_round_trip(tmp_path):
    p = tmp_path / "s.jsonl"
    write_samples(p, SAMPLES)
    assert read_samples(p) == SAMPLES
    lines = p.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["meta"] == {"concept": "bab"}


def test_optional_fields_default():
    s = sample_from_dict({"id": "a", "image": "i.png", "group": "unsafes", "instruction": "x", "meta": None}, "w")
    assert s.response == "" and s.category is None and s.meta == {}


def test_bad_group(tmp_path):
    d = sample_to_dict(SAMPLES[0])
    d["group"] = "safe"
    p = tmp_path / "s.jsonl"
    p.write_text(json.dumps(sample_to_dict(SAMPLES[1])) + "\n" + json.dumps(d) + "\n" + json.dumps(d) + "\n")
    with pytest.raises(DataError, match="record 1.*group"):
        read_samples(p)


@pytest.mark.parametrize("d, match", [
    ({"id": "a", "image": "i", "group": "unsafes"}, "missing"),
    ({"id": "a", "image": "i", "group": "unsafes", "instruction": "x", "extra": 1}, "unknown"),
    ([1, 2], "object"),
])
def test_bad_records(d, match):
    with pytest.raises(DataError, match=match):
        sample_from_dict(d, "here")


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_samples(tmp_path / "nope.jsonl")


def test_truncated_last_line_tolerated(tmp_path):
    p = tmp_path / "s.jsonl"
    write_samples(p, SAMPLES[:2])
    with p.open("a") as f:
        f.write('{"id": "c", "ima')  # an interrupted append
    assert read_samples(p) == SAMPLES[:2]
    assert len(list(read_jsonl(p))) == 2


def test_bad_middle_line_is_an_error(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text('{"a": 1}\n{broken\n{"a": 2}\n')
    with pytest.raises(DataError, match=":2:"):
        list(read_jsonl(p))


def test_append_and_read_missing(tmp_path):
    p = tmp_path / "sub" / "log.jsonl"
    assert list(read_jsonl(p)) == []
    append_jsonl(p, [{"a": 1}])
    append_jsonl(p, [{"a": 2}, {"a": 3}])
    assert [r["a"] for r in read_jsonl(p)] == [1, 2, 3]


def test_a_kill_between_a_record_and_its_newline_or_inside_a_character_loses_nothing(tmp_path):
    p = tmp_path / "s.jsonl"
    append_jsonl(p, [{"a": 1}])
    p.write_bytes(p.read_bytes().rstrip(b"\n"))  # the whole record, its newline not yet written
    append_jsonl(p, [{"a": 2}])
    assert list(read_jsonl(p)) == [{"a": 1}, {"a": 2}]  # the first answer is kept, not cut
    p.write_bytes(p.read_bytes() + json.dumps({"a": "ünï"}, ensure_ascii=False).encode()[:-4])  # cut in a character
    assert list(read_jsonl(p)) == [{"a": 1}, {"a": 2}]
    append_jsonl(p, [{"a": 3}])
    assert list(read_jsonl(p)) == [{"a": 1}, {"a": 2}, {"a": 3}]
