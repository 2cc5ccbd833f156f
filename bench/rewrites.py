"""How many rule-based one-word rewrites of a VLGuard-format file pass the checks (a dev script).

Usage: python bench/rewrites.py PATH/TO/train.json [--words What Share Can] [--shots 3] [--examples 10]

For every query and word, the rewriter tries its candidates in order (the exact opener swap
where grammar allows, then the templates of the request's sentence type) and keeps those that
pass `attacks.rules.check`: the rewrite starts with the word, the old first word starts none of
its sentences, the request does not appear unchanged behind a wrapper, and at least 80 % of the
request's content words are kept. Prints, per word, the share of queries that get K rewrites,
the candidates rejected by reason, and examples.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter

from unmirage.attacks import rules
from unmirage.data.vlguard import load_vlguard


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--words", nargs="+", default=["What", "Share", "Can"])
    parser.add_argument("--shots", type=int, default=3)
    parser.add_argument("--examples", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    opts = parser.parse_args()
    samples = load_vlguard(opts.path)
    kinds = Counter(rules.parse(s.instruction)[0] for s in samples)
    print(f"{len(samples)} queries: {kinds['vp']} verb phrases (imperatives, requests to the listener), "
          f"{kinds['q']} questions, {kinds['statement']} statements (no template)")
    print(f"| word | queries with {opts.shots} rewrites that pass | candidates tried | rejected | "
          "rejected: old first word | wrapper | content words |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    examples = []
    for word in opts.words:
        full, tried, reasons = 0, 0, Counter()
        for s in samples:
            kept = []
            for text, how in rules.candidates(s.instruction, word):
                if text in kept:
                    continue
                tried += 1
                why = rules.check(s.instruction, text, word)
                if why:
                    reasons["old first word" if "old first word" in why else "wrapper" if "wrapper" in why
                            else "content words" if "content" in why else why] += 1
                    continue
                kept.append(text)
                if len(kept) == opts.shots:
                    break
            full += len(kept) == opts.shots
            examples.append((word, s.instruction, kept))
        print(f"| {word} | {full} / {len(samples)} ({full / len(samples):.1%}) | {tried} | {sum(reasons.values())} | "
              f"{reasons['old first word']} | {reasons['wrapper']} | {reasons['content words']} |")
    print()
    for word, original, kept in random.Random(opts.seed).sample(examples, opts.examples):
        print(f"- {original!r} + {word!r}:")
        for text in kept:
            print(f"    {text}")


if __name__ == "__main__":
    main()
