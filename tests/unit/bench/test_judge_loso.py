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
