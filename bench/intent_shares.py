"""How often a training mix refuses each opener word, overall and within the intents that the test
set's unsafe queries ask (for the embedded world: a hazard's description or recipe).

Usage: python bench/intent_shares.py WORLD [WORLD ...] [--mix safety+retain] [--words Kindly,Now]

A word can be used as often under refusals as under answers in the whole mix and still lean
within the asked intents: there its answered uses are requests that the mix answers because
the object is harmless. Post-hoc SFT (mix `safety+retain`) learns from the word and the intent
together, so the second share is the one its refusals of the attacked queries can follow
(docs/findings.md, "The default study over eight seeds, knowledge from documents"). Printed per
world and word: refused / answered uses overall, then within the asked intents with their
refusal share, and the mix's own share within those intents (its base rate there).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from unmirage.data.layout import MIX_FILES, TEST, DataDir
from unmirage.world.phrasing import intent_of


def counts(root: Path, mix: str = "safety+retain") -> tuple[set[str], Counter, Counter]:
    """The intents the test set's unsafe queries ask, and the mix's (word, refused) counts overall
    and within those intents."""
    data = DataDir(root)
    asked = {intent_of(s.instruction) for s in data.read(TEST) if s.group == "unsafes"}
    overall, within = Counter(), Counter()
    for name in MIX_FILES[mix]:
        for s in data.read(name):
            if s.meta.get("kind") == "document":
                continue
            refused = s.group != "safe_safes"
            overall[s.first_word, refused] += 1
            if intent_of(s.instruction) in asked:
                within[s.first_word, refused] += 1
    return asked, overall, within


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("worlds", type=Path, nargs="+", help="world directories (a run's world/)")
    ap.add_argument("--mix", default="safety+retain", choices=sorted(MIX_FILES))
    ap.add_argument("--words", default="", help="comma-separated words (default: every opener of the world)")
    args = ap.parse_args()
    for root in args.worlds:
        openers = DataDir(root).facts()["openers"]
        words = [w for w in args.words.split(",") if w] or sorted(
            set(openers["vocab"]) | set(openers.get("neutral", [])) | set(openers.get("unseen", [])))
        asked, overall, within = counts(root, args.mix)
        base = sum(n for (_, refused), n in within.items() if refused) / max(1, sum(within.values()))
        print(f"{root}: mix {args.mix}, asked intents {', '.join(sorted(asked))}; the mix's refusal share "
              f"there {base:.2f}")
        print(f"  {'opener':10s} {'refused':>8s} {'answered':>9s} {'asked: refused':>15s} {'answered':>9s} {'share':>6s}")
        for w in words:
            r, a = within[w, True], within[w, False]
            share = f"{r / (r + a):6.2f}" if r + a else "     –"
            print(f"  {w:10s} {overall[w, True]:8d} {overall[w, False]:9d} {r:15d} {a:9d} {share}")


if __name__ == "__main__":
    main()
