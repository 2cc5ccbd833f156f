"""Report stage: read a run directory's `results.json` (and `audit.json`), write `report.md` and figures.

It reads files only; it never imports the stages that produced them.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import DataError
from ..io import write_text_atomic
from ..results import read_results
from .figures import decomposition_figure, depth_figure, main_figure, tradeoff_figure
from .markdown import render_markdown, render_seed_markdown, summary_markdown
from .tables import load_audit

__all__ = ["write_report", "render_markdown", "summary", "load_audit"]

log = logging.getLogger(__name__)


def write_report(run_dir: str | Path) -> Path:
    """Write `report.md`, `main.png` and `decomposition.png` into `run_dir`; return the path of report.md.

    Raises DataError when `run_dir` or its `results.json` is missing or malformed.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: run directory not found")
    results = read_results(run_dir)
    if "seeds" in results:
        return write_seed_report(run_dir, results)
    audit = load_audit(run_dir)
    figures = {
        "ASR before/after the attack, RR before/after the rewrite, utility": main_figure(results, run_dir / "main.png").name,
        "Decomposition ASR / IR / RR before and after the attack": decomposition_figure(results, run_dir / "decomposition.png").name,
    }
    if depth := depth_figure(results, run_dir / "depth.png"):
        figures["Alignment depth: KL to the base at each position of a harmful answer"] = depth.name
    text = render_markdown(results, audit, run_dir.resolve().name, figures, (run_dir / "audit.png").is_file())
    path = run_dir / "report.md"
    write_text_atomic(path, text)
    log.info("wrote %s", path)
    return path


def summary(run_dir: str | Path) -> str:
    """What `unmirage run` prints when it is done: the words and the main table (the mean ± std
    table of a multi-seed study)."""
    return summary_markdown(read_results(run_dir))


def write_seed_report(run_dir: Path, results: dict) -> Path:
    """The report of a multi-seed study: `report.md` and `tradeoff.png` in its root directory."""
    figure = tradeoff_figure(results, run_dir / "tradeoff.png").name
    path = run_dir / "report.md"
    per_seed = {}
    for seed, rel in (results.get("runs") or {}).items():
        if (run_dir / rel / "results.json").is_file():
            per_seed[int(seed)] = read_results(run_dir / rel)
    depth = depth_figure(results, run_dir / "depth.png")
    write_text_atomic(path, render_seed_markdown(results, figure, per_seed, depth.name if depth else None))
    log.info("wrote %s", path)
    return path
