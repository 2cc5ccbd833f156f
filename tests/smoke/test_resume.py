"""Resumable training: N steps straight equal N/2 steps, a kill, a resume and N/2 more."""

from __future__ import annotations

import pytest
from safetensors.torch import load_file
from transformers import TrainerCallback

from unmirage.config import ArmConfig, ModelConfig
from unmirage.data.samples_io import read_samples
from unmirage.data.vlguard import load_vlguard
from unmirage.methods.train import Checkpoints, remove_checkpoints, train_arm

STEPS, EVERY = 8, 4


class Killed(Exception):
    pass


class KillAfterSave(TrainerCallback):
    """Stops the run the way a kill would, right after the checkpoint of step `step` is on disk."""

    def __init__(self, step: int):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Killed


def _losses(record):
    return [e["loss"] for e in record["log"] if "loss" in e]


@pytest.mark.parametrize("method, grouped", [("sft", False), ("npo", False), ("sft", True)])
def test_a_killed_run_resumes_to_the_same_weights_and_losses(tiny_world, tiny_model, tmp_path, method, grouped):
    """Also with batches grouped by length, whose order a resumed run must draw again the same."""
    paired = method == "npo"
    main = read_samples(tiny_world / "forget.jsonl") if paired else load_vlguard(tiny_world / "train.json")
    retain = read_samples(tiny_world / "retain.jsonl") if paired else None
    arm = ArmConfig(method=method, mix="forget+retain" if paired else "safety+retain", steps=STEPS, batch_size=4,
                    lr=1e-2, warmup_ratio=0.25, scheduler="cosine", seed=3, group_by_length=grouped,
                    params={"kl_weight": 0.5} if paired else {})

    def train(name, callbacks=()):
        model, processor = tiny_model(tiny_world)  # the model the arm starts from, the same each time
        return train_arm(model, processor, arm, main, retain, tiny_world / "images", tmp_path / name, ModelConfig(),
                         False, Checkpoints(tmp_path / f"{name}.ckpt", EVERY), callbacks)

    straight = train("straight")
    with pytest.raises(Killed):
        train("resumed", (KillAfterSave(EVERY),))
    assert (tmp_path / "resumed.ckpt" / f"checkpoint-{EVERY}" / "model.safetensors").is_file()
    assert not (tmp_path / "resumed").exists() or not (tmp_path / "resumed" / "model.safetensors").exists()
    (tmp_path / "resumed.ckpt" / f"checkpoint-{STEPS - 1}").mkdir()  # a save a kill cut short: skipped
    resumed = train("resumed")
    a, b = load_file(tmp_path / "straight" / "model.safetensors"), load_file(tmp_path / "resumed" / "model.safetensors")
    assert a.keys() == b.keys()
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-6
    assert _losses(resumed) == pytest.approx(_losses(straight), abs=1e-6) and len(_losses(straight)) == STEPS
    assert resumed["budget"]["tokens"] == straight["budget"]["tokens"]
    remove_checkpoints(Checkpoints(tmp_path / "resumed.ckpt", EVERY))  # by the caller, once the model is recorded
    assert not (tmp_path / "resumed.ckpt").exists()
