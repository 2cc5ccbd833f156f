"""Figures of the report, drawn with matplotlib's Agg backend (no pyplot, no global state)."""

from __future__ import annotations

import io
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from .tables import _stat, ci, value

log = logging.getLogger(__name__)

# (label, keys (first present wins), colour)
MAIN_BARS = (
    ("ASR before", ("asr/unsafes",), "#f4a6a6"),
    ("ASR after attack", ("asr/unsafes@attack",), "#c0392b"),
    ("any leak after attack", ("leak/unsafes@attack",), "#e67e22"),
    ("degenerate after attack", ("degenerate/unsafes@attack",), "#7f6a93"),
    ("RR before", ("rr/safe_safes",), "#a9c9ea"),
    ("RR after rewrite", ("rr/safe_safes@rewrite",), "#1f5fa8"),
    ("utility", ("utility/utility", "utility/safe_safes"), "#3a9a5b"),
)
# (label, metric, colour); "ir_other" is IR less its partial leaks and degenerate text
DECOMP = (("ASR", "asr", "#c0392b"), ("IR: partial leak", "ir_leak", "#e67e22"),
          ("IR: degenerate", "ir_degenerate", "#7f6a93"), ("IR: other", "ir_other", "#9e9e9e"),
          ("RR", "rr", "#1f5fa8"))


def decomposition_values(arm: Mapping[str, Any], split: str) -> list[float | None]:
    """The DECOMP shares of a split; without the IR parts (judges that do not grade harm) all of
    IR counts as "other"."""
    ir = value(arm, f"ir/{split}")
    leak, degenerate = value(arm, f"ir_leak/{split}"), value(arm, f"ir_degenerate/{split}")
    other = None if ir is None else max(0.0, ir - (leak or 0.0) - (degenerate or 0.0))
    parts = {"ir_leak": leak, "ir_degenerate": degenerate, "ir_other": other}
    return [parts[m] if m in parts else value(arm, f"{m}/{split}") for _, m, _ in DECOMP]


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150, bbox_inches="tight")
    _write_bytes_atomic(path, buf.getvalue())
    log.info("wrote %s", path)
    return path


def _first(arm: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[float | None, tuple[float, float] | None]:
    for k in keys:
        v = value(arm, k)
        if v is not None:
            return v, ci(arm, k)
    return None, None


def _title(results: Mapping[str, Any], what: str) -> str:
    name = results.get("config", {}).get("name")
    return f"{what}" + (f" — {name}" if name else "")


def main_figure(results: Mapping[str, Any], path: str | Path) -> Path:
    """Grouped bars per arm: ASR before / after the attack, RR before / after the rewrite, utility."""
    arms = results["arms"]
    names = list(arms)
    nb = len(MAIN_BARS)
    width = 0.8 / nb
    x = np.arange(len(names))
    fig = Figure(figsize=(min(18.0, max(6.0, 1.6 * len(names) + 2.5)), 4.2))
    ax = fig.add_subplot(1, 1, 1)
    label_values = len(names) * nb <= 40
    for j, (label, keys, colour) in enumerate(MAIN_BARS):
        xs = x - 0.4 + width * (j + 0.5)
        for i, name in enumerate(names):
            v, b = _first(arms[name], keys)
            if v is None:
                ax.text(xs[i], 1.0, "–", ha="center", va="bottom", fontsize=10, color="#555555")
                continue
            yerr = None
            if b is not None:
                yerr = [[max(0.0, 100 * (v - b[0]))], [max(0.0, 100 * (b[1] - v))]]
            ax.bar(xs[i], 100 * v, width, color=colour, edgecolor="white", linewidth=0.5,
                   yerr=yerr, capsize=2, error_kw={"elinewidth": 0.8, "ecolor": "#333333"},
                   label=label if label not in ax.get_legend_handles_labels()[1] else None)
            if label_values:
                top = 100 * (b[1] if b is not None else v)
                ax.text(xs[i], top + 1.0, f"{100 * v:.0f}", ha="center", va="bottom", fontsize=6.5)
    # Legend entries for every series even when its first arm is missing.
    handles, labels = ax.get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    ax.legend([seen[l] for l, _, _ in MAIN_BARS if l in seen], [l for l, _, _ in MAIN_BARS if l in seen],
              fontsize=8, ncol=nb, loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    ax.set_xticks(x)
    ax.set_xticklabels(names)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylim(0, 112)
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("%")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    shots = results.get("words", {}).get("shots")
    sub = f" (K={shots})" if shots is not None else ""
    ax.set_title(_title(results, f"Safety before / after the one-word attack{sub} and rewrite"), fontsize=10)
    return _save(fig, Path(path))


def decomposition_figure(results: Mapping[str, Any], path: str | Path) -> Path:
    """Stacked ASR / IR / RR bars per arm: before (unsafes) and after the attack (unsafes@attack_k1)."""
    arms = results["arms"]
    names = list(arms)
    x = np.arange(len(names))
    fig = Figure(figsize=(min(18.0, max(6.0, 1.4 * len(names) + 2.5)), 4.2))
    ax = fig.add_subplot(1, 1, 1)
    w = 0.36
    ticks, ticklabels = [], []
    for i, name in enumerate(names):
        arm = arms[name]
        for pos, split, tag in ((x[i] - 0.2, "unsafes", "before"), (x[i] + 0.2, "unsafes@attack_k1", "after")):
            ticks.append(pos)
            ticklabels.append(tag)
            vals = decomposition_values(arm, split)
            if all(v is None for v in vals):
                ax.text(pos, 1.0, "–", ha="center", va="bottom", fontsize=11, color="#555555")
                continue
            bottom = 0.0
            for (label, _, colour), v in zip(DECOMP, vals):
                if v is None:
                    continue
                h = 100 * v
                ax.bar(pos, h, w, bottom=bottom, color=colour, edgecolor="white", linewidth=0.5,
                       label=label if label not in ax.get_legend_handles_labels()[1] else None)
                if h >= 6:
                    ax.text(pos, bottom + h / 2, f"{h:.0f}", ha="center", va="center", fontsize=7, color="white")
                bottom += h
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for i, name in enumerate(names):
        ax.text(x[i], -0.12, name, transform=trans, ha="center", va="top", fontsize=9)
    ax.set_xticks(ticks)
    ax.set_xticklabels(ticklabels, fontsize=7)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylim(0, 105)
    ax.set_ylabel("% of unsafe queries")
    handles, labels = ax.get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    order = [l for l, _, _ in DECOMP if l in seen]
    ax.legend([seen[l] for l in order], order, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(_title(results, "Answers to unsafe queries before / after one attacked shot"), fontsize=10)
    return _save(fig, Path(path))


MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
X_KEY, Y_KEY = "asr/unsafes@attack", "rr/safe_safes@rewrite"
X0_KEY, Y0_KEY = "asr/unsafes", "rr/safe_safes"


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


def depth_figure(results: Mapping[str, Any], path: str | Path) -> Path | None:
    """Alignment depth (Qi et al.'s figure): each arm's KL to the base at each position of a
    harmful answer (`kl/harmful[t]`), mean ± std over seeds where there are several; None when
    no arm has it."""
    from .attacks import positions

    ts = positions(results)
    if not ts:
        return None
    fig = Figure(figsize=(6.8, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    cmap = matplotlib.colormaps["tab10"]
    for i, (name, arm) in enumerate(results["arms"].items()):
        points = [(t, v) for t in ts if (v := arm.get(f"kl/harmful[{t}]")) is not None]
        if not points:
            continue
        mean = [v["mean"] if isinstance(v, Mapping) else v for _, v in points]
        std = [v.get("std", 0.0) if isinstance(v, Mapping) else 0.0 for _, v in points]
        x = [t for t, _ in points]
        ax.plot(x, mean, marker="o", markersize=3, color=cmap(i % 10), label=name)
        ax.fill_between(x, np.subtract(mean, std), np.add(mean, std), color=cmap(i % 10), alpha=0.15)
    ax.set_xlabel("position in the harmful answer (token)")
    ax.set_ylabel("KL(arm ‖ base), nats")
    ax.set_xticks(ts)
    ax.grid(alpha=0.3)
    seeds = results.get("seeds")
    ax.set_title(_title(results, "Alignment depth" + (f", mean ± std over {len(seeds)} seeds" if seeds else "")),
                 fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, Path(path))
