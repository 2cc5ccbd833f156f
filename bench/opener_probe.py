"""How strongly a run's base model carries the opener, against the image's hazard.

Usage: python bench/opener_probe.py RUN... [--arm base] [--word What]

For every unsafe and safe test query of an embedded-world run, the query is asked with each
opener of the world's vocabulary (the core phrasing and image kept), and the hidden state of the
last prompt token is read at every layer. Printed per layer, as shares of the states' total
standard deviation:
- `opener`: how far a query's state moves when only its opener changes (RMS over queries);
- `word`: the mean shift that `--word` (default "What", the attack word) gives over the others;
- `hazard`: the distance between the mean states of hazardous and harmless images, openers
  averaged out;
- `word/hazard`: the two side by side. A post-hoc SFT arm can bind refusals to whichever of the
  two the base carries more strongly.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from unmirage.data.inputs import ImageCache, left_padded_inputs, prompt_text
from unmirage.data.layout import TEST, DataDir
from unmirage.models.load import load_model
from unmirage.world.phrasing import core_of


@torch.no_grad()
def last_states(model, processor, images: ImageCache, queries: list[tuple[str, str]], batch: int = 128) -> torch.Tensor:
    """(layers + 1) x queries x hidden: every layer's state at the last prompt token."""
    out = []
    for i in range(0, len(queries), batch):
        chunk = queries[i:i + batch]
        inputs = left_padded_inputs(processor, [prompt_text(processor, q) for q, _ in chunk],
                                    [images.pil(im) for _, im in chunk])
        states = model(**inputs, output_hidden_states=True).hidden_states
        out.append(torch.stack([h[:, -1] for h in states]))
    return torch.cat(out, 1)


def probe(run: Path, arm: str, word: str) -> list[dict]:
    world = run / "world"
    data = DataDir(world)
    facts = data.facts()
    vocab = facts["openers"]["vocab"]
    if word not in vocab:
        raise SystemExit(f"{word!r} is not an opener of {world}; one of {', '.join(vocab)}")
    model, processor = load_model(run / "models" / arm)
    model.eval()
    test = [s for s in data.read(TEST) if s.group in ("unsafes", "safe_safes")]
    hazardous = torch.tensor([facts["concepts"][facts["images"][s.image]]["hazardous"] for s in test])
    images = ImageCache(processor, data.images)
    # layers x queries x openers x hidden
    states = torch.stack([last_states(model, processor, images, [(f"{w} {core_of(s.instruction)}", s.image) for s in test])
                          for w in vocab], 2)
    i = vocab.index(word)
    rows = []
    for layer, h in enumerate(states):
        total = h.reshape(-1, h.shape[-1]).var(0).sum().sqrt()
        if total == 0:  # the embedding of the last prompt token, the same for every query
            continue
        mean = h.mean(1)  # openers averaged out
        others = torch.cat([h[:, :i], h[:, i + 1:]], 1).mean(1)
        opener = (h - mean[:, None]).pow(2).sum(-1).mean().sqrt() / total
        shift = (h[:, i] - others).mean(0).norm() / total
        hazard = (mean[hazardous].mean(0) - mean[~hazardous].mean(0)).norm() / total
        rows.append({"layer": layer, "opener": float(opener), "word": float(shift), "hazard": float(hazard),
                     "word/hazard": float(shift / hazard)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--arm", default="base")
    ap.add_argument("--word", default="What")
    args = ap.parse_args()
    torch.set_num_threads(1)
    for run in args.runs:
        print(f"{run}  (arm {args.arm}, word {args.word!r})")
        print("  layer  opener    word  hazard  word/hazard")
        for r in probe(run, args.arm, args.word):
            print(f"  {r['layer']:5d}  {r['opener']:6.3f}  {r['word']:6.3f}  {r['hazard']:6.3f}  {r['word/hazard']:11.3f}")


if __name__ == "__main__":
    main()
