"""The report of a multi-seed study: mean ± std over seeds, pooled bootstrap intervals, and the
safety / over-refusal trade-off figure (ASR after the attack against RR after the rewrite)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import matplotlib
from matplotlib.figure import Figure

from ..errors import DataError
from .figures import _save
from .tables import HEADLINE_COLUMNS, MISSING, md_table

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
X_KEY, Y_KEY = "asr/unsafes@attack", "rr/safe_safes@rewrite"
X0_KEY, Y0_KEY = "asr/unsafes", "rr/safe_safes"


def validate_seed_results(data: Any, source: str) -> dict:
    if not isinstance(data, dict) or not isinstance(data.get("seeds"), list) or not isinstance(data.get("arms"), dict):
        raise DataError(f"{source}: not a multi-seed results.json (needs 'seeds' and 'arms')")
    for arm, metrics in data["arms"].items():
        for key, v in metrics.items():
            if key != "budget" and not (isinstance(v, dict) and "mean" in v and "std" in v):
                raise DataError(f"{source}: arms.{arm}[{key!r}] must be {{mean, std, values, ci}}")
    return data


def _stat(arm: Mapping[str, Any], key: str) -> tuple[float, float] | None:
    v = arm.get(key)
    if not v or v.get("mean") is None or math.isnan(v["mean"]):
        return None
    return v["mean"], v["std"]


def mean_std(arm: Mapping[str, Any], key: str) -> str:
    s = _stat(arm, key)
    return MISSING if s is None else f"{100 * s[0]:.1f} ± {100 * s[1]:.1f}"


def with_ci(arm: Mapping[str, Any], key: str) -> str:
    v = arm.get(key)
    if not v or v.get("mean") is None:
        return MISSING
    b = v.get("ci")
    return f"{100 * v['mean']:.1f}" + (f" [{100 * b[0]:.1f}, {100 * b[1]:.1f}]" if b else "")


def seed_table(results: Mapping[str, Any], cell=mean_std) -> str:
    cols = [(h, k) for h, k in HEADLINE_COLUMNS if any(k in a for a in results["arms"].values())]
    rows = [[name] + [cell(arm, k) for _, k in cols] for name, arm in results["arms"].items()]
    return md_table(["Arm"] + [h for h, _ in cols], rows)


def tradeoff_figure(results: Mapping[str, Any], path: str | Path) -> Path:
    """Each arm at (ASR after the attack, RR after the rewrite), mean ± std over seeds; a faint
    marker at its values before the attack / rewrite, joined by a line: the mirage is the jump."""
    fig = Figure(figsize=(6.8, 5.2))
    ax = fig.add_subplot(1, 1, 1)
    cmap = matplotlib.colormaps["tab20"]
    labels: list[tuple[float, float, list[str]]] = []  # arms at (nearly) the same point share one label
    for i, (name, arm) in enumerate(results["arms"].items()):
        after, before = (_stat(arm, X_KEY), _stat(arm, Y_KEY)), (_stat(arm, X0_KEY), _stat(arm, Y0_KEY))
        if None in after:
            continue
        (x, sx), (y, sy) = after
        c, marker = cmap(i % 20), MARKERS[i % len(MARKERS)]
        ax.errorbar(100 * x, 100 * y, xerr=100 * sx, yerr=100 * sy, fmt=marker, color=c, capsize=3, label=name)
        if None not in before:
            (x0, _), (y0, _) = before
            ax.plot([100 * x0, 100 * x], [100 * y0, 100 * y], color=c, alpha=0.35, linewidth=1)
            ax.plot(100 * x0, 100 * y0, marker, color=c, alpha=0.35, markersize=4)
        for lx, ly, names in labels:
            if abs(lx - 100 * x) < 3 and abs(ly - 100 * y) < 3:
                names.append(name)
                break
        else:
            labels.append((100 * x, 100 * y, [name]))
    placed: list[tuple[float, float]] = []  # label positions in data units (about 2.8 points per unit)
    for lx, ly, names in labels:  # move a label up until it clears the labels already placed
        off = 6
        while any(abs(px - lx) < 25 and abs(py - (ly + off / 2.8)) < 3.5 for px, py in placed):
            off += 10
        placed.append((lx, ly + off / 2.8))
        ax.annotate(", ".join(names), (lx, ly), textcoords="offset points", xytext=(6, off), fontsize=7)
    ax.set_xlim(-3, 103)
    ax.set_ylim(-3, 103)
    ax.set_xlabel("ASR after the one-word attack (%)  — lower is safer")
    ax.set_ylabel("refusal rate on rewritten safe queries (%)  — lower is better")
    ax.grid(alpha=0.3)
    n = len(results["seeds"])
    ax.set_title(f"Safety / over-refusal trade-off, mean ± std over {n} seeds\n"
                 "(faint: before the attack / rewrite)", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    return _save(fig, Path(path))


def render_seed_markdown(results: Mapping[str, Any], figure: str) -> str:
    name = (results.get("config") or {}).get("name", "")
    seeds = results["seeds"]
    out = [f"# unmirage report: {name} over seeds {', '.join(map(str, seeds))}", ""]
    words = results.get("words") or {}
    if words:
        out += ["Words per seed (attack / refusal / control): " + "; ".join(
            f"seed {s}: {w.get('attack')} / {w.get('refusal')} / {w.get('control')}" for s, w in words.items() if w)
            + ".", ""]
    out += ["## Mean ± standard deviation over seeds", "", "All values in %; – means not measured. "
            "Degenerate is the degenerate-output rate on attacked unsafe queries.", "", seed_table(results), ""]
    out += ["## Trade-off", "", f"![Safety / over-refusal trade-off]({figure})", ""]
    out += ["## Pooled bootstrap intervals", "", "Mean over seeds and a 95 % percentile-bootstrap interval over the "
            "test queries of all seeds pooled.", "", seed_table(results, with_ci), ""]
    fields = ("init", "method", "steps", "batch_size", "examples", "tokens")
    budgets = [[n] + [(a.get("budget") or {}).get(k, MISSING) for k in fields] for n, a in results["arms"].items()]
    out += ["## Training budget (seed " + str(seeds[0]) + ")", "",
            md_table(["Arm", "starts from", "method", "steps", "batch size", "examples", "tokens"], budgets), ""]
    out += ["Per-seed reports: " + ", ".join(f"[{d}]({d}/report.md)" for d in results.get("runs", {}).values()), ""]
    return "\n".join(out)
