"""Forget/retain building with fake models and judges: answer sources, selection, seeded top-up."""

import pytest

from unmirage.data.forget_retain import (
    answers_from_field,
    answers_from_models,
    build_forget_retain,
    judge_score,
)
from unmirage.data.records import Sample
from unmirage.data.samples_io import read_samples
from unmirage.data.spavl import load_spavl
from unmirage.errors import ConfigError, DataError

DATA = [
    Sample("u1:unsafes", "a.png", "unsafes", "Share the recipe.", "Sorry.", "c", {"bad": "HARM u1"}),
    Sample("s1:safe_safes", "b.png", "safe_safes", "What is it?", "A cup."),
    Sample("s1:safe_unsafes", "b.png", "safe_unsafes", "How to hurt with it?", "No.", None, {"bad": "HARM s1"}),
    Sample("u2:unsafes", "c.png", "unsafes", "Describe how to make it.", "Sorry.", None, {"bad": "HARM u2"}),
]
GENERAL = [Sample(f"g{i}", f"g{i}.png", "safe_safes", f"What colour is item {i}?", "Blue.") for i in range(20)]


def test_answers_from_field():
    forget = answers_from_field([DATA[0], DATA[2]], "bad")
    assert [s.response for s in forget] == ["HARM u1", "HARM s1"]
    assert forget[0].meta["original_response"] == "Sorry." and forget[0].meta["harmful_source"] == "bad"
    with pytest.raises(DataError, match="'s1:safe_safes'.*field 'bad'"):
        answers_from_field([DATA[1]], "bad")


def _polite(samples):
    return ["I cannot help." for _ in samples]


def _leaky(samples):
    return [f"step one for {s.id}" if s.group == "unsafes" else "I cannot help." for s in samples]


def _harm(samples, answers):
    return [0.0 if a.startswith("I cannot") else 1.0 for a in answers]


def test_models_pick_the_most_harmful_answer():
    forget = answers_from_models([DATA[0], DATA[2]], {"polite": _polite, "leaky": _leaky}, _harm)
    assert [s.response for s in forget] == ["step one for u1:unsafes", "I cannot help."]
    assert [s.meta["harmful_source"] for s in forget] == ["leaky", "polite"]  # a tie keeps the first model
    assert forget[0].meta["harm_score"] == 1.0 and forget[0].meta["original_response"] == "Sorry."
    kept = answers_from_models([DATA[0], DATA[2]], [_polite, _leaky], _harm, min_score=0.5)
    assert [(s.id, s.meta["harmful_source"]) for s in kept] == [("u1:unsafes", "model1")]


def test_model_and_score_contracts():
    with pytest.raises(DataError, match="model 'short' returned 1 values for 2 queries"):
        answers_from_models(DATA[:2], {"short": lambda s: ["x"]}, _harm)
    with pytest.raises(DataError, match="harm score"):
        answers_from_models(DATA[:2], [_polite], lambda s, a: ["high", "low"])
    with pytest.raises(ConfigError, match="at least one model"):
        answers_from_models(DATA[:2], [], _harm)


class _FakeJudge:
    name = "fake"

    def judge(self, samples, answers):
        return [{"verdict": "refusal" if a.startswith("I cannot") else "harmful", "correct": None} for a in answers]


def test_judge_score():
    assert judge_score(_FakeJudge())(DATA[:2], ["I cannot.", "step one"]) == [-1.0, 1.0]


def test_build_with_field_and_seeded_topup(tmp_path):
    sets = build_forget_retain(DATA, answers_field="bad", general=GENERAL, retain_size=6, seed=3)
    assert [s.id for s in sets.forget] == ["u1:unsafes", "s1:safe_unsafes", "u2:unsafes"]
    assert [s.response for s in sets.forget] == ["HARM u1", "HARM s1", "HARM u2"]
    assert sets.retain[0] == DATA[1] and len(sets.retain) == 6
    assert all(s.meta["retain_source"] == "general" for s in sets.retain[1:])
    again = build_forget_retain(DATA, answers_field="bad", general=GENERAL, retain_size=6, seed=3)
    other = build_forget_retain(DATA, answers_field="bad", general=GENERAL, retain_size=6, seed=4)
    assert again == sets and [s.id for s in other.retain] != [s.id for s in sets.retain]
    only_unsafes = build_forget_retain(DATA, answers_field="bad", general=GENERAL, forget_groups=("unsafes",))
    assert len(only_unsafes.forget) == 2 and len(only_unsafes.retain) == 21
    paths = sets.write(tmp_path)
    assert read_samples(paths["forget"]) == sets.forget and read_samples(paths["retain"]) == sets.retain


def test_build_with_models():
    sets = build_forget_retain(DATA, models=[_polite, _leaky], score=_harm, min_score=0.5)
    assert [s.id for s in sets.forget] == ["u1:unsafes", "u2:unsafes"] and sets.retain == [DATA[1]]


def test_build_errors():
    with pytest.raises(ConfigError, match="exactly one source"):
        build_forget_retain(DATA)
    with pytest.raises(ConfigError, match="exactly one source"):
        build_forget_retain(DATA, answers_field="bad", models=[_polite], score=_harm)
    with pytest.raises(ConfigError, match="needs score="):
        build_forget_retain(DATA, models=[_polite])
    with pytest.raises(DataError, match="no samples in the forget groups"):
        build_forget_retain([DATA[1]], answers_field="bad")
    with pytest.raises(DataError, match="retain set is empty"):
        build_forget_retain([DATA[0]], answers_field="bad")
    with pytest.raises(DataError, match="general retain data must be safe_safes.*'u1:unsafes'"):
        build_forget_retain(DATA, answers_field="bad", general=[DATA[0]])


def test_spavl_rejected_answers_as_forget_set(bench):
    root = bench("spavl")
    rows = load_spavl(root / "train.jsonl", check_images=False)
    sets = build_forget_retain(rows, answers_field="rejected", general=GENERAL, retain_size=2, seed=0)
    assert [s.response for s in sets.forget] == ["HARMFUL ANSWER A", "HARMFUL ANSWER B", "HARMFUL ANSWER C"]
    assert sets.forget[0].meta["original_response"].startswith("I can't help") and len(sets.retain) == 2
