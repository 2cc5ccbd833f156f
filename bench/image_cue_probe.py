"""Does a model see an image cue? Its pooled image features of the world's renders (training and
test), plain and with each cue, arm by arm (a measurement script, not a test).

Usage: python bench/image_cue_probe.py RUN_DIR [RUN_DIR ...]

For every run directory of a world study (one seed's: `world/` and `models/`) and every arm's
model, prints (the cues are the world's `world.image_cue`, else the attack's defaults; the
copies are drawn in a temporary folder):

- `shift`: the mean distance between an image's features with the unsafe and with the safe cue,
  over the mean distance between two different plain images' features (0: the cue's colour is
  invisible; 1: it moves the features as far as another image does);
- `border`: the same between an image plain and with the safe cue (there being a cue at all);
- `probe`: the accuracy of a linear probe (L2-regularised logistic regression on standardised
  features) telling the unsafe cue's copies from the safe cue's, each copy on its own, fitted on
  the images of half the concepts and tested on the other half's (50 %: the colour is not
  linearly readable from one image's pooled features).

Features are `attacks.image_audit.image_features` (what the language model sees, averaged over
image tokens). Markdown rows, mean over the run directories given.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from unmirage.attacks.image_audit import image_features  # noqa: E402
from unmirage.attacks.image_cue import ImageCueParams, cues  # noqa: E402
from unmirage.data.cues import write_cued  # noqa: E402
from unmirage.models.load import load_model  # noqa: E402


def linear_probe(x: torch.Tensor, y: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
                 l2: float = 1e-2, steps: int = 200) -> float:
    """Test accuracy of a logistic regression fitted on (x, y), features standardised on x."""
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    x, x_test = (x - mean) / std, (x_test - mean) / std
    w = torch.zeros(x.shape[1] + 1, requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=steps)

    def loss():
        opt.zero_grad()
        out = torch.nn.functional.binary_cross_entropy_with_logits(x @ w[:-1] + w[-1], y) + l2 * (w[:-1] ** 2).sum()
        out.backward()
        return out

    opt.step(loss)
    with torch.no_grad():
        return ((x_test @ w[:-1] + w[-1] > 0).float() == y_test).float().mean().item()


def probe(run: Path) -> dict[str, dict[str, float]]:
    """Per arm: shift, border and probe (see the module docstring) on the run's renders."""
    world = run / "world"
    facts = json.loads((world / "facts.json").read_text())
    cue = cues(ImageCueParams(), facts)
    renders = sorted(rel for rel in facts["images"] if not rel.startswith("cue/"))  # every render
    concept = [facts["images"][rel] for rel in renders]
    half = set(sorted(set(concept))[::2])
    fit = torch.tensor([c in half for c in concept])
    root = Path(tempfile.mkdtemp())  # every render with each cue, apart from the run's own files
    for rel in renders:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(world / "images" / rel, root / rel)
    images = {"plain": renders, **{name: [write_cued(root, r, cue[name]) for r in renders] for name in cue}}
    out = {}
    for model_dir in sorted(p for p in (run / "models").iterdir() if (p / "config.json").is_file()):
        model, processor = load_model(model_dir)
        feats = {name: image_features(model, processor, root, rels) for name, rels in images.items()}
        spread = torch.pdist(feats["plain"]).mean()
        row = {"shift": ((feats["unsafe"] - feats["safe"]).norm(dim=1).mean() / spread).item(),
               "border": ((feats["plain"] - feats["safe"]).norm(dim=1).mean() / spread).item()}
        x = torch.cat([feats["unsafe"], feats["safe"]])
        y = torch.cat([torch.ones(len(renders)), torch.zeros(len(renders))])
        train = torch.cat([fit, fit])
        row["probe"] = linear_probe(x[train], y[train], x[~train], y[~train])
        out[model_dir.name] = row
    shutil.rmtree(root)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args()
    rows: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in args.runs:
        for arm, row in probe(run).items():
            for key, value in row.items():
                rows[arm][key].append(value)
    print("| arm | shift (unsafe vs safe cue) | border (plain vs safe cue) | probe accuracy | runs |")
    print("|---|---:|---:|---:|---:|")
    for arm, row in rows.items():
        mean = {k: sum(v) / len(v) for k, v in row.items()}
        print(f"| {arm} | {mean['shift']:.2f} | {mean['border']:.2f} | {100 * mean['probe']:.1f} % | {len(row['shift'])} |")


if __name__ == "__main__":
    main()
