"""Tests of the report stage: markdown tables, figures, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unmirage.errors import DataError
from unmirage.report import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _results() -> dict:
    return {
        "version": "0.1.0",
        "git": "abc1234",
        "config": {"name": "tiny-study"},
        "words": {"attack": "What", "refusal": "Share", "control": "Kindly", "shots": 3, "source": "audit"},
        "timings": {"sft_posthoc": 125.0, "forget_x": 42.5},
        "arms": {
            "sft_posthoc": {
                "asr/unsafes": 0.01, "ci/asr/unsafes": [0.0, 0.03], "n/unsafes": 100,
                "asr/unsafes@attack": 0.64, "ci/asr/unsafes@attack": [0.55, 0.731],
                "asr/unsafes@control": 0.05,
                "asr/safe_unsafes": 0.02, "asr/safe_unsafes@attack": 0.4,
                "rr/safe_safes": 0.03, "rr/safe_safes@rewrite": 0.405, "rr/safe_safes@control": 0.04,
                "utility/utility": 0.552, "residual/unsafes": 0.9,
                "asr/unsafes@attack_k1": 0.29, "ir/unsafes@attack_k1": 0.11, "rr/unsafes@attack_k1": 0.6,
                "ir/unsafes": 0.04, "rr/unsafes": 0.95,
                "degenerate/unsafes": 0.0,
                "budget": {"steps": 200, "batch_size": 8, "examples": 1600},
            },
            "forget_x": {  # not a default arm name; utility only on safe_safes; keys missing
                "asr/unsafes": 0.02, "asr/unsafes@attack": 0.06,
                "rr/safe_safes": 0.01, "rr/safe_safes@rewrite": 0.015,
                "utility/safe_safes": 0.5,
                "asr/unsafes@attack_k1": 0.03, "ir/unsafes@attack_k1": 0.37, "rr/unsafes@attack_k1": 0.6,
                "degenerate/unsafes": 0.125,
            },
            "Base-Model 2": {"asr/unsafes": 0.7, "utility/utility": 0.6},
        },
    }


def _write(run: Path, results: dict, audit: dict | None = None) -> Path:
    run.mkdir(parents=True, exist_ok=True)
    (run / "results.json").write_text(json.dumps(results), encoding="utf-8")
    if audit is not None:
        (run / "audit.json").write_text(json.dumps(audit), encoding="utf-8")
    return run


def _table(md: str, heading: str) -> list[dict[str, str]]:
    """Parse the first markdown table after `heading` into rows keyed by header."""
    lines = md.splitlines()
    i = lines.index(heading)
    while not lines[i].startswith("|"):
        i += 1
    rows = []
    while i < len(lines) and lines[i].startswith("|"):
        rows.append([c.strip() for c in lines[i].strip().strip("|").split(" | ")])
        i += 1
    header, body = rows[0], rows[2:]
    return [dict(zip(header, r)) for r in body]


def _row(rows: list[dict[str, str]], arm: str) -> dict[str, str]:
    (row,) = [r for r in rows if r["Arm"] == arm]
    return row


def test_main_table_values(tmp_path: Path) -> None:
    run = _write(tmp_path / "run", _results())
    path = write_report(run)
    assert path == run / "report.md"
    md = path.read_text(encoding="utf-8")
    assert md.startswith("# unmirage report: tiny-study")
    assert "0.1.0" in md and "abc1234" in md
    assert "**What**" in md and "**Share**" in md and "**Kindly**" in md and "K = 3" in md

    rows = _table(md, "## Main table")
    assert [r["Arm"] for r in rows] == ["sft_posthoc", "forget_x", "Base-Model 2"]  # file order
    p = _row(rows, "sft_posthoc")
    assert p["ASR"] == "1.0"
    assert p["ASR attack (K=3)"] == "64.0"
    assert p["ASR control"] == "5.0"
    assert p["ASR s-u"] == "2.0" and p["ASR s-u attack"] == "40.0"
    assert p["RR"] == "3.0" and p["RR rewrite"] == "40.5" and p["RR control"] == "4.0"
    assert p["Utility"] == "55.2" and p["Residual"] == "90.0" and p["Degenerate"] == "0.0"

    f = _row(rows, "forget_x")
    assert f["ASR attack (K=3)"] == "6.0"
    assert f["ASR control"] == "–" and f["Residual"] == "–" and f["ASR s-u"] == "–"
    assert f["Utility"] == "50.0†"  # fallback to utility/safe_safes, marked
    assert f["Degenerate"] == "12.5"

    b = _row(rows, "Base-Model 2")
    assert b["ASR"] == "70.0" and b["Utility"] == "60.0"
    assert b["ASR attack (K=3)"] == "–" and b["Degenerate"] == "–"

    detailed = _table(md, "### With bootstrap confidence intervals")
    d = _row(detailed, "sft_posthoc")
    assert d["ASR"] == "1.0 [0.0, 3.0]"
    assert d["ASR attack (K=3)"] == "64.0 [55.0, 73.1]"
    assert d["RR"] == "3.0"  # no CI there


def test_decomposition_and_reading(tmp_path: Path) -> None:
    md = write_report(_write(tmp_path / "run", _results())).read_text(encoding="utf-8")
    rows = _table(md, "## Decomposition after the attack")
    p = _row(rows, "sft_posthoc")
    assert (p["ASR after"], p["IR after"], p["RR after"]) == ("29.0", "11.0", "60.0")
    assert (p["ASR before"], p["IR before"], p["RR before"]) == ("1.0 [0.0, 3.0]", "4.0", "95.0")
    f = _row(rows, "forget_x")
    assert (f["ASR after"], f["IR after"], f["RR after"]) == ("3.0", "37.0", "60.0")
    assert f["IR before"] == "–"
    assert _row(rows, "Base-Model 2")["ASR after"] == "–"

    assert "sft_posthoc: ASR 1.0 % → 64.0 % under the attack (+63.0 points" in md
    assert "bootstrap CIs do not overlap" in md
    assert "sft_posthoc: RR 3.0 % → 40.5 % after the rewrite (+37.5 points); with the control word 4.0 %." in md
    assert "forget_x: ASR 2.0 % → 6.0 % under the attack (+4.0 points)." in md
    assert "ASR under the attack: lowest forget_x (6.0 %), highest sft_posthoc (64.0 %)." in md
    assert "Base-Model 2: ASR" not in md  # no pair to compare
    assert "](main.png)" in md and "](decomposition.png)" in md
    budget = _row(_table(md, "### Training budget and time"), "sft_posthoc")
    assert budget["steps"] == "200" and budget["time"] == "2m 05s"


def test_figures_are_png(tmp_path: Path) -> None:
    run = _write(tmp_path / "run", _results())
    write_report(run)
    for name in ("main.png", "decomposition.png"):
        data = (run / name).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 1000


def test_audit_section_only_with_audit(tmp_path: Path) -> None:
    md = write_report(_write(tmp_path / "a", _results())).read_text(encoding="utf-8")
    assert "## Audit" not in md and "audit.png" not in md

    audit = {
        "groups": {
            "safe_safes": {"n": 977, "first_words": {"What": 869, "Can": 103, "How": 5}},
            "unsafes": {"n": 1023, "first_words": {"Share": 195, "Describe": 162}},
        },
        "scores": {"What": -2.31, "Can": -0.4, "Share": 3.05, "Describe": 1.5},
        "answer_biased": ["What", "Can"],
        "refusal_biased": ["Share", "Describe"],
    }
    run = _write(tmp_path / "b", _results(), audit)
    md = write_report(run).read_text(encoding="utf-8")
    assert "## Audit of the alignment data" in md
    assert "| 1 | What | -2.31 | Share | +3.05 |" in md
    assert "What 88.9 %" in md and "Share 19.1 %" in md
    assert "audit.png" not in md  # not drawn
    (run / "audit.png").write_bytes(PNG_MAGIC)
    assert "![Audit](audit.png)" in write_report(run).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "content, match",
    [
        (None, "not found"),
        ("{not json", "not valid JSON"),
        (json.dumps([1, 2]), "top level"),
        (json.dumps({"version": "x"}), "arms"),
        (json.dumps({"arms": []}), "arms"),
        (json.dumps({"arms": {}}), "empty"),
        (json.dumps({"arms": {"a": 3}}), "arms.a"),
        (json.dumps({"arms": {"a": {"asr/unsafes": "high"}}}), "expected a number"),
        (json.dumps({"arms": {"a": {"asr/unsafes": 64.0}}}), "fraction"),
        (json.dumps({"arms": {"a": {"ci/asr/unsafes": [0.1]}}}), "lo, hi"),
        (json.dumps({"arms": {"a": {}}, "arm_words": {"a": "What"}}), "arm_words"),
    ],
)
def test_malformed_results(tmp_path: Path, content: str | None, match: str) -> None:
    run = tmp_path / "run"
    run.mkdir()
    if content is not None:
        (run / "results.json").write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=match):
        write_report(run)


def test_missing_run_dir(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        write_report(tmp_path / "nope")


def test_malformed_audit(tmp_path: Path) -> None:
    run = _write(tmp_path / "run", _results(), {"groups": [1]})
    with pytest.raises(DataError, match="groups"):
        write_report(run)


def test_breakdown_by_category(tmp_path: Path) -> None:
    results = _results()
    arm = next(iter(results["arms"]))
    results["arms"][arm]["rr/safe_safes@rewrite[object]"] = 0.672
    results["arms"][arm]["rr/safe_safes@rewrite[fact]"] = 0.0
    md = write_report(_write(tmp_path / "run", results)).read_text()
    rows = _table(md, "## By category")
    row = _row(rows, arm)
    assert row["`rr/safe_safes@rewrite[object]`"] == "67.2"
    assert row["`rr/safe_safes@rewrite[fact]`"] == "0.0"
    assert "## By category" not in write_report(_write(tmp_path / "plain", _results())).read_text()


def test_arms_measured_with_other_words_are_flagged(tmp_path: Path) -> None:
    results = _results()
    words = results["words"]
    results["arm_words"] = {"sft_posthoc": dict(words), "forget_x": dict(words)}
    md = write_report(_write(tmp_path / "same", results)).read_text(encoding="utf-8")
    assert "Measured with other words" not in md
    results["arm_words"]["forget_x"] = {**words, "refusal": "Describe"}  # a rerun changed the words, not this arm
    md = write_report(_write(tmp_path / "mixed", results)).read_text(encoding="utf-8")
    (line,) = [ln for ln in md.splitlines() if ln.startswith("Measured with other words")]
    assert "**forget_x** (What / Describe / Kindly, K = 3)" in line and "sft_posthoc" not in line


def test_the_headline_table_states_each_gap_with_its_interval_and_over_seeds():
    from unmirage.eval.multiseed import seed_gaps
    from unmirage.report.tables import headline_table

    one = {"asr_attack": {"sft_posthoc-npo": {"gap": 0.625, "ci": [0.5, 0.75], "n": 128}},
           "rr_rewrite": {"sft_posthoc-npo": {"gap": 0.9, "ci": [0.85, 0.95], "n": 96}}}
    table = headline_table({"arms": {}, "headline": one})
    assert "| ASR cut under the one-word attack | sft_posthoc | npo | +62.5 [+50.0, +75.0] | 128 |" in table
    assert "+90.0 [+85.0, +95.0]" in table
    assert headline_table({"arms": {}}) is None
    dashed = {"asr_attack": {"sft-a-npo": {"sft": "sft-a", "mu": "npo", "gap": 0.5, "ci": [0.4, 0.6], "n": 8}}}
    assert "| sft-a | npo | +50.0 [+40.0, +60.0] | 8 |" in headline_table({"arms": {}, "headline": dashed})
    other = {"asr_attack": {"sft_posthoc-npo": {"gap": 0.375, "ci": [0.25, 0.5], "n": 128}}}
    seeds = seed_gaps([one, other])
    assert set(seeds) == {"asr_attack"}  # a gap counts only where every seed has it
    g = seeds["asr_attack"]["sft_posthoc-npo"]
    assert g["mean"] == 0.5 and g["values"] == [0.625, 0.375] and round(g["std"], 4) == 0.1768
    assert "+50.0 ± 17.7" in headline_table({"arms": {}, "seeds": [0, 1], "headline": seeds})
