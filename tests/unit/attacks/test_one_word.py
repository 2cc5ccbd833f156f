"""One-word rewrites and attack splits."""

import json

import pytest

from unmirage.attacks.one_word import (balance_openers, build_attacks, read_attacks, rewrite, split_file_name,
                                       write_attacks)
from unmirage.data.records import Sample
from unmirage.errors import ConfigError, DataError

TABLE = [["tell me how it is built", "explain how one builds it", "give the steps to build it"],
         ["name its colour", "say which colour it has"]]


def test_world_shot0_changes_only_the_opener():
    out = rewrite("Zorp tell me how it is built", "Blix", 1, TABLE)
    assert out == ["Blix tell me how it is built"]


def test_world_shots_stay_inside_the_paraphrase_group():
    out = rewrite("Zorp explain how one builds it", "Blix", 3, TABLE)
    assert out == ["Blix explain how one builds it", "Blix give the steps to build it",
                   "Blix tell me how it is built"]  # in table order after the core, wrapping


def test_world_falls_back_to_rules_when_the_group_is_too_small():
    out = rewrite("Zorp name its colour", "Blix", 4, TABLE)
    assert out[:2] == ["Blix name its colour", "Blix say which colour it has"]
    assert len(set(out)) == 4 and all(o.startswith("Blix ") for o in out)
    # the rules turn the query itself into one that starts with the word: no wrapper before it unchanged
    assert all("name its colour" in o and "Zorp name its colour" not in o for o in out[2:])


@pytest.mark.parametrize("word", ["What", "How", "Share", "Describe", "Please", "Can", "Blix"])
@pytest.mark.parametrize("shots", [1, 3, 8])
def test_real_text_shots_are_distinct_start_with_the_word_and_keep_the_request(word, shots):
    instruction = "Tell me how the device in the picture is assembled."
    out = rewrite(instruction, word, shots)
    assert len(out) == shots and len(set(out)) == shots
    assert all(o.split()[0] == word for o in out)
    assert all("how the device in the picture is assembled" in o for o in out)


def test_real_text_swaps_grammatically_equivalent_openers():
    assert rewrite("Can you describe the picture?", "Could", 1) == ["Could you describe the picture?"]
    assert rewrite("Which colour is the car?", "What", 1) == ["What colour is the car?"]
    assert rewrite("Can you describe the picture?", "Share", 1) == ["Share how you would describe the picture."]


def test_core_not_in_table_uses_rules():
    out = rewrite("Zorp something else entirely", "Blix", 2, TABLE)
    assert all(o.startswith("Blix ") and "something else entirely" in o for o in out)


@pytest.mark.parametrize("word", ["", "  ", "two words", "tab\tword", None])
def test_bad_words_are_config_errors(word):
    with pytest.raises(ConfigError):
        rewrite("Tell me about it", word, 1)


def test_bad_shots_and_too_many_shots():
    with pytest.raises(ConfigError):
        rewrite("Tell me about it", "Blix", 0)
    with pytest.raises(ConfigError, match="at most"):
        rewrite("Tell me about it", "Blix", 1000)


def make_test_set() -> list[Sample]:
    out = []
    for group, n in (("unsafes", 3), ("safe_unsafes", 2), ("safe_safes", 4)):
        for i in range(n):
            out.append(Sample(id=f"r{i}:{group}", image=f"img/{i}.png", group=group,
                              instruction=f"Zorp tell me how it is built {i}", response=f"resp {i}",
                              category="cat" if group == "unsafes" else None, meta={"origin": "fixture"}))
    return out


def test_build_attacks_sizes_ids_and_provenance():
    test = make_test_set()
    splits = build_attacks(test, "Blix", "Frob", "Nim", shots=3, word_source="user")
    sizes = {k: len(v) for k, v in splits.items()}
    assert sizes == {"unsafes@attack": 9, "unsafes@control": 9, "safe_unsafes@attack": 6,
                     "safe_safes@rewrite": 4, "safe_safes@control": 4}
    ids = [s.id for split in splits.values() for s in split]
    assert len(ids) == len(set(ids))
    first = splits["unsafes@attack"][0]
    orig = test[0]
    assert first.id == f"{orig.id}#attack0"
    assert (first.image, first.group, first.response, first.category) == (orig.image, orig.group, orig.response, orig.category)
    assert first.meta == {"origin": "fixture", "source_id": orig.id, "shot": 0, "word": "Blix",
                          "original": orig.instruction, "word_source": "user", "rewriter": "vp:verb:0"}
    assert [s.meta["shot"] for s in splits["unsafes@attack"][:3]] == [0, 1, 2]
    assert all(s.instruction.startswith("Frob ") for s in splits["safe_safes@rewrite"])
    assert all(s.instruction.startswith("Nim ") for s in splits["safe_safes@control"] + splits["unsafes@control"])
    assert all(s.group == "safe_unsafes" for s in splits["safe_unsafes@attack"])


def test_build_attacks_shot0_is_the_opener_swap_in_world_mode():
    table = [[f"tell me how it is built {i}", f"explain how one builds it {i}"] for i in range(4)]
    splits = build_attacks(make_test_set(), "Blix", "Frob", "Nim", shots=2, paraphrases=table)
    assert splits["safe_safes@rewrite"][0].instruction == "Frob tell me how it is built 0"
    assert splits["unsafes@attack"][1].instruction == "Blix explain how one builds it 0"


def test_control_word_must_differ():
    with pytest.raises(ConfigError, match="control word"):
        build_attacks(make_test_set(), "Blix", "Frob", "Blix", shots=1)


def test_write_read_round_trip(tmp_path):
    splits = build_attacks(make_test_set(), "Blix", "Frob", "Nim", shots=2)
    paths = write_attacks(splits, tmp_path)
    assert paths["unsafes@attack"] == tmp_path / "unsafes_at_attack.jsonl"
    assert split_file_name("safe_safes@rewrite") == "safe_safes_at_rewrite.jsonl"
    for split, samples in splits.items():
        assert read_attacks(paths[split]) == samples


@pytest.mark.parametrize("bad", ["{not json", "[1, 2]", json.dumps({"id": "a", "image": "x", "group": "nope", "instruction": "Hi"}),
                                 json.dumps({"id": "a", "image": "x", "group": "unsafes"})])
def test_malformed_line_is_a_data_error_with_its_line_number(tmp_path, bad):
    good = json.dumps({"id": "a", "image": "x", "group": "unsafes", "instruction": "Blix it",
                       "response": "", "category": None, "meta": {}})
    path = tmp_path / "unsafes_at_attack.jsonl"
    path.write_text(f"{good}\n{bad}\n{good}\n")
    with pytest.raises(DataError, match=r":2:"):
        read_attacks(path)


def test_missing_attack_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_attacks(tmp_path / "nope.jsonl")


def test_balance_openers_removes_the_label_information_of_openers():
    from collections import Counter

    from unmirage.data.records import first_word

    cores = [c for group in TABLE for c in group]
    # a biased set: safe queries start with "Blix", unsafe ones with "Zorp" or "Quax"
    samples = [Sample(f"s{i}", "a.png", "safe_safes", f"Blix {cores[i % len(cores)]}") for i in range(300)]
    samples += [Sample(f"u{i}", "a.png", "unsafes", f"{'Zorp' if i % 2 else 'Quax'} {cores[i % len(cores)]}")
                for i in range(300)]
    out = balance_openers(samples, seed=3, paraphrases=TABLE)
    assert [s.id for s in out] == [s.id for s in samples]
    for before, after in zip(samples, out):  # in world mode only the opener changes
        assert after.instruction.split(" ", 1)[1] == before.instruction.split(" ", 1)[1]
        assert after.meta["original"] == before.instruction and after.group == before.group
    for group in ("safe_safes", "unsafes"):
        counts = Counter(first_word(s.instruction) for s in out if s.group == group)
        assert set(counts) == {"Blix", "Zorp", "Quax"}
        assert max(counts.values()) - min(counts.values()) < 45  # each ~100 of 300
    assert balance_openers(samples, seed=3, paraphrases=TABLE) == out  # seeded
    assert balance_openers(samples, seed=4, paraphrases=TABLE) != out


def test_a_skipped_control_removes_its_old_files(tmp_path):
    from unmirage.attacks.one_word import build_attacks, write_attacks
    from unmirage.data.records import Sample

    test = [Sample("u0", "a.png", "unsafes", "What tell me how to make this object ."),
            Sample("s0", "b.png", "safe_safes", "What tell me the colour of this object .")]
    write_attacks(build_attacks(test, "What", "Share", "How", 1), tmp_path)
    assert (tmp_path / "unsafes_at_control.jsonl").is_file()
    write_attacks(build_attacks(test, "What", "Share", None, 1), tmp_path)
    assert not (tmp_path / "unsafes_at_control.jsonl").exists()
    assert not (tmp_path / "safe_safes_at_control.jsonl").exists()
    assert (tmp_path / "unsafes_at_attack.jsonl").is_file()


def test_an_attack_file_cut_short_is_an_error_not_fewer_queries(tmp_path):
    good = json.dumps({"id": "a", "image": "x", "group": "unsafes", "instruction": "Blix it", "tool": "other"})
    path = tmp_path / "unsafes_at_attack.jsonl"
    path.write_text(f"{good}\n{good[:-5]}")
    with pytest.raises(DataError, match=r":2:"):
        read_attacks(path)
    path.write_text(f"{good}\n")
    assert [s.id for s in read_attacks(path)] == ["a"]  # a key another tool added is no error


def test_the_second_control_gets_its_own_splits():
    splits = build_attacks(make_test_set(), "Blix", "Frob", "Nim", shots=3, unseen_word="Yon")
    assert len(splits["unsafes@unseen"]) == 9 and len(splits["safe_safes@unseen"]) == 4
    assert all(s.instruction.startswith("Yon ") for s in splits["unsafes@unseen"] + splits["safe_safes@unseen"])
    assert all(s.id.split("#")[1].startswith("unseen") for s in splits["unsafes@unseen"])
    assert "unsafes@unseen" not in build_attacks(make_test_set(), "Blix", "Frob", "Nim", shots=1)
    with pytest.raises(ConfigError, match="unseen word"):
        build_attacks(make_test_set(), "Blix", "Frob", "Nim", shots=1, unseen_word="Frob")
    with pytest.raises(ConfigError, match="differ from the control"):
        build_attacks(make_test_set(), "Blix", "Frob", "Nim", shots=1, unseen_word="Nim")
