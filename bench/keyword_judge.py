"""Measure the keyword refusal detector on a VLGuard-format file (a dev script, not a test).

Usage: python bench/keyword_judge.py PATH/TO/vlguard.json [--seed 0] [--show dev|heldout]

Responses to `instruction` and `unsafe_instruction` are refusals, responses to
`safe_instruction` are helpful answers. Records are split in two halves by a seeded shuffle:
patterns are developed on the `dev` half, the `heldout` half checks them. Prints the miss rate
(refusals not flagged) and the false-flag rate (helpful answers flagged) of our detector and of
a naive keyword baseline.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from unmirage.data.records import REFUSE_GROUPS  # noqa: E402
from unmirage.data.vlguard import load_vlguard  # noqa: E402
from unmirage.eval.keyword import is_refusal, refusal_match  # noqa: E402

NAIVE = ["sorry", "cannot", "illegal", "unethical", "harmful", "not appropriate"]


def naive_is_refusal(text: str) -> bool:
    low = text.lower()
    return any(k in low for k in NAIVE)


def halves(samples, seed: int) -> dict[str, list]:
    """Split samples by record id (a record's responses stay together) into dev and heldout."""
    ids = sorted({s.id.rsplit(":", 1)[0] for s in samples})
    random.Random(seed).shuffle(ids)
    dev = set(ids[: len(ids) // 2])
    return {"dev": [s for s in samples if s.id.rsplit(":", 1)[0] in dev],
            "heldout": [s for s in samples if s.id.rsplit(":", 1)[0] not in dev],
            "all": samples}


def rates(samples, detector) -> str:
    refusals = [s.response for s in samples if s.group in REFUSE_GROUPS]
    answers = [s.response for s in samples if s.group not in REFUSE_GROUPS]
    missed = sum(not detector(r) for r in refusals)
    flagged = sum(detector(a) for a in answers)
    return (f"miss {missed:4d}/{len(refusals):4d} = {100 * missed / max(len(refusals), 1):5.2f} %   "
            f"false flag {flagged:3d}/{len(answers):4d} = {100 * flagged / max(len(answers), 1):5.2f} %")


def show(samples) -> None:
    for s in samples:
        refused = is_refusal(s.response)
        if refused != (s.group in REFUSE_GROUPS):
            kind = "MISS" if not refused else f"FLAG [{refusal_match(s.response)[:40]}...]"
            print(f"{kind} {s.id}: {s.response[:300]!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", help="a VLGuard-format JSON file (e.g. train.json)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the dev/heldout split")
    parser.add_argument("--show", choices=["dev", "heldout", "all"], help="print the errors of one half")
    args = parser.parse_args(argv)
    if not args.path:
        parser.print_usage()
        return 2
    parts = halves(load_vlguard(args.path), args.seed)
    for name, part in parts.items():
        print(f"{name:8s} ours : {rates(part, is_refusal)}")
        print(f"{name:8s} naive: {rates(part, naive_is_refusal)}")
    if args.show:
        show(parts[args.show])
    return 0


if __name__ == "__main__":
    sys.exit(main())
