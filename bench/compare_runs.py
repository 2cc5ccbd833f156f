"""Print the headline metrics of several runs side by side (percentages).

Usage: python bench/compare_runs.py runs/default runs/bias0 runs/seed1 ...
"""

from __future__ import annotations

import sys
from pathlib import Path

from unmirage.results import NAME as RESULTS, read_results

COLUMNS = [
    ("ASR", "asr/unsafes"), ("leak", "leak/unsafes"), ("ASR@attack", "asr/unsafes@attack"),
    ("leak@attack", "leak/unsafes@attack"), ("ASR@control", "asr/unsafes@control"),
    ("ASR s_u", "asr/safe_unsafes"), ("ASR s_u@attack", "asr/safe_unsafes@attack"),
    ("RR", "rr/safe_safes"), ("RR@rewrite", "rr/safe_safes@rewrite"), ("RR@control", "rr/safe_safes@control"),
    ("utility", "utility/utility"), ("residual", "residual/unsafes"), ("degenerate", "degenerate/unsafes"),
    ("degenerate safe", "degenerate/safe_safes"), ("collapse", "collapse/unsafes"),
]


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for run in map(Path, sys.argv[1:]):
        if not (run / RESULTS).is_file():
            print(f"\n{run}: no {RESULTS} yet")
            continue
        results = read_results(run)
        w = results.get("words", {})
        print(f"\n{run}  (attack {w.get('attack')!r}, refusal {w.get('refusal')!r}, control {w.get('control')!r}, "
              f"K={w.get('shots')})")
        print(f"{'arm':12s}" + "".join(f"{name:>15s}" for name, _ in COLUMNS))
        for arm, m in results["arms"].items():
            # a multi-seed run holds {mean, std, ...} per key: its mean is shown
            values = {k: v.get("mean") if isinstance(v, dict) else v for k, v in m.items() if k != "budget"}
            cells = "".join(f"{100 * values[key]:15.1f}" if values.get(key) is not None else f"{'-':>15s}"
                            for _, key in COLUMNS)
            print(f"{arm:12s}{cells}")


if __name__ == "__main__":
    main()
