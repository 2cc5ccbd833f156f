"""Wall time and peak memory of `unmirage run` (default config unless arguments are given).

Usage: python bench/study_time.py [CONFIG] [--set key=value ...]
Prints the total time, the per-arm times from results.json, and the peak resident memory of
the run (its process tree), against the budget of 10 minutes and 4 GB on 2 CPU cores and the
goal of 5 minutes; per arm, its training time (train_log.json) and the rest (evaluation).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from unmirage.results import read_results

BUDGET_S, BUDGET_GB, GOAL_S = 600, 4.0, 300


def main() -> None:
    out = Path(tempfile.mkdtemp(prefix="unmirage-bench-"))
    cmd = [sys.executable, "-m", "unmirage.cli", "run", *sys.argv[1:], "--quiet", "--set", f"out_dir={out}",
           "--set", "name=bench"]
    started = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.time() - started
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2  # KiB on Linux
    results = read_results(out / "bench")
    print(f"run dir        {out / 'bench'}")
    print(f"wall time      {wall:7.1f} s   ({wall / BUDGET_S:.2f} of the {BUDGET_S} s budget, "
          f"{wall / GOAL_S:.2f} of the {GOAL_S} s goal)")
    print(f"peak memory    {peak_gb:7.2f} GB  ({peak_gb / BUDGET_GB:.2f} of the {BUDGET_GB} GB budget)")
    for arm, seconds in results.get("timings", {}).items():
        log = out / "bench" / "models" / arm / "train_log.json"
        train = json.loads(log.read_text())["seconds"] if log.is_file() else 0.0
        print(f"  {arm:12s} {seconds:7.1f} s: train {train:6.1f} s, evaluate {seconds - train:6.1f} s")


if __name__ == "__main__":
    main()
