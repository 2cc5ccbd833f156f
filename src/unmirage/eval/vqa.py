"""The standard VQA accuracy (Antol et al. 2015; Goyal et al. 2017, VQAv2), as pure functions.

An answer is normalised as the VQA evaluation script does: newlines and tabs become spaces;
punctuation other than the apostrophe is removed, or turned into a space where it joins two
words ("black-and-white" -> "black and white", but "3,000" -> "3000"); a period is dropped
unless a digit follows it ("1.5" stays); words are lower-cased, number words up to ten become
digits ("two" -> "2", "none" -> "0"), the articles a, an and the are dropped, and contractions
written without their apostrophes get them back ("dont" -> "don't").

The accuracy of an answer against n human answers is the mean, over the n ways of leaving one
human out, of min(1, (humans among the others who gave the answer) / 3): an answer given by 1,
2, 3 or 4 of VQAv2's 10 humans scores 0.3, 0.6, 0.9 or 1. With fewer humans the same average
runs over those given (so it caps at (n - 1) / 3 below four); a single human answer, with no one
to leave out, scores 1 on a match.

Unlike the official script, which normalises a model's answer and the humans' only for the
questions whose humans disagree, both are always normalised here (as the EvalAI server and
lmms-eval normalise every prediction), so "Two." matches "2" where every human said "2".
"""

from __future__ import annotations

import re
from itertools import combinations

PUNCTUATION = ";/[]\"{}()=+\\_-><@`,?!"  # every mark the VQA script treats; the apostrophe is kept
_DIGIT_COMMA = re.compile(r"\d,\d")
_PERIOD = re.compile(r"\.(?!\d)")  # a period not followed by a digit (what the script's pattern removes)
NUMBER_WORDS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
                "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
ARTICLES = frozenset({"a", "an", "the"})

# Contractions as written with their apostrophes; each spelling with some apostrophes left out
# maps back to it, except the spellings that are words of their own ("id", "its", "shed", ...).
_CONTRACTED = (
    "ain't aren't can't could've couldn't couldn't've didn't doesn't don't hadn't hadn't've hasn't haven't "
    "he'd he'd've he's how'd how'll how's i'd've i'm i've isn't it'd it'd've it'll let's ma'am mightn't "
    "mightn't've might've mustn't must've needn't not've o'clock oughtn't shan't she'd've she's should've "
    "shouldn't shouldn't've somebody'd somebody'd've somebody'll somebody's someone'd someone'd've someone'll "
    "someone's something'd something'd've something'll that's there'd there'd've there're there's they'd "
    "they'd've they'll they're they've 'twas wasn't we'd've we've weren't what'll what're what's what've "
    "when's where'd where's where've who'd who'd've who'll who's who've why'll why're why's won't would've "
    "wouldn't wouldn't've y'all y'all'll y'all'd've you'd you'd've you'll you're you've"
).split()
_WORDS_OF_THEIR_OWN = frozenset({"id", "ill", "its", "lets", "shed", "shell", "wed", "well", "were", "hell"})


def _spellings_without_apostrophes(form: str) -> list[str]:
    """Every spelling of `form` with one or more of its apostrophes left out."""
    marks = [i for i, c in enumerate(form) if c == "'"]
    return ["".join(c for i, c in enumerate(form) if i not in dropped)
            for k in range(1, len(marks) + 1) for dropped in map(set, combinations(marks, k))]


CONTRACTIONS = {spelling: form for form in _CONTRACTED for spelling in _spellings_without_apostrophes(form)
                if spelling not in _WORDS_OF_THEIR_OWN}


def strip_punctuation(text: str) -> str:
    """`text` without the VQA script's punctuation: a mark touching a space (or any mark, in a
    text with a comma between digits) is removed, any other is replaced by a space; then every
    period not followed by a digit is removed."""
    glued = _DIGIT_COMMA.search(text) is not None
    out = text
    for mark in PUNCTUATION:
        gone = glued or f"{mark} " in text or f" {mark}" in text
        out = out.replace(mark, "" if gone else " ")
    return _PERIOD.sub("", out)


def normalise_words(text: str) -> str:
    """`text`'s words lower-cased, number words as digits, without articles, contractions restored."""
    words = [NUMBER_WORDS.get(w, w) for w in text.lower().split()]
    return " ".join(CONTRACTIONS.get(w, w) for w in words if w not in ARTICLES)


def normalise_answer(answer: str) -> str:
    """An answer as the VQA accuracy compares it (see the module docstring)."""
    return normalise_words(strip_punctuation(answer.replace("\n", " ").replace("\t", " ").strip()))


def vqa_accuracy(answer: str, humans: list[str]) -> float:
    """The VQA accuracy of `answer` against the human answers `humans` (see the module docstring)."""
    if not humans:
        raise ValueError("the VQA accuracy needs at least one human answer")
    given = normalise_answer(answer)
    same = [normalise_answer(h) == given for h in humans]
    if len(same) == 1:
        return float(same[0])
    matches = sum(same)
    return sum(min(1.0, (matches - s) / 3) for s in same) / len(same)
