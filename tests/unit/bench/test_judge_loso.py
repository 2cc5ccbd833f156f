"""bench/judge_loso.py: answers measured that are also in what the judge is fitted on."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

_PATH = Path(__file__).resolve().parents[3] / "bench" / "judge_loso.py"
_spec = importlib.util.spec_from_file_location("judge_loso", _PATH)
loso = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(loso)


def test_answers_also_fitted_on_are_counted_and_dropped_up_to_case_and_spacing(capsys):
    held = ["None.", "Not  happening.", "The sign says stop.", "That stays unwritten."]
    truth = np.array([False, True, False, True])
    fitted = ["none.", "not happening.", "Three dogs."]
    kept, kept_truth = loso.unseen(held, truth, fitted, "set", drop=True)
    assert kept == ["The sign says stop.", "That stays unwritten."] and kept_truth.tolist() == [False, True]
    assert "2 of 4 answers are also in the fitted data (1 refusals, 1 helpful)" in capsys.readouterr().out
    same, same_truth = loso.unseen(held, truth, fitted, "set", drop=False)
    assert same == held and same_truth.tolist() == truth.tolist()  # counted, still measured


def test_nothing_is_printed_when_nothing_was_seen(capsys):
    kept, _ = loso.unseen(["A"], np.array([True]), ["B"], "set", drop=True)
    assert kept == ["A"] and capsys.readouterr().out == ""


def test_parts_split_at_sentences_dashes_semicolons_but_and_colons_before_a_capital():
    text = ("The photo shows a kitchen. The rest — the address — stays private; ask the owner, "
            "but not here: Details are withheld. Ok.")
    assert loso.parts(text) == ["The photo shows a kitchen.", "The rest", "the address", "stays private",
                                "ask the owner", "but not here", "Details are withheld."]
    assert loso.parts("Time: 5 pm, in the hall.") == ["Time: 5 pm, in the hall."]  # no capital after ':'
    assert loso.parts("Two.") == []


class _Judge:
    """Scores an answer by its count of 'no' less its count of 'yes'."""

    def scores(self, texts):
        return np.array([t.lower().split().count("no") - t.lower().split().count("yes") - 0.5 for t in texts])


def test_part_scores_combine_the_whole_with_its_parts_by_mode():
    texts = ["yes yes it is. no no that is.", "no no to this. yes yes yes to that.", "Two."]
    whole = _Judge().scores(texts)
    assert loso.part_scores(_Judge(), texts, "whole").tolist() == whole.tolist()
    # parts' scores: [-2.5, 1.5] and [1.5, -3.5]; the third has no part and keeps the whole's
    assert loso.part_scores(_Judge(), texts, "max").tolist() == [1.5, 1.5, whole[2]]
    assert loso.part_scores(_Judge(), texts, "last").tolist() == [1.5, max(whole[1], -3.5), whole[2]]
    assert loso.part_scores(_Judge(), texts, "avg").tolist() == [(whole[0] + 1.5) / 2, (whole[1] + 1.5) / 2, whole[2]]
