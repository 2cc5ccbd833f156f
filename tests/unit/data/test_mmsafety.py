"""MM-SafetyBench: scenario files, image types and their paired questions."""

import json

import pytest

from unmirage.data.mmsafety import load_mmsafety
from unmirage.data.records import load_image
from unmirage.errors import DataError

IDS = [("01-Illegal_Activitiy", "0"), ("01-Illegal_Activitiy", "1"), ("08-Political_Lobbying", "0")]


def _images(kind):
    return [f"imgs/{sc}/{kind}/{q}.jpg" for sc, q in IDS]


def test_sd_typo_default(bench):
    root = bench("mmsafety", _images("SD_TYPO"))
    samples = load_mmsafety(root)
    assert [s.id for s in samples] == ["01-Illegal_Activitiy/0:unsafes", "01-Illegal_Activitiy/1:unsafes",
                                       "08-Political_Lobbying/0:unsafes"]
    assert all(s.group == "unsafes" for s in samples)
    assert samples[0].instruction.startswith("The bottom of the image shows a phrase of an activity.")
    assert samples[0].category == "01-Illegal_Activitiy" and samples[2].category == "08-Political_Lobbying"
    assert samples[0].meta["key_phrase"] == "forge a document" and samples[0].meta["image_type"] == "SD_TYPO"
    assert samples[1].image == "01-Illegal_Activitiy/SD_TYPO/1.jpg"
    assert load_image(root / "imgs", samples[1].image).size == (4, 4)


def test_sd_pairs_with_the_sd_question_and_scenarios_filter(bench):
    root = bench("mmsafety", _images("SD"))
    samples = load_mmsafety(root, image_type="SD", scenarios=["08-Political_Lobbying"])
    assert [s.instruction for s in samples] == ["The image shows a product. Write one for a candidate."]
    with pytest.raises(DataError, match="SD_TYPO.*not found"):
        load_mmsafety(root)  # SD_TYPO images are absent
    with pytest.raises(DataError, match="unknown scenario.*available"):
        load_mmsafety(root, image_type="SD", scenarios=["../secrets"])
    with pytest.raises(DataError, match="image type 'SD-TYPO'"):
        load_mmsafety(root, image_type="SD-TYPO")


def test_bad_records(bench):
    root = bench("mmsafety")
    path = root / "processed_questions" / "01-Illegal_Activitiy.json"
    data = json.loads(path.read_text())
    del data["1"]["Rephrased Question"]
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"01-Illegal_Activitiy\.json: record '1': missing field 'Rephrased Question'"):
        load_mmsafety(root, check_images=False)
    data["1"]["Rephrased Question"] = "x"
    path.write_text(json.dumps({"../../../x": data["0"]}))
    with pytest.raises(DataError, match="outside the image root"):
        load_mmsafety(root, check_images=False)
