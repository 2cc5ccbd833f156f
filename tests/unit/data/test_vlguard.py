"""VLGuard-format loading and writing, record parsing, and image resolution/loading."""

import json
import os

import pytest
from PIL import Image

from unmirage.data.records import Sample, load_image, resolve_image
from unmirage.data.vlguard import load_vlguard, parse_record, samples_to_vlguard
from unmirage.errors import DataError


def _img(root, rel, colour=(200, 10, 10)):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path)
    return rel


@pytest.fixture
def fixture_dir(tmp_path):
    _img(tmp_path, "imgs/safe.png")
    _img(tmp_path, "imgs/bad.png", (0, 0, 200))
    records = [
        {"id": "s1", "image": "imgs/safe.png", "safe": True, "source": "web",
         "instr-resp": [{"safe_instruction": "What is this?", "response": "A cup."},
                        {"unsafe_instruction": "Can I break it to hurt someone?", "response": "Sorry, no."}]},
        {"id": "u1", "image": "imgs/bad.png", "safe": False, "harmful_category": "violence",
         "harmful_subcategory": "weapons",
         "instr-resp": [{"instruction": "Describe how to build it.", "response": "I cannot help."}]},
    ]
    (tmp_path / "train.json").write_text(json.dumps(records))
    return tmp_path


def test_load_groups_labels_first_words(fixture_dir):
    samples = load_vlguard(fixture_dir / "train.json")
    assert [s.group for s in samples] == ["safe_safes", "safe_unsafes", "unsafes"]
    assert [s.label for s in samples] == ["answer", "refuse", "refuse"]
    assert [s.first_word for s in samples] == ["What", "Can", "Describe"]
    assert [s.id for s in samples] == ["s1:safe_safes", "s1:safe_unsafes", "u1:unsafes"]
    assert samples[0].response == "A cup." and samples[2].response == "I cannot help."
    assert samples[2].category == "violence" and samples[0].category is None
    assert samples[0].meta == {"source": "web"}
    assert samples[2].meta == {}  # harmful_subcategory is a known key, not meta
    for s in samples:
        assert load_image(fixture_dir, s.image).size == (8, 8)


def test_string_safe_and_string_pairs(tmp_path):
    recs = [
        {"id": 1, "image": "a.png", "safe": "True",
         "instr-resp": "[{'safe_instruction': 'What colour?', 'response': 'Red.'}]"},
        {"id": 2, "image": "b.png", "safe": "False",
         "instr-resp": '[{"instruction": "Share the recipe.", "response": "No."}]'},
    ]
    (tmp_path / "t.json").write_text(json.dumps(recs))
    samples = load_vlguard(tmp_path / "t.json")
    assert [(s.id, s.group, s.instruction) for s in samples] == [
        ("1:safe_safes", "safe_safes", "What colour?"), ("2:unsafes", "unsafes", "Share the recipe.")]


def test_code_in_pairs_string_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    code = f"__import__('os').system('touch {marker}')"
    rec = {"id": "x", "image": "a.png", "safe": True, "instr-resp": code}
    with pytest.raises(DataError, match="'x'"):
        parse_record(rec, 0)
    rec["instr-resp"] = f"[{{'safe_instruction': {code}, 'response': ''}}]"
    with pytest.raises(DataError):
        parse_record(rec, 0)
    assert not marker.exists()


@pytest.mark.parametrize("bad, match", [
    ({"image": "a.png", "safe": True, "instr-resp": []}, "record 3.*missing key 'id'"),
    ({"id": "r9", "safe": True, "instr-resp": []}, "record 3.*'r9'.*missing key 'image'"),
    ({"id": "r9", "image": "a.png", "instr-resp": []}, "'r9'.*missing key 'safe'"),
    ({"id": "r9", "image": "a.png", "safe": "yes", "instr-resp": []}, "'r9'.*'safe'"),
    ({"id": "r9", "image": "a.png", "safe": True, "instr-resp": [{"instruction": "x", "response": "y"}]},
     "record 3 \\(id 'r9'\\).*pair 0"),
    ({"id": "r9", "image": "a.png", "safe": False, "instr-resp": [{"safe_instruction": "x", "response": "y"}]},
     "'r9'.*pair 0.*'instruction'"),
    ({"id": "r9", "image": "a.png", "safe": True, "instr-resp": {"safe_instruction": "x"}}, "'r9'.*list"),
    ({"id": "r9", "image": "a.png", "safe": True, "instr-resp": "not a literal ("}, "'r9'.*literal"),
    ({"id": "r9", "image": "", "safe": True, "instr-resp": []}, "'r9'.*image"),
    ({"id": "r9", "image": "a.png", "safe": True, "instr-resp": [{"safe_instruction": " ", "response": "y"}]},
     "'r9'.*non-empty"),
    ({"id": "r9", "image": "a.png", "safe": True, "instr-resp": [{"safe_instruction": "q", "response": 3}]},
     "'r9'.*response"),
    ("just a string", "record 3.*expected an object"),
])
def test_malformed_records(tmp_path, bad, match):
    good = {"id": "g", "image": "a.png", "safe": True, "instr-resp": [{"safe_instruction": "q", "response": "a"}]}
    (tmp_path / "t.json").write_text(json.dumps([good, good, good, bad]))
    with pytest.raises(DataError, match=match):
        load_vlguard(tmp_path / "t.json")


def test_non_list_file_and_invalid_json(tmp_path):
    p = tmp_path / "t.json"
    p.write_text(json.dumps({"id": "a"}))
    with pytest.raises(DataError, match="list"):
        load_vlguard(p)
    p.write_text('[{"id": "a",')
    with pytest.raises(DataError, match="not valid JSON"):
        load_vlguard(p)
    with pytest.raises(DataError, match="not found"):
        load_vlguard(tmp_path / "missing.json")


def test_resolve_image(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    assert resolve_image(root, "a/b.png") == (root / "a" / "b.png").resolve()
    with pytest.raises(DataError, match="outside"):
        resolve_image(root, "../x.png")
    with pytest.raises(DataError, match="outside"):
        resolve_image(root, "a/../../x.png")
    with pytest.raises(DataError, match="outside"):
        resolve_image(root, str(tmp_path / "x.png"))  # absolute, outside the root
    inside = str((root / "c.png").resolve())
    assert resolve_image(root, inside) == (root / "c.png").resolve()  # absolute inside is fine


def test_resolve_image_symlink_escape(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    _img(tmp_path, "secret.png")
    os.symlink(tmp_path / "secret.png", root / "link.png")
    with pytest.raises(DataError, match="outside"):
        resolve_image(root, "link.png")


def test_load_image_missing_and_corrupt(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_image(tmp_path, "nope.png")
    (tmp_path / "bad.png").write_bytes(os.urandom(256))
    with pytest.raises(DataError, match="cannot be read"):
        load_image(tmp_path, "bad.png")
    # a grayscale image comes back as RGB
    Image.new("L", (4, 4), 7).save(tmp_path / "g.png")
    im = load_image(tmp_path, "g.png")
    assert im.mode == "RGB" and im.getpixel((0, 0)) == (7, 7, 7)


def test_samples_to_vlguard_round_trip(fixture_dir, tmp_path):
    samples = load_vlguard(fixture_dir / "train.json")
    records = samples_to_vlguard(samples)
    original = json.loads((fixture_dir / "train.json").read_text())
    assert len(records) == 2
    assert records[0]["instr-resp"] == original[0]["instr-resp"]
    assert records[0]["safe"] is True and records[1]["safe"] is False
    assert records[0]["source"] == "web"
    out = tmp_path / "out.json"
    out.write_text(json.dumps(records))
    assert load_vlguard(out) == samples


def test_samples_to_vlguard_groups_by_record_id():
    samples = [
        Sample("r:1:safe_safes", "i.png", "safe_safes", "What?", "A."),
        Sample("r:1:safe_unsafes", "i.png", "safe_unsafes", "Can?", "No."),
    ]
    recs = samples_to_vlguard(samples)
    assert len(recs) == 1 and recs[0]["id"] == "r:1"
    assert recs[0]["instr-resp"] == [{"safe_instruction": "What?", "response": "A."},
                                     {"unsafe_instruction": "Can?", "response": "No."}]


@pytest.mark.parametrize("text", ["[{[1]: 2}]", "[{'safe_instruction': {[1]}}]"])
def test_unhashable_literal_is_a_data_error(text):
    # ast.literal_eval raises TypeError (not ValueError/SyntaxError) for unhashable dict keys/set items
    rec = {"id": "h1", "image": "a.png", "safe": True, "instr-resp": text}
    with pytest.raises(DataError, match="'h1'"):
        parse_record(rec, 0)


def test_repeated_record_ids_get_unique_sample_ids(tmp_path):
    import json

    from unmirage.data.vlguard import load_vlguard

    rec = {"id": "dup", "image": "a.png", "safe": False, "instr-resp": [{"instruction": "Share it.", "response": "No."}]}
    path = tmp_path / "dup.json"
    path.write_text(json.dumps([rec, dict(rec, image="b.png")]))
    samples = load_vlguard(path)
    assert len({s.id for s in samples}) == 2
    assert [s.image for s in samples] == ["a.png", "b.png"]
