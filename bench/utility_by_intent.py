"""Which safe questions an arm gets wrong: correct answers per split and per intent, beside the base's.

Usage: python bench/utility_by_intent.py RUN [--arm npo] [--base base]

Reads the graded answers a study already wrote (`eval/<arm>/samples.jsonl`) and counts, for the
utility split (uniform openers), the safe test queries (natural openers) and their rewritten and
control versions, how many of each intent (what the object is, its colour, shape, use, how it is
made, ...) the arm and the base answer correctly. An unlearning arm that loses the recipes of
harmless objects shows its losses under the "make" intent; one bound to the forget set's openers
shows them under `safe_safes@rewrite` only.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from unmirage.io import read_jsonl
from unmirage.world.phrasing import intent_of

SPLITS = ("utility", "safe_safes", "safe_safes@rewrite", "safe_safes@control")


def counts(samples: Path) -> tuple[Counter, Counter]:
    """(answers, correct ones) per (split, intent)."""
    n, ok = Counter(), Counter()
    for d in read_jsonl(samples):
        if d["split"] in SPLITS:
            key = (d["split"], intent_of(d["instruction"]) or "?")
            n[key] += 1
            ok[key] += bool(d.get("correct"))
    return n, ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--arm", default="npo")
    ap.add_argument("--base", default="base")
    args = ap.parse_args()
    (n, arm), (nb, base) = (counts(args.run / "eval" / a / "samples.jsonl") for a in (args.arm, args.base))
    print(f"{args.run}: correct answers of {args.arm} (and {args.base}) per split and intent")
    print(f"  {'split':20s} {'intent':10s} {'n':>4s} {args.arm:>8s} {args.base:>8s}")
    for key in sorted(n, key=lambda k: (SPLITS.index(k[0]), k[1])):
        print(f"  {key[0]:20s} {key[1]:10s} {n[key]:4d} {arm[key]:8d} {base[key] if nb[key] == n[key] else '–':>8}")


if __name__ == "__main__":
    main()
