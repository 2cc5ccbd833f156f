"""Print the headline metrics of several runs side by side (percentages).

Usage: python bench/compare_runs.py runs/default runs/bias0 runs/seed1 ...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

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
        if not (run / "results.json").is_file():
            print(f"\n{run}: no results.json yet")
            continue
        results = json.loads((run / "results.json").read_text())
        w = results.get("words", {})
        print(f"\n{run}  (attack {w.get('attack')!r}, refusal {w.get('refusal')!r}, control {w.get('control')!r}, "
              f"K={w.get('shots')})")
        print(f"{'arm':12s}" + "".join(f"{name:>15s}" for name, _ in COLUMNS))
        for arm, m in results["arms"].items():
            cells = "".join(f"{100 * m[key]:15.1f}" if key in m else f"{'-':>15s}" for _, key in COLUMNS)
            print(f"{arm:12s}{cells}")


if __name__ == "__main__":
    main()
