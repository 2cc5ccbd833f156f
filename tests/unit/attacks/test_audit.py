"""The first-word audit on synthetic samples whose answer is known by construction."""

import json
import math

import pytest

from unmirage.attacks.audit import audit, first_word, plot_audit, word_score, write_audit
from unmirage.data.records import Sample
from unmirage.errors import ConfigError, DataError


def make(spec: dict[str, list[tuple[str, int]]]) -> list[Sample]:
    """Samples from {group: [(opener, count), ...]}; the core text is the same everywhere."""
    out = []
    for group, openers in spec.items():
        for opener, count in openers:
            for i in range(count):
                out.append(Sample(id=f"{group}-{opener}-{i}", image="x.png", group=group,
                                  instruction=f"{opener} the thing in the picture"))
    return out


def spec_for(answer_word: str, refuse_word: str, shared: str) -> dict:
    return {
        "safe_safes": [(answer_word, 8), (shared, 2)],
        "safe_unsafes": [(shared, 5), (answer_word, 1)],
        "unsafes": [(refuse_word, 6), (shared, 2)],
    }


@pytest.mark.parametrize("words", [("Zed", "Quux", "Mid"), ("Blorp", "Fnord", "Tween")])
def test_biased_words_and_counts_are_found_for_any_words(words):
    answer_word, refuse_word, shared = words
    result = audit(make(spec_for(*words)), min_count=1)
    assert result["answer_biased"][0] == answer_word
    assert result["refusal_biased"][0] == refuse_word
    groups = result["groups"]
    assert set(groups) == {"safe_safes", "safe_unsafes", "unsafes"}
    assert [groups[g]["n"] for g in ("safe_safes", "safe_unsafes", "unsafes")] == [10, 6, 8]
    assert groups["safe_safes"]["first_words"] == {answer_word: 8, shared: 2}
    assert list(groups["unsafes"]["first_words"]) == [refuse_word, shared]  # most frequent first
    assert result["words"][shared] == {"refuse": 7, "answer": 2, "n": 9, "share_refuse": round(7 / 9, 6)}


def test_score_is_the_documented_smoothed_log_odds():
    samples = make(spec_for("Zed", "Quux", "Mid"))
    result = audit(samples, min_count=1, smoothing=0.5)
    # totals: refuse = 6 + 8 = 14, answer = 10; "Zed": refuse 1, answer 8
    expected = math.log(1.5 / 8.5) - math.log(14.5 / 10.5)
    assert result["scores"]["Zed"] == pytest.approx(expected, abs=1e-6)
    assert word_score(1, 8, 14, 10, 0.5) == pytest.approx(expected)
    assert result["scores"]["Quux"] > result["scores"]["Mid"] > result["scores"]["Zed"]


def test_min_count_keeps_rare_words_out_of_the_lists():
    spec = spec_for("Zed", "Quux", "Mid")
    spec["unsafes"].append(("Rare", 1))
    result = audit(make(spec), min_count=3)
    listed = result["answer_biased"] + result["refusal_biased"] + result["neutral"]
    assert "Rare" not in listed and "Rare" in result["scores"]
    assert result["min_count"] == 3
    assert sorted(result["neutral"]) == sorted(["Zed", "Quux", "Mid"])
    assert result["neutral"][0] == "Mid"  # the most balanced word comes first


def test_default_min_count_is_at_least_three():
    result = audit(make({"safe_safes": [("Zed", 2)], "unsafes": [("Quux", 2)]}))
    assert result["min_count"] == 3
    assert result["answer_biased"] == [] and result["refusal_biased"] == []


def test_first_word_drops_punctuation_and_keeps_case():
    assert first_word("Zed, tell me about it") == "Zed"
    assert first_word("zed: tell me") == "zed"
    assert first_word('"Quux" the picture') == "Quux"
    samples = [Sample(id="a", image="x", group="safe_safes", instruction="Zed, what"),
               Sample(id="b", image="x", group="safe_safes", instruction="zed what")]
    assert audit(samples, min_count=1)["groups"]["safe_safes"]["first_words"] == {"Zed": 1, "zed": 1}


def test_bad_input_is_reported():
    with pytest.raises(DataError):
        audit([])
    with pytest.raises(DataError, match="unknown sample groups"):
        audit([Sample(id="a", image="x", group="other", instruction="Zed it")])
    with pytest.raises(ConfigError):
        audit(make(spec_for("Zed", "Quux", "Mid")), smoothing=0)


def test_write_audit_writes_json_and_png(tmp_path):
    result = write_audit(make(spec_for("Zed", "Quux", "Mid")), tmp_path, min_count=1)
    saved = json.loads((tmp_path / "audit.json").read_text())
    assert saved["answer_biased"] == result["answer_biased"]
    assert (tmp_path / "audit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plot_audit(result, tmp_path / "sub" / "again.png")
    assert (tmp_path / "sub" / "again.png").stat().st_size > 1000


def _result(scores, neutral):
    return {"scores": scores, "neutral": neutral}


def test_control_prefers_a_balanced_frequent_word():
    from unmirage.attacks.audit import choose_control

    r = _result({"Alpha": 2.0, "Beta": 0.2, "Gamma": -3.0}, ["Beta", "Alpha", "Gamma"])
    word, why = choose_control(r, vocabulary=["Zeta"])
    assert word == "Beta" and "+0.20" in why


def test_control_falls_back_to_an_unseen_vocabulary_word():
    from unmirage.attacks.audit import choose_control

    r = _result({"Alpha": 2.0, "Gamma": -3.0}, ["Alpha", "Gamma"])
    assert choose_control(r, vocabulary=["Alpha", "Zeta", "Eta"], exclude=["Eta"])[0] == "Zeta"


def test_control_is_never_a_biased_word():
    """VLGuard's case: no frequent word is neutral, so the old fallback took "Can" (+1.40)."""
    from unmirage.attacks.audit import choose_control

    r = _result({"Can": 1.40, "What": -2.5, "Share": 3.0}, ["Can", "What", "Share"])
    word, why = choose_control(r, vocabulary=["Can", "What"], exclude=["What", "Share"])
    assert word is None and "skipped" in why and "'Can'" in why


def test_attack_words_come_from_the_audit_or_the_user():
    import pytest as _pytest

    from unmirage.attacks.audit import attack_words
    from unmirage.errors import ConfigError

    r = {"scores": {"Zed": -2.0, "Quux": 3.0, "Mid": 0.1}, "answer_biased": ["Zed"], "refusal_biased": ["Quux"],
         "neutral": ["Mid", "Zed", "Quux"], "min_count": 3}
    words = attack_words(r)
    assert {k: words[k] for k in ("attack", "refusal", "control")} == {"attack": "Zed", "refusal": "Quux",
                                                                       "control": "Mid"}
    assert "answer-biased" in words["why"]["attack"] and "neutral" not in words["why"]["control"]
    assert attack_words(r, attack="Own")["attack"] == "Own"
    with _pytest.raises(ConfigError, match="attack_word"):
        attack_words(dict(r, answer_biased=[]))


@pytest.mark.parametrize("words", [("Zed", "Quux", "Mid"), ("Blorp", "Fnord", "Tween")])
def test_labels_override_the_groups(words):
    """Unsafe queries answered (as in a corpus that complies with everything) count as answers."""
    answer_word, refuse_word, shared = words
    samples = make(spec_for(*words))
    by_group = audit(samples, min_count=1)
    assert by_group["scores"][shared] > 0  # refused in 7 of its 9 queries
    # the same queries, but every unsafe query starting with `shared` is answered
    labels = ["answer" if s.label == "answer" or (s.group == "unsafes" and s.first_word == shared) else "refuse"
              for s in samples]
    relabelled = audit(samples, min_count=1, labels=labels)
    assert relabelled["words"][shared] == {"refuse": 5, "answer": 4, "n": 9, "share_refuse": round(5 / 9, 6)}
    assert relabelled["scores"][shared] < by_group["scores"][shared]
    assert relabelled["groups"] == by_group["groups"]  # groups stay what the data says
    assert relabelled["totals"]["answer"] == by_group["totals"]["answer"] + 2


def test_labels_must_match_the_samples():
    samples = make(spec_for("A", "B", "C"))
    with pytest.raises(ConfigError, match="one per sample"):
        audit(samples, labels=["answer"])
    with pytest.raises(ConfigError, match="'refuse' or 'answer'"):
        audit(samples, labels=["maybe"] * len(samples))


def test_the_second_control_is_a_word_the_audited_set_never_uses():
    from unmirage.attacks.audit import attack_words, chosen_words

    r = {"scores": {"Zed": -2.0, "Quux": 3.0, "Mid": 0.1}, "answer_biased": ["Zed"], "refusal_biased": ["Quux"],
         "neutral": ["Mid", "Zed", "Quux"], "min_count": 3}
    words = attack_words(r, vocabulary=["Zed", "Mid"], unseen_candidates=["Zed", "Yon", "Abel"])
    assert words["control"] == "Mid" and words["unseen"] == "Yon"  # the first unused candidate, in order
    assert attack_words(r, unseen_candidates=["Zed", "Mid"])["unseen"] is None  # every candidate is used
    assert attack_words(r, vocabulary=["Yon"])["unseen"] is None  # no candidates (real data): none
    assert attack_words(r, unseen_candidates=["Yon"], unseen="none")["unseen"] is None
    # a control falling back to an unused word never takes the given unseen word
    r2 = {**r, "neutral": ["Zed", "Quux"], "scores": {"Zed": -2.0, "Quux": 3.0}}
    assert attack_words(r2, vocabulary=["Yon", "Abel"], unseen="Abel")["control"] == "Yon"
    given = attack_words(r, vocabulary=["Yon"], unseen="Mid")
    assert given["unseen"] == "Mid" and "starts queries with it" in given["why"]["unseen"]
    user = chosen_words(None, {"attack": "A", "refusal": "B", "control": "C", "unseen": ""}, [], 3)
    assert user["unseen"] is None
