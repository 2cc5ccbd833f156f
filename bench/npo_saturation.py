"""Has an NPO arm's forget term stopped pushing? Its gradient weight on each forget answer after training.

Usage: python bench/npo_saturation.py RUN [--arm npo] [--base base]

NPO's forget loss on one answer is −(2/β)·log σ(−β·Δ), Δ = log π_θ(y|x) − log π_ref(y|x), the
per-sequence log-ratio against the model it started from. Its gradient with respect to log π_θ(y|x)
is 2·σ(β·Δ): once an answer as a whole is unlikely enough, the weight is near 0 and the loss
stops pushing any of its tokens down, whichever of them are still likely. This script computes Δ
for every forget answer of the arm's run (the arm against the model it started from: its `init`,
or `--base`),
with the arm's β, and prints the median Δ and the weights' mean, largest value and share above 0.01.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from unmirage.data.inputs import Collator, Encoder
from unmirage.data.layout import FORGET, DataDir
from unmirage.methods.base import sequence_logprobs
from unmirage.models.load import load_model
from unmirage.results import read_results


def logprobs(path: Path, samples, data: DataDir, max_length: int) -> torch.Tensor:
    model, processor = load_model(path)
    model.eval()
    encoder = Encoder(processor, data.images, max_length)
    encoder.prompts(samples)
    examples = [encoder.encode(s) for s in samples]
    collate = Collator(processor.tokenizer.pad_token_id, encoder.images)
    with torch.inference_mode():
        return torch.cat([sequence_logprobs(model, collate(examples[i:i + 64])) for i in range(0, len(examples), 64)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--arm", default="npo")
    ap.add_argument("--base", default="", help="the model the NPO arm started from (its reference): an arm of the "
                    "run or a model path; default: the arm's own `init`")
    args = ap.parse_args()
    torch.set_num_threads(2)
    config = read_results(args.run)["config"]
    data = DataDir(config.get("data_dir") or args.run / "world")
    log = json.loads((args.run / "models" / args.arm / "train_log.json").read_text())
    if log["method"] != "npo":
        raise SystemExit(f"arm {args.arm} was trained with {log['method']}, not npo")
    beta = log["params"]["beta"]
    init = args.base or log["init"]
    if init == "scratch":
        raise SystemExit(f"arm {args.arm} started from scratch: it has no reference model to compare with")
    reference = Path(config["model"]["name"]) if init == "pretrained" else (
        args.run / "models" / init if (args.run / "models" / init).is_dir() else Path(init))
    forget = data.read(FORGET)
    max_length = config.get("model", {}).get("max_length", 64)
    delta = logprobs(args.run / "models" / args.arm, forget, data, max_length) - logprobs(
        reference, forget, data, max_length)
    weight = 2 * torch.sigmoid(beta * delta)
    print(f"{args.run} arm {args.arm} (β = {beta}): {len(forget)} forget answers; log-ratio Δ median "
          f"{delta.median().item():.1f}; gradient weight 2·σ(β·Δ) mean {weight.mean().item():.2e}, "
          f"largest {weight.max().item():.2e}, above 0.01 for {(weight > 0.01).float().mean().item():.1%}")


if __name__ == "__main__":
    main()
