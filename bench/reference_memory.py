"""Peak training memory of a live reference model, measured side by side in fresh processes.

Usage: python bench/reference_memory.py [--hidden 512] [--layers 8] [--steps 4] [--batch 8]

NPO with `kl_weight` > 0 needs the model before alignment on every retain batch. Under LoRA the
reference is the same model with its adapters disabled; under full fine-tuning it is a frozen
copy. Each configuration trains a few steps in its own process on a tiny world with a model
large enough that its weights dominate the memory; the figure is the growth of the resident set
over what the process held before training (peak RSS minus RSS before), and the ratios compare
configurations measured in this one run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

CONFIGS = {  # name -> (method, finetune, params)
    "sft_lora": ("sft", "lora", {}),
    "npo_lora": ("npo", "lora", {}),  # no live reference: what NPO's paired batches cost by themselves
    "npo_lora_kl": ("npo", "lora", {"kl_weight": 1.0}),
    "sft_full": ("sft", "full", {}),
    "npo_full_kl": ("npo", "full", {"kl_weight": 1.0}),
}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def child(world: Path, name: str, opts) -> None:
    from unmirage.config import ArmConfig, ModelConfig
    from unmirage.data.layout import DataDir
    from unmirage.mixes import training_mix
    from unmirage.methods.train import train_arm
    from unmirage.models.families import fresh_tiny

    method, finetune, params = CONFIGS[name]
    cfg = ModelConfig(finetune=finetune, text_hidden=opts.hidden, text_layers=opts.layers,
                      text_intermediate=4 * opts.hidden, text_heads=8)
    data = DataDir(world)
    sets = data.load()
    texts = [s.instruction + " " + s.response for s in sets.corpus + sets.safety + sets.forget]
    model, processor = fresh_tiny(cfg, texts, 32)
    mix = "forget+retain" if method == "npo" else "safety+retain"
    arm = ArmConfig(method=method, mix=mix, steps=opts.steps, batch_size=opts.batch, seed=0, params=params)
    main, retain = training_mix(mix, sets, 0)
    n_params = sum(p.numel() for p in model.parameters())
    before = rss_mb()
    with tempfile.TemporaryDirectory() as out:
        train_arm(model, processor, arm, main, retain, data.images, Path(out) / "m", cfg, False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"name": name, "params": n_params, "before_mb": before, "peak_mb": peak,
                      "growth_mb": peak - before}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--child", nargs=2, metavar=("WORLD", "CONFIG"), help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child:
        return child(Path(opts.child[0]), opts.child[1], opts)
    from unmirage.config import WorldConfig
    from unmirage.world.build import build_world

    with tempfile.TemporaryDirectory() as tmp:
        world = build_world(WorldConfig(n_concepts=8, train_renders=3, test_renders=1, corpus_per_render=2,
                                        safety_renders=2, retain_topup=20), Path(tmp) / "world")
        rows = {}
        for name in CONFIGS:
            out = subprocess.run([sys.executable, __file__, "--child", str(world), name, "--hidden", str(opts.hidden),
                                  "--layers", str(opts.layers), "--steps", str(opts.steps), "--batch", str(opts.batch)],
                                 capture_output=True, text=True, check=True).stdout
            rows[name] = json.loads(out.strip().splitlines()[-1])
    print(f"model: {rows['sft_full']['params'] / 1e6:.1f} M parameters, {opts.steps} steps of batch {opts.batch}")
    for name, r in rows.items():
        print(f"{name:12s} growth {r['growth_mb']:8.1f} MB   (peak {r['peak_mb']:.0f} MB, before training {r['before_mb']:.0f} MB)")
    g = {n: r["growth_mb"] for n, r in rows.items()}
    print(f"NPO+KL with LoRA (adapters off as reference) / SFT with LoRA:   {g['npo_lora_kl'] / g['sft_lora']:.2f}x  (goal <= 1.1x)")
    print(f"NPO+KL with LoRA / NPO with LoRA, no KL (the reference alone):  {g['npo_lora_kl'] / g['npo_lora']:.2f}x")
    print(f"NPO+KL full fine-tuning (frozen copy) / SFT full fine-tuning:   {g['npo_full_kl'] / g['sft_full']:.2f}x")
    print(f"NPO+KL full fine-tuning (frozen copy) / NPO+KL with LoRA:       {g['npo_full_kl'] / g['npo_lora_kl']:.2f}x")


if __name__ == "__main__":
    main()
