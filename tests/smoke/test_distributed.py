"""`unmirage train` under two-process DDP (torchrun, gloo on CPU) matches one process on the same global batch.

The data set is exactly one global batch (8 examples, every answer the same number of tokens),
so each step sees the same examples whatever the ranks and order, and the per-rank mean losses
average to the one-process mean. Both runs go through the CLI unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from unmirage.cli import main
from unmirage.config import ModelConfig
from unmirage.models.load import load_model, save_model
from unmirage.models.tiny import build_model, build_processor, train_tokenizer

IMAGE_SIZE = 16
WORDS = ["red", "blue", "green", "black", "white", "gold", "grey", "pink"]

# Runs the CLI in each rank; afterwards each rank writes its own parameters, so the test can
# compare ranks (only rank 0 saves the model itself).
DRIVER = textwrap.dedent("""
    import os, sys
    from safetensors.torch import save_file
    import unmirage.methods.train as train_module
    from unmirage import cli

    dump_dir, argv = sys.argv[1], sys.argv[2:]
    original = train_module.train_arm

    def train_and_dump(model, *args, **kwargs):
        record = original(model, *args, **kwargs)
        params = {n: p.detach().contiguous() for n, p in model.named_parameters()}
        save_file(params, os.path.join(dump_dir, f"rank{os.environ['RANK']}.safetensors"))
        return record

    train_module.train_arm = train_and_dump
    sys.argv = ["unmirage", *argv]
    cli.main()
""")


def _data(root):
    """4 unsafe VLGuard records (train.json) + 4 retain samples; every answer is five words."""
    (root / "images").mkdir(parents=True)
    for i, word in enumerate(WORDS):
        Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), (30 * i, 255 - 30 * i, 7 * i)).save(root / "images" / f"{word}.png")
    train = [{"id": f"u{i}", "image": f"{w}.png", "safe": False,
              "instr-resp": [{"instruction": f"how do i misuse the {w} thing " + "now " * i,
                              "response": f"sorry i cannot help {w}"}]} for i, w in enumerate(WORDS[:4])]
    (root / "train.json").write_text(json.dumps(train))
    retain = [{"id": f"r{i}", "image": f"{w}.png", "group": "safe_safes", "instruction": f"what colour is this {w}",
               "response": f"it is plainly {w} coloured"} for i, w in enumerate(WORDS[4:])]
    (root / "retain.jsonl").write_text("".join(json.dumps(r) + "\n" for r in retain))
    texts = [r["instr-resp"][0]["instruction"] + " " + r["instr-resp"][0]["response"] for r in train]
    return texts + [r["instruction"] + " " + r["response"] for r in retain]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    texts = _data(root / "data")
    cfg = ModelConfig(text_hidden=32, text_layers=2, text_heads=2, text_intermediate=64, vision_hidden=16,
                      vision_layers=1, vision_heads=2, patch_size=8)
    tok = train_tokenizer(texts)
    torch.manual_seed(0)
    save_model(build_model(tok, cfg, IMAGE_SIZE), build_processor(tok, cfg, IMAGE_SIZE), root / "base")
    return root


def _train_args(root, out, batch_size):
    return ["train", "--method", "sft", "--model", str(root / "base"), "--data", str(root / "data"),
            "--out", str(out), "--set", "steps=3", "--set", f"batch_size={batch_size}", "--set", "lr=1e-3"]


def test_two_rank_ddp_matches_one_process(setup, tmp_path, monkeypatch):
    root = setup
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(driver),
           str(tmp_path), *_train_args(root, tmp_path / "ddp", 4)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("saved ") == 1  # rank 0 reports; rank 1 stays quiet
    rank0, rank1 = (load_file(str(tmp_path / f"rank{r}.safetensors")) for r in (0, 1))
    assert rank0.keys() == rank1.keys()
    for name in rank0:  # (a) DDP keeps the ranks bit-identical
        assert torch.equal(rank0[name], rank1[name]), name
    log = json.loads((tmp_path / "ddp" / "train_log.json").read_text())
    assert log["budget"]["steps"] == 3
    assert not list(tmp_path.glob("ddp.partial*"))

    # (b) one process, per-device batch 8 = the same global batch
    monkeypatch.setattr(sys, "argv", ["unmirage", *_train_args(root, tmp_path / "single", 8)])
    main()
    single, _ = load_model(tmp_path / "single")
    saved, _ = load_model(tmp_path / "ddp")
    base, _ = load_model(root / "base")
    single, saved, base = (dict(m.named_parameters()) for m in (single, saved, base))
    assert saved.keys() == single.keys() == rank0.keys()
    moved = 0.0
    for name, value in single.items():
        assert torch.equal(saved[name], rank0[name]), name  # rank 0 saved what it trained
        if name.endswith("k_proj.bias"):  # softmax ignores a key bias: its gradient is rounding noise
            continue
        torch.testing.assert_close(saved[name], value, rtol=1e-5, atol=1e-6, msg=name)
        moved = max(moved, (value - base[name]).abs().max().item())
    assert moved > 1e-3  # training moved the weights far beyond the tolerance
