"""Peak training memory of a live reference model, measured side by side in fresh processes.

Usage: python bench/reference_memory.py [--hidden 512] [--layers 8] [--steps 4] [--batch 8]

NPO with `kl_weight` > 0 needs the model before alignment on every retain batch. Under LoRA the
reference is the same model with its adapters disabled; under full fine-tuning it is a frozen
copy. Each configuration trains a few steps in its own process on a tiny world with a model
large enough that its weights dominate the memory, and the ratios compare configurations
measured in this one run.

The figure is the memory that aligning adds: the process's peak resident set (VmHWM) is reset
just before `train_arm` (the model is built, the world read) and read when it returns, so it
holds the encoded data, the method's reference (precomputed log-probs, or a frozen copy), the
gradients, the optimizer's state and the activations. Every configuration trains on the same
examples, the forget and retain sets that NPO pairs (half a batch of each), which SFT sees as
one list, so that sequence lengths, and with them activation memory, are alike.

glibc's malloc would keep freed blocks and move its mmap threshold as it goes, which made the
resident set vary by ±50 MB from run to run; the children run with a fixed mmap threshold, so
that every large tensor is mapped on allocation and unmapped when freed, and each configuration
runs `--repeat` times (the median is the figure, the range is printed beside it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
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


def status_mb(field: str) -> float:
    """A field of /proc/self/status (VmRSS: resident now; VmHWM: peak since the last reset), in MB."""
    with open("/proc/self/status") as f:
        return int(re.search(rf"{field}:\s+(\d+) kB", f.read()).group(1)) / 1024


def reset_peak() -> None:
    """Reset VmHWM to the current resident set (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


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
    forget, retain = training_mix("forget+retain", sets, 0)
    if method == "sft":  # the same examples as one list: SFT learns the forget answers too, which is beside the point here
        main, retain = forget + retain, None
    else:
        main = forget
    arm = ArmConfig(method=method, mix="forget+retain", steps=opts.steps, batch_size=opts.batch, seed=0, params=params)
    n_params = sum(p.numel() for p in model.parameters())
    with tempfile.TemporaryDirectory() as out:
        before = status_mb("VmRSS")
        reset_peak()
        train_arm(model, processor, arm, main, retain, data.images, Path(out) / "m", cfg, False)
        peak = status_mb("VmHWM")
    print(json.dumps({"name": name, "params": n_params, "before_mb": before, "peak_mb": peak,
                      "growth_mb": peak - before}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("WORLD", "CONFIG"), help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child:
        return child(Path(opts.child[0]), opts.child[1], opts)
    from unmirage.config import WorldConfig
    from unmirage.world.build import build_world

    with tempfile.TemporaryDirectory() as tmp:
        world = build_world(WorldConfig(n_concepts=8, train_renders=3, test_renders=1, corpus_per_render=2,
                                        safety_renders=2, retain_topup=20), Path(tmp) / "world")
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"}
        runs: dict[str, list[dict]] = {name: [] for name in CONFIGS}
        for _ in range(opts.repeat):  # interleaved, so that a slow spell of the machine touches every configuration
            for name in CONFIGS:
                out = subprocess.run([sys.executable, __file__, "--child", str(world), name, "--hidden", str(opts.hidden),
                                      "--layers", str(opts.layers), "--steps", str(opts.steps), "--batch",
                                      str(opts.batch)], capture_output=True, text=True, check=True, env=env).stdout
                runs[name].append(json.loads(out.strip().splitlines()[-1]))
    print(f"model: {runs['sft_full'][0]['params'] / 1e6:.1f} M parameters, {opts.steps} steps of batch {opts.batch}, "
          f"{opts.repeat} runs each")
    g = {}
    for name, rs in runs.items():
        growth = [r["growth_mb"] for r in rs]
        g[name] = statistics.median(growth)
        print(f"{name:12s} growth {g[name]:8.1f} MB   (range {min(growth):.1f}-{max(growth):.1f}; "
              f"before training {statistics.median(r['before_mb'] for r in rs):.0f} MB)")
    print(f"NPO+KL with LoRA (adapters off as reference) / SFT with LoRA:   {g['npo_lora_kl'] / g['sft_lora']:.2f}x  (goal <= 1.1x)")
    print(f"NPO+KL with LoRA / NPO with LoRA, no KL (the reference alone):  {g['npo_lora_kl'] / g['npo_lora']:.2f}x")
    print(f"NPO+KL full fine-tuning (frozen copy) / SFT full fine-tuning:   {g['npo_full_kl'] / g['sft_full']:.2f}x")
    print(f"NPO+KL full fine-tuning (frozen copy) / NPO+KL with LoRA:       {g['npo_full_kl'] / g['npo_lora_kl']:.2f}x")


if __name__ == "__main__":
    main()
