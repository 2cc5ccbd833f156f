"""A world's data directory whose general retain data also asks with the forget set's openers.

Usage: python bench/reopen_retain.py WORLD OUT [--seed N]

A diagnostic of the unlearning arms' opener binding (docs/findings.md, "RMU binds to the openers
only its forget set uses"). In world v2 the forget set's queries start with the safety set's
unsafe openers ("Share", "Describe", ...), most of which no retained query starts with. OUT is
WORLD (its files copied, its images linked) with each general retain query that opens with an
answered-group word ("What", "Can", ...) re-opened with one of those forget-only openers, drawn
in proportion to their forget counts; its answer's opening follows the word, as the world's own
answers do (`facts.json` holds every opener's opening). The unseen and neutral openers' queries
and the safety set's own safe queries are kept. Nothing else changes, so an arm trained on OUT
(with `data_dir: OUT`, starting from WORLD's base) differs from the study's only in its retain
data. Prints each forget opener's uses in the forget and the retain set, before and after.
"""

from __future__ import annotations

import argparse
import random
import shutil
from collections import Counter
from pathlib import Path

from unmirage.data.layout import FORGET, IMAGES, RETAIN, DataDir
from unmirage.data.samples_io import write_samples
from unmirage.world.build import reopen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("world", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=0, help="seeds which general queries get which opener")
    args = ap.parse_args()
    data = DataDir(args.world)
    facts = data.facts()
    if not facts or "openings" not in facts.get("openers", {}):
        raise SystemExit(f"{args.world} holds no facts.json with the openers' openings: give a world v2's data directory")
    openers = facts["openers"]
    openings, kept = openers["openings"], set(openers.get("neutral", [])) | set(openers.get("unseen", []))
    forget, retain = data.read(FORGET), data.read(RETAIN)
    if args.out.exists():
        raise SystemExit(f"{args.out} exists; give a new directory")
    args.out.mkdir(parents=True)
    for f in args.world.iterdir():
        if f.name == IMAGES:
            (args.out / IMAGES).symlink_to(f.resolve())
        elif f.is_file() and f.name != RETAIN:
            shutil.copy(f, args.out / f.name)
    in_forget, in_retain = Counter(s.first_word for s in forget), Counter(s.first_word for s in retain)
    words = sorted(w for w in in_forget if not in_retain[w])
    if not words:
        raise SystemExit("every opener of the forget set is in the retain set already")
    rng, out = random.Random(args.seed), []
    for s in retain:
        if s.id.startswith("general") and s.first_word not in kept:
            s = reopen(s, rng.choices(words, [in_forget[x] for x in words])[0], openings)
        out.append(s)
    write_samples(args.out / RETAIN, out)
    after = Counter(s.first_word for s in out)
    print(f"{args.out}: {sum(a != b for a, b in zip(retain, out))} of {len(retain)} retain queries re-opened")
    print(f"  {'opener':10s} {'forget':>6s} {'retain':>6s} {'after':>6s}")
    for w in sorted(in_forget, key=lambda w: -in_forget[w]):
        print(f"  {w:10s} {in_forget[w]:6d} {in_retain[w]:6d} {after[w]:6d}")


if __name__ == "__main__":
    main()
