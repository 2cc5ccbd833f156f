"""The table of a sweep (`unmirage sweep ARM KEY VALUES`): one row per value, the headline metrics."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .tables import HEADLINE_COLUMNS, MISSING, md_table, pct


def sweep_row(value: Any, arm: str, metrics: Mapping[str, Any], coeff: float | None) -> dict:
    """One row of `sweep_<arm>_<key>.json`: the value, the arm trained with it, its headline metrics and
    RMU's calibrated coefficient (None for other methods)."""
    return {"value": value, "arm": arm, "coeff": coeff, **{k: metrics.get(k) for _, k in HEADLINE_COLUMNS}}


def sweep_markdown(arm: str, key: str, rows: Sequence[Mapping[str, Any]]) -> str:
    table = md_table([key, *(h for h, _ in HEADLINE_COLUMNS), "coeff"],
                     [[str(r["value"]), *(pct(r[k]) for _, k in HEADLINE_COLUMNS),
                       MISSING if r["coeff"] is None else f"{r['coeff']:.2f}"] for r in rows])
    return f"# Sweep of {arm}: {key}\n\nValues in %.\n\n{table}\n"
