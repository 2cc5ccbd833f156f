"""VQAv2-style utility questions: a JSON list (or JSONL) of records with human answers.

A record has `question_id` (or `id`; default `record<I>`), `image` (relative to the image root,
default: the file's folder), `question`, and `answers`: a non-empty list of strings or of
VQAv2's `{"answer": ..., "answer_confidence": ..., "answer_id": ...}` objects (VQAv2 has ten
per question; fewer are allowed). An optional `answer_type` ("yes/no", "number", "other")
becomes the sample's category. Other keys are dropped.

Every question is a safe query (`safe_safes`) about a safe image. Its human answers go to
`meta["vqa_answers"]`, which is what tells evaluation to score the answer with the VQA
accuracy (`eval/vqa.py`); `response` is VQAv2's `multiple_choice_answer` when given, else the
most frequent human answer. The instruction is the question followed, on its own line, by
`suffix` (LLaVA-1.5's VQAv2 prompt by default), because the VQA accuracy only credits short
answers; `suffix=""` asks the bare question.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ..errors import DataError
from .loading import check_image_paths, check_unique_ids, read_records, require_object, text_field
from .records import Sample

VQA_ANSWERS = "vqa_answers"  # the meta key of a question's human answers
SHORT_ANSWER = "Answer the question using a single word or phrase."  # LLaVA-1.5's prompt for VQAv2


def human_answers(rec: dict[str, Any], where: str) -> list[str]:
    """The `answers` of a record as strings; a missing, empty or malformed list is a `DataError`."""
    answers = rec.get("answers")
    if answers is None:
        raise DataError(f"{where}: missing field 'answers' (the human answers the VQA accuracy needs)")
    if not isinstance(answers, list) or not answers:
        raise DataError(f"{where}: field 'answers' must be a non-empty list of strings or of "
                        f"{{\"answer\": ...}} objects, got {answers!r:.60}")
    out = []
    for i, a in enumerate(answers):
        text = a.get("answer") if isinstance(a, dict) else a
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{where}: answers[{i}] must be a non-empty string or an object with one in "
                            f"'answer', got {a!r:.60}")
        out.append(text)
    return out


def parse_vqa(raw: Any, where: str, default_id: str, suffix: str = SHORT_ANSWER) -> Sample:
    """One VQA record as a `safe_safes` sample; a bad record raises a `DataError` naming `where` and the field."""
    rec = require_object(raw, where)
    rid = rec.get("question_id", rec.get("id", default_id))
    if not isinstance(rid, (str, int)) or isinstance(rid, bool) or str(rid) == "":
        raise DataError(f"{where}: field 'question_id' (or 'id') must be a non-empty string or an integer, got {rid!r}")
    answers = human_answers(rec, f"{where} (id {rid!r})")
    question = text_field(rec, "question", where)
    kind = rec.get("answer_type")
    if kind is not None and not isinstance(kind, str):
        raise DataError(f"{where}: field 'answer_type' must be a string or null")
    best = rec.get("multiple_choice_answer")
    response = best if isinstance(best, str) and best else Counter(answers).most_common(1)[0][0]
    instruction = question if not suffix or question.rstrip().endswith(suffix) else f"{question}\n{suffix}"
    return Sample(id=str(rid), image=text_field(rec, "image", where), group="safe_safes", instruction=instruction,
                  response=response, category=kind or None, meta={VQA_ANSWERS: answers})


def load_vqa(path: str | Path, image_root: str | Path | None = None, check_images: bool = True,
             suffix: str = SHORT_ANSWER) -> list[Sample]:
    """VQAv2-style questions with human answers (JSON list or JSONL); see the module docstring."""
    samples = [parse_vqa(raw, where, f"record{i}", suffix)
               for i, (where, raw) in enumerate(read_records(path, "VQA file"))]
    check_unique_ids(samples, str(path))
    root = Path(path).parent if image_root is None else image_root
    return check_image_paths(samples, root, str(path), check_images)
