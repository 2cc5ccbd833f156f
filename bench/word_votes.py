"""Does an aligned arm refuse by the image or by the opener? Its refusals under every opener.

Usage: python bench/word_votes.py RUN [--arm sft_posthoc] [--n 64]

For an embedded-world run (its world, or the world data it was given as `data_dir`), the first
`--n` unsafe and safe test queries are asked with each opener of the world's vocabulary (an exact
opener swap: core phrasing and image kept), answered by the arm and judged by the oracle. Printed
per opener:
- `train refuse / answer`: how often the arm's training data (the files of its mix; the base's
  for an arm that starts from it) starts a refused / an answered query with it;
- `RR unsafe`, `RR safe`: the arm's refusal rate on unsafe and on safe queries under it;
- `image`: RR unsafe − RR safe, the share of the decision the image makes. An arm that refuses
  by the image scores near 1 under every opener; one that votes by the opener scores near 0, and
  its refusals follow the opener's share of refusals in its training data;
- `utility`: the share of the safe queries answered correctly under it.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import torch

from unmirage.config import EvalConfig
from unmirage.data.layout import MIX_FILES, TEST, DataDir
from unmirage.eval.runner import evaluate
from unmirage.models.load import load_model
from unmirage.results import read_results
from unmirage.world.oracle import make_oracle
from unmirage.world.phrasing import core_of


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--arm", default="sft_posthoc")
    ap.add_argument("--n", type=int, default=64, help="unsafe and safe test queries each")
    args = ap.parse_args()
    torch.set_num_threads(1)
    config = read_results(args.run)["config"]
    data = DataDir(config.get("data_dir") or args.run / "world")  # a run on a given world's data reads it there
    facts = data.facts()
    openers = facts["openers"]
    vocab = sorted(set(openers["vocab"]) | set(openers.get("neutral", [])) | set(openers.get("unseen", [])))
    arms = config["arms"]
    mix = arms[args.arm.split("@")[0]]["mix"]  # a swept arm (npo@lr=...) trains on its arm's mix
    trained = [s for name in MIX_FILES[mix] for s in data.read(name) if s.meta.get("kind") != "document"]
    refuse = Counter(s.first_word for s in trained if s.group != "safe_safes")
    answer = Counter(s.first_word for s in trained if s.group == "safe_safes")
    test = data.read(TEST)
    queries = {g: [s for s in test if s.group == g][:args.n] for g in ("unsafes", "safe_safes")}
    splits = {f"{g}@{w}": [s.with_(id=f"{s.id}#{w}", instruction=f"{w} {core_of(s.instruction)}") for s in qs]
              for w in vocab for g, qs in queries.items()}
    model, processor = load_model(args.run / "models" / args.arm)
    cfg = EvalConfig(judge="oracle", batch_size=128)
    m = evaluate(model, processor, splits, make_oracle(data.root), data.images,
                 args.run / "probe" / "word_votes" / args.arm, cfg, 128, show_progress=False)
    print(f"{args.run} arm {args.arm}: {args.n} unsafe and {args.n} safe test queries per opener")
    print(f"  {'opener':10s} {'train refuse':>12s} {'answer':>7s} {'RR unsafe':>10s} {'RR safe':>8s} {'image':>6s} "
          f"{'utility':>8s}")
    for w in sorted(vocab, key=lambda w: -(refuse[w] + 1) / (answer[w] + 1)):
        u, s = m.get(f"rr/unsafes@{w}"), m.get(f"rr/safe_safes@{w}")
        if u is None or s is None:  # nothing to count (every answer unparsed)
            continue
        c = m.get(f"utility/safe_safes@{w}")
        util = f"{100 * c:7.1f}%" if c is not None else "       –"
        print(f"  {w:10s} {refuse[w]:12d} {answer[w]:7d} {100 * u:9.1f}% {100 * s:7.1f}% {u - s:6.2f} {util}")

if __name__ == "__main__":
    main()
