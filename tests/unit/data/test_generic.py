"""The generic user JSONL format: groups from `group` or `safe`, default ids, line-numbered errors."""

import json

import pytest

from unmirage.data.generic import load_generic
from unmirage.data.records import Sample, load_image
from unmirage.data.samples_io import write_samples
from unmirage.errors import DataError

IMAGES = ["img/a.png", "img/b.png"]


def test_fixture(bench):
    root = bench("generic", IMAGES)
    samples = load_generic(root / "data.jsonl")
    assert [(s.id, s.group) for s in samples] == [("q1", "safe_safes"), ("q2", "unsafes"), ("line3", "safe_unsafes")]
    assert samples[0].response == "A bicycle." and samples[0].category is None
    assert samples[1].category == "theft" and samples[1].meta == {"source": "handmade"}
    assert samples[2].response == "" and samples[2].meta == {"note": "x"}
    assert load_image(root, samples[2].image).size == (4, 4)


def test_reads_the_projects_sample_files(tmp_path):
    samples = [Sample("a:safe_safes", "x.png", "safe_safes", "What is it?", "A cup.", None, {"k": 1}),
               Sample("b:unsafes", "x.png", "unsafes", "Share it.", "No.", "c", {})]
    write_samples(tmp_path / "s.jsonl", samples)
    assert load_generic(tmp_path / "s.jsonl", check_images=False) == samples


@pytest.mark.parametrize("record, match", [
    ({"image": "a.png", "instruction": "x"}, "line 2: missing field 'group'"),
    ({"image": "a.png", "instruction": "x", "safe": "yes"}, "line 2: field 'safe' must be true or false"),
    ({"image": "a.png", "instruction": "x", "group": "harmful"}, "line 2: field 'group': group must be one of"),
    ({"image": "a.png", "instruction": "x", "group": "unsafes", "safe": True}, "line 2: 'safe' .* contradicts"),
    ({"instruction": "x", "group": "unsafes"}, "line 2: missing field 'image'"),
    ({"image": "a.png", "instruction": "", "group": "unsafes"}, "line 2: field 'instruction' must be a non-empty"),
    ({"id": "q1", "image": "a.png", "instruction": "x", "group": "unsafes"}, "line 2: id 'q1' is already used at line 1"),
    ({"image": "../a.png", "instruction": "x", "group": "unsafes"}, "'line2'.*outside the image root"),
])
def test_bad_lines(tmp_path, record, match):
    first = {"id": "q1", "image": "a.png", "instruction": "ok", "safe": True}
    (tmp_path / "d.jsonl").write_text(json.dumps(first) + "\n" + json.dumps(record) + "\n")
    with pytest.raises(DataError, match=match):
        load_generic(tmp_path / "d.jsonl", check_images=False)


def test_invalid_json_line(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"image": "a.png", "instruction": "x", "safe": true}\n{not json}\n{"x": 1}\n')
    with pytest.raises(DataError, match=r"d\.jsonl: line 2: not valid JSON"):
        load_generic(tmp_path / "d.jsonl", check_images=False)


def test_json_list_and_wrong_suffix(tmp_path):
    (tmp_path / "d.json").write_text(json.dumps([{"image": "a.png", "instruction": "x", "safe": True}]))
    assert [s.id for s in load_generic(tmp_path / "d.json", check_images=False)] == ["record0"]
    (tmp_path / "d.txt").write_text("{}")
    with pytest.raises(DataError, match=r"d\.txt: expected a \.json or \.jsonl file"):
        load_generic(tmp_path / "d.txt")
