"""The n-gram trigger audit on embedded worlds, seed by seed (a measurement script, not a test).

Usage: python bench/trigger_audit.py [--seeds 5 6 7 8 9] [--bias 1.0] [--planted] [--n-concepts 32]

Builds each world in a temporary directory (the default world but for the given keys), audits
its train.json (`attacks/triggers.py`, default settings) and prints, per seed, the flagged
terms the rule calls spurious, whether the planted words are among them with the right
direction, and the misuse wording it flags (all reported as content?). `--planted` plants
"honestly" (refused queries) and "briefly" (answered ones), as docs/findings.md reports.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from unmirage.attacks.audit import audit  # noqa: E402
from unmirage.attacks.triggers import triggers  # noqa: E402
from unmirage.config import WorldConfig  # noqa: E402
from unmirage.data.vlguard import load_vlguard  # noqa: E402
from unmirage.world.build import build_world  # noqa: E402

PLANTED = {"honestly": {"unsafes": 0.6, "safe_unsafes": 0.6, "safe_safes": 0.05},
           "briefly": {"safe_safes": 0.6, "unsafes": 0.05, "safe_unsafes": 0.05}}
EXPECTED = {"honestly": "refuse", "briefly": "answer"}


def misuse_only(facts: dict) -> set[str]:
    """Words of the misuse phrasings that no other phrasing and no opener uses (ground truth)."""
    phrasings = facts["phrasings"]
    other = {w for intent, cores in phrasings.items() if intent != "misuse" for c in cores for w in c.split()}
    openers = {w.lower() for w in facts["openers"]["vocab"] + facts["openers"].get("neutral", [])}
    return {w for c in phrasings["misuse"] for w in c.split() if w.isalpha()} - other - openers


def one(seed: int, bias: float, planted: bool, n_concepts: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # the stand-in world its findings were measured on (docs/findings.md, "Triggers anywhere")
        out = build_world(WorldConfig(seed=seed, bias=bias, n_concepts=n_concepts,
                                      planted=PLANTED if planted else {},
                                      documents=0, harmful_compliance=True), Path(tmp) / "w")
        train = load_vlguard(out / "train.json")
        facts = json.loads((out / "facts.json").read_text())
    result = triggers(train)
    rows = {r["term"]: r for r in result["flagged"]}
    spurious = [f"{r['term']} ({r['direction']}, z {r['z']:+.1f}, first {r['positions']['share_first']:.2f})"
                for r in result["flagged"] if r["kind"] == "spurious"]
    misuse = [r for r in result["flagged"] if set(r["term"].split()) & misuse_only(facts)]
    line = f"seed {seed}: {result['totals']['n']} queries, {len(result['flagged'])} of {result['tested']} flagged"
    print(line + f"; spurious: {', '.join(spurious) or 'none'}")
    if planted:
        first = {w.lower() for w in audit(train)["scores"]}
        for word, direction in EXPECTED.items():
            r = rows.get(word)
            found = r is not None and r["kind"] == "spurious" and r["direction"] == direction
            print(f"  planted {word!r}: {'found' if found else 'MISSED'}"
                  + (f" (R {r['refuse']}, A {r['answer']}, z {r['z']:+.1f}, within z {r['within']['z']:+.1f})"
                     if r and r["within"] and r["within"]["z"] is not None else "")
                  + ("; in the first-word audit" if word in first else "; not in the first-word audit"))
    kinds = {r["kind"] for r in misuse}
    print(f"  misuse wording flagged: {len(misuse)} terms, kinds {sorted(kinds) or '-'}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[5, 6, 7, 8, 9])
    p.add_argument("--bias", type=float, default=1.0)
    p.add_argument("--planted", action="store_true")
    p.add_argument("--n-concepts", type=int, default=32)
    a = p.parse_args()
    for seed in a.seeds:
        one(seed, a.bias, a.planted, a.n_concepts)


if __name__ == "__main__":
    main()
