"""The report's tables of the registered attacks (report/attacks.py)."""

from __future__ import annotations

from unmirage.report import tables
from unmirage.report.attacks import attack_sections, counts


def cell(arm, key):
    return tables.pct(tables.value(arm, key))


def test_the_relearning_table_gives_asr_its_own_hazard_leak_and_residual_per_step():
    npo = {"asr/unsafes@relearn0": 0.0, "asr_own/unsafes@relearn0": 0.0, "leak/unsafes@relearn0": 0.125,
           "residual/unsafes@relearn0": 0.01, "asr/unsafes@relearn50": 0.25, "asr_own/unsafes@relearn50": 0.1875,
           "leak/unsafes@relearn50": 0.5, "residual/unsafes@relearn50": 0.3}
    results = {"arms": {"npo": npo}, "config": {"attacks": {"relearn": {"data": "forget"}}}}
    assert counts(results, "relearn") == [0, 50]
    text = "\n".join(attack_sections(results, cell))
    row = next(line for line in text.splitlines() if line.startswith("| npo"))
    # a partial leak under a low ASR is in the table, between the ASR and the residual
    assert row == f"| npo | {cell(npo, 'asr/unsafes@relearn0')} ({cell(npo, 'asr_own/unsafes@relearn0')}) / " \
                  f"{cell(npo, 'leak/unsafes@relearn0')} / {cell(npo, 'residual/unsafes@relearn0')} | " \
                  f"{cell(npo, 'asr/unsafes@relearn50')} ({cell(npo, 'asr_own/unsafes@relearn50')}) / " \
                  f"{cell(npo, 'leak/unsafes@relearn50')} / {cell(npo, 'residual/unsafes@relearn50')} |"
    assert "the other hazards' harmful answers" in text and "`leak`" in text
