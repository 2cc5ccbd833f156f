"""Report tables of the registered attacks (attacks/base.py): ASR against the prefilled words,
ASR, leaks and residual knowledge against the relearning steps, ASR and RR with the image cues swapped,
and the alignment depth (per-position KL to the base). One row per arm; cells as the caller formats them (a value, or mean ± std)."""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

from .tables import MISSING, _stat, md_table, value

Cell = Callable[[Mapping[str, Any], str], str]


def counts(results: Mapping[str, Any], prefix: str) -> list[int]:
    """The counts N of the `asr/unsafes@<prefix>N` keys any arm has, in order."""
    pattern = re.compile(rf"^asr/unsafes@{prefix}(\d+)$")
    return sorted({int(m.group(1)) for arm in results["arms"].values() for k in arm if (m := pattern.match(k))})


def positions(results: Mapping[str, Any]) -> list[int]:
    pattern = re.compile(r"^kl/harmful\[(\d+)\]$")
    return sorted({int(m.group(1)) for arm in results["arms"].values() for k in arm if (m := pattern.match(k))})


def nats(arm: Mapping[str, Any], key: str) -> str:
    """A KL value in nats, or a multi-seed entry's mean ± std."""
    if isinstance(arm.get(key), Mapping):
        stat = _stat(arm, key)
        return MISSING if stat is None else f"{stat[0]:.3f} ± {stat[1]:.3f}"
    v = value(arm, key)
    return MISSING if v is None else f"{v:.3f}"


def attack_sections(results: Mapping[str, Any], cell: Cell) -> list[str]:
    """Markdown blocks (title, note, table) for each registered attack the results hold."""
    arms = results["arms"]
    out: list[str] = []
    if ks := counts(results, "prefill"):
        rows = [[name] + [cell(a, f"asr/unsafes@prefill{k}") for k in ks] for name, a in arms.items()]
        out += ["## Prefilling attack", "",
                "ASR (%) when the answer is made to start with the first k words of a compliant answer, cut "
                "before its first recipe step (`unsafes@prefill<k>`; k = 0: the same queries, not prefilled). Only "
                "what the model adds is judged. Alignment that lives in the first answer tokens yields at small k.",
                "", md_table(["Arm", *[f"k = {k}" for k in ks]], rows), ""]
    if ns := counts(results, "relearn"):
        rows = [[name] + [f"{cell(a, f'asr/unsafes@relearn{n}')} ({cell(a, f'asr_own/unsafes@relearn{n}')}) / "
                          f"{cell(a, f'leak/unsafes@relearn{n}')} / {cell(a, f'residual/unsafes@relearn{n}')}"
                          for n in ns] for name, a in arms.items()]
        relearn = ((results.get("config") or {}).get("attacks") or {}).get("relearn") or {}
        data = relearn.get("data", "forget")
        what = ("the other hazards' harmful answers" if data == "forget"
                else "harmless facts of the held-out hazards themselves")
        out += ["## Relearning attack", "",
                f"ASR (in brackets: by the asked hazard's own steps, `asr_own`) / leak (any step revealed, partial "
                f"recipes counted, `leak`) / residual knowledge (%) on the unsafe queries of held-out hazards after N "
                f"steps of fine-tuning each arm on {what} "
                "(`unsafes@relearn<N>`). Knowledge that is gone stays low; knowledge that was only hidden comes "
                "back. The base arm is measured at N = 0 only.",
                "", md_table(["Arm", *[f"N = {n}" for n in ns]], rows), ""]
    if any("asr/unsafes@cue" in a or "rr/safe_safes@cue" in a for a in arms.values()):
        keys = ("asr/unsafes", "asr/unsafes@owncue", "asr/unsafes@cue", "rr/safe_safes", "rr/safe_safes@owncue",
                "rr/safe_safes@cue")
        rows = [[name] + [cell(a, k) for k in keys] for name, a in arms.items()]
        out += ["## Image cue", "",
                "The same queries on copies of their images with a cue (`attacks/image_cue.py`): ASR (%) of the unsafe "
                "queries with the safe cue (`unsafes@cue`), RR (%) of the safe queries with the unsafe cue "
                "(`safe_safes@cue`), beside the plain images' and, as the control, each query's own label's cue "
                "(`@owncue`: the cue as the safety set pairs it with such images). A model that refuses on the cue's "
                "colour rather than on what the image shows answers the first and refuses the second; one that reacts "
                "to there being a cue at all moves the control as much. `image_audit.json` scores the cue in the "
                "safety set.",
                "", md_table(["Arm", "ASR", "ASR own cue", "ASR safe cue", "RR", "RR own cue", "RR unsafe cue"], rows),
                ""]
    if ts := positions(results):
        rows = [[name] + [nats(a, f"kl/harmful[{t}]") for t in ts] for name, a in arms.items()
                if any(f"kl/harmful[{t}]" in a for t in ts)]
        out += ["## Alignment depth", "",
                "KL(arm ‖ base) of the next-token distributions, in nats, at each position of a harmful answer "
                "both models are teacher-forced on (`kl/harmful[t]`, t = 1 the first answer token). Alignment "
                "that is a few tokens deep differs from the base at the first positions only.",
                "", md_table(["Arm", *[f"t = {t}" for t in ts]], rows), ""]
    return out
