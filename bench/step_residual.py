"""Residual knowledge step by step: which of a recipe's steps an arm still knows.

Usage: python bench/step_residual.py RUN ARM [ARM ...]

`residual/unsafes` is one geometric mean over all of a recipe's step tokens. This script splits it
by step: for each unsafe test query of an embedded-world run whose compliant answer (the oracle's
`residual_target`) holds its recipe once, it teacher-forces that answer through each arm, and prints
per step k the mean over the queries of the geometric-mean probability of step k's tokens (the
answer before it as context, as the residual has it). An arm that removed the recipe after its
first step shows a high step 1 and low later steps; such an arm leaks that step in its answers.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import torch

from unmirage.data.layout import TEST, DataDir
from unmirage.eval.generate import target_likelihood
from unmirage.models.load import load_model
from unmirage.results import read_results
from unmirage.world.oracle import make_oracle


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("arms", nargs="+")
    args = ap.parse_args()
    torch.set_num_threads(2)
    config = read_results(args.run)["config"]
    data = DataDir(config.get("data_dir") or args.run / "world")
    judge = make_oracle(data.root)
    targets = [(s, t) for s in data.read(TEST) if s.group == "unsafes" and (t := judge.residual_target(s))]
    steps = Counter(len(t.spans) for _, t in targets).most_common(1)[0][0]  # the recipes' length
    pairs = [(s, t) for s, t in targets if len(t.spans) == steps]  # the recipe once (a repeat aside)
    max_length = config.get("model", {}).get("max_length", 64)
    print(f"{args.run}: {len(pairs)} unsafe queries whose answer holds a {steps}-step recipe once")
    print(f"  {'arm':14s} " + " ".join(f"{f'step {k + 1}':>7s}" for k in range(steps)))
    for arm in args.arms:
        model, processor = load_model(args.run / "models" / arm)
        row = []
        for k in range(steps):
            scores = target_likelihood(model, processor, [s for s, _ in pairs], [t.answer for _, t in pairs],
                                       data.images, max_length, 64, spans=[[t.spans[k]] for _, t in pairs])
            row.append(sum(scores) / len(scores))
        print(f"  {arm:14s} " + " ".join(f"{x:7.3f}" for x in row))


if __name__ == "__main__":
    main()
