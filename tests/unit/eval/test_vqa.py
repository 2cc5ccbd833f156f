"""The VQA accuracy: the evaluation script's normalisation and the leave-one-out average, by hand."""

import pytest

from unmirage.eval.vqa import CONTRACTIONS, normalise_answer, strip_punctuation, vqa_accuracy


@pytest.mark.parametrize("matching, score", [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (7, 1.0), (10, 1.0)])
def test_ten_humans_leave_one_out(matching, score):
    """Of 10 humans, m give the answer: the humans who gave it see m - 1 matches among the other 9,
    the others m, so the mean is (m * min(1, (m-1)/3) + (10-m) * min(1, m/3)) / 10 = min(1, 0.3 m)."""
    humans = ["dog"] * matching + [f"cat{i}" for i in range(10 - matching)]
    assert vqa_accuracy("dog", humans) == pytest.approx(score)


def test_fewer_humans_average_over_those_given():
    # 3 humans, 2 say "no": the two see 1 match among the others (1/3), the third 2 (2/3)
    assert vqa_accuracy("no", ["no", "yes", "no"]) == pytest.approx((1 / 3 + 2 / 3 + 1 / 3) / 3)
    assert vqa_accuracy("yes", ["no", "yes", "no"]) == pytest.approx(2 / 9)
    # 6 humans, 4 of them "2" after normalisation ("two" -> "2"; "two people" stays two words)
    humans = ["two", "2", "2", "2", "two people", "3"]
    assert vqa_accuracy("2", humans) == pytest.approx(1.0)
    assert vqa_accuracy("Three.", humans) == pytest.approx(5 / 18)
    assert vqa_accuracy("2 people", humans) == pytest.approx(5 / 18)


def test_a_single_human_answer_is_an_exact_match():
    assert vqa_accuracy("Red.", ["red"]) == 1.0
    assert vqa_accuracy("blue", ["red"]) == 0.0
    with pytest.raises(ValueError, match="at least one human answer"):
        vqa_accuracy("red", [])


@pytest.mark.parametrize("raw, normal", [
    ("Two.", "2"),
    ("None", "0"),
    ("ten", "10"),
    ("eleven", "eleven"),
    ("The dog", "dog"),
    ("a man and an apple", "man and apple"),
    ("Yes!", "yes"),
    ("dont know", "don't know"),
    ("isnt", "isn't"),
    ("couldntve", "couldn't've"),
    ("couldn'tve", "couldn't've"),
    ("its", "its"),
    ("black-and-white", "black and white"),
    ("black - white", "black white"),
    ("hello, world", "hello world"),
    ("3,000", "3000"),
    ("1.5", "1.5"),
    ("e.g. this", "eg this"),
    ("  Red\n\tcar ", "red car"),
    ("(left)", "left"),
    ("it's", "it's"),
])
def test_normalisation(raw, normal):
    assert normalise_answer(raw) == normal


def test_punctuation_touching_a_space_is_removed_else_spaced():
    assert strip_punctuation("a/b") == "a b"
    assert strip_punctuation("a / b") == "a  b"
    assert strip_punctuation("1,000/2") == "10002"  # a comma between digits: every mark is removed


def test_contractions_map_spellings_without_apostrophes_only():
    assert CONTRACTIONS["wont"] == "won't" and CONTRACTIONS["yalldve"] == "y'all'd've"
    assert CONTRACTIONS["y'alldve"] == "y'all'd've"
    assert not {"id", "its", "shed", "well", "were"} & set(CONTRACTIONS)
    assert all("'" in form for form in CONTRACTIONS.values())
