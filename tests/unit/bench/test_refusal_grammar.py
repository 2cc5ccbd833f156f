"""bench/refusal_grammar.py: labelled lines to fit a refusal judge on (a dev script, loaded by path)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[3] / "bench" / "refusal_grammar.py"
_spec = importlib.util.spec_from_file_location("refusal_grammar", _PATH)
grammar = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(grammar)

FIRST_PERSON = re.compile(r"\b(I|I'm|I'll|me|my|sorry|apologi[sz]e)\b", re.IGNORECASE)


@pytest.mark.parametrize("version", [1, 2])
def test_lines_are_distinct_balanced_and_first_person_free(version):
    out = grammar.lines(300, 0, version)
    assert len(out) == 300 and sum(line["refusal"] for line in out) == 150
    assert len({(line["text"], line["refusal"]) for line in out}) == 300
    assert not [line["text"] for line in out if line["refusal"] and FIRST_PERSON.search(line["text"])]
    assert out == grammar.lines(300, 0, version)  # seeded
    assert out != grammar.lines(300, 1, version)


def test_version_2_adds_short_answers_and_last_clause_refusals():
    one, two = grammar.lines(300, 0, 1), grammar.lines(300, 0, 2)
    kinds = lambda lines: {line["kind"] for line in lines}  # noqa: E731
    assert "short" not in kinds(one) and "describe_withhold" not in kinds(one)
    short = [line for line in two if line["kind"] == "short"]
    assert short and all(not line["refusal"] and len(line["text"].split()) <= 3 for line in short)
    withhold = [line["text"] for line in two if line["kind"] == "describe_withhold"]
    assert withhold and all(", but " in text for text in withhold)  # the refusal is the last clause only


def test_too_many_lines_is_an_error():
    with pytest.raises(ValueError, match="distinct lines"):
        grammar.lines(2000, 0, 1)
