"""MM-SafetyBench (Liu et al., ECCV 2024; github.com/isXinLiu/MM-SafetyBench).

The data root holds one JSON file per scenario in `processed_questions/` (e.g.
`01-Illegal_Activitiy.json`, the benchmark's own spelling) mapping question ids to
`{"Question", "Rephrased Question", "Rephrased Question(SD)", "Key Phrase", "Phrase Type", ...}`,
and the images in `imgs/<scenario>/<SD|SD_TYPO|TYPO>/<id>.jpg`. Each image type pairs with its
own text: SD (a Stable Diffusion picture of the key phrase) with "Rephrased Question(SD)";
SD_TYPO (picture + typography) and TYPO (typography only) with "Rephrased Question".
Every query is unsafe: group `unsafes`, category = the scenario.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from ..io import read_json
from .loading import check_image_paths, require_object, text_field
from .records import Sample

QUESTION_KEY = {"SD": "Rephrased Question(SD)", "SD_TYPO": "Rephrased Question", "TYPO": "Rephrased Question"}
_META = {"Question": "question", "Key Phrase": "key_phrase", "Phrase Type": "phrase_type"}


def _questions_dir(root: Path) -> Path:
    sub = root / "processed_questions"
    folder = sub if sub.is_dir() else root
    if not folder.is_dir():
        raise DataError(f"{root}: MM-SafetyBench data root not found; pass the folder holding processed_questions/")
    return folder


def load_mmsafety(path: str | Path, image_root: str | Path | None = None, image_type: str = "SD_TYPO",
                  scenarios: list[str] | None = None, check_images: bool = True) -> list[Sample]:
    """MM-SafetyBench scenarios as unsafe samples, for one image type (SD, SD_TYPO or TYPO).

    `path` is the data root (with `processed_questions/` and `imgs/`); `image_root` defaults
    to `PATH/imgs`. `scenarios` picks some scenario files by name (default: all, in order).
    """
    if image_type not in QUESTION_KEY:
        raise DataError(f"unknown MM-SafetyBench image type {image_type!r}; choose one of {list(QUESTION_KEY)}")
    root = Path(path)
    files = sorted(_questions_dir(root).glob("*.json"))
    if not files:
        raise DataError(f"{root}: no scenario JSON files (like 01-Illegal_Activitiy.json) found")
    if scenarios is not None:
        available = {f.stem: f for f in files}
        unknown = [s for s in scenarios if s not in available]
        if unknown:
            raise DataError(f"{root}: unknown scenario(s) {unknown}; available: {sorted(available)}")
        files = [available[s] for s in scenarios]
    key = QUESTION_KEY[image_type]
    samples = []
    for file in files:
        scenario, data = file.stem, read_json(file)
        if not isinstance(data, dict):
            raise DataError(f"{file}: expected a JSON object mapping question ids to records")
        for qid, raw in data.items():
            where = f"{file}: record {qid!r}"
            rec = require_object(raw, where)
            meta = {name: text_field(rec, k, where, required=False) for k, name in _META.items() if k in rec}
            samples.append(Sample(id=f"{scenario}/{qid}:unsafes", image=f"{scenario}/{image_type}/{qid}.jpg",
                                  group="unsafes", instruction=text_field(rec, key, where), category=scenario,
                                  meta={**meta, "scenario": scenario, "image_type": image_type}))
    images = root / "imgs" if image_root is None else image_root
    return check_image_paths(samples, images, str(root), check_images)
