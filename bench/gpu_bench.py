"""Throughput of unmirage's methods on a LLaVA-1.5-7B-sized model (random weights, no download).

Usage:
    python bench/gpu_bench.py                      # H100-class GPU: the 7B shape, bf16
    python bench/gpu_bench.py --layers 16 --batch 8 --seq 256 --steps 10
    python bench/gpu_bench.py --tiny               # the same code on CPU with a tiny config, in seconds

The model is LLaVA-1.5-7B's shape (CLIP ViT-L/14-336 vision tower, a Llama-2-7B-sized language
model: hidden 4096, 32 layers, 32 heads, intermediate 11008, vocab 32064), built from its config
straight on the device in bf16 with random weights. For each method (sft, npo, rmu) it runs a
few steps of unmirage's `AlignmentTrainer` (the `transformers.Trainer` that `unmirage train`
uses, the method's own loss and `prepare`) with LoRA adapters and then with full-parameter
training, and finally batched greedy generation. Printed per run: the median step time (the
first step is a warm-up and left out), tokens/s (every token of every example the step's
forward passes see, the 576 image tokens included), peak GPU memory, and MFU estimated as
6·N·tokens/s over the GPU's dense bf16 peak (989 TFLOP/s on an H100 SXM; `--peak-tflops`).
6·N is the usual convention: LoRA skips the frozen weights' gradients (nearer 4·N) and
gradient checkpointing recomputes the forward (8·N), so read MFU as a relative figure.

Full-parameter training of 7B does not fit on one 80 GB GPU with fp32 AdamW states and fp32
master weights (16 bytes/parameter, 112 GB). Here the weights stay bf16 and torch's fused AdamW
keeps bf16 states (2 + 2 + 4 = 8 bytes/parameter, 56 GB for 7B) with gradient checkpointing;
`--optim adafactor` (factored states) or `--optim sgd` (none) need less, `--layers` shrinks the
model. For real full fine-tuning use several GPUs with ZeRO-3 or FSDP (configs/accelerate/).
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass

import torch
import transformers
from transformers import (
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    PrinterCallback,
    TrainerCallback,
    TrainingArguments,
)

from unmirage.methods import METHODS
from unmirage.methods.examples import AlignData, ListDataset, PairedDataset
from unmirage.methods.train import AlignmentTrainer
from unmirage.models.lora import add_lora
from unmirage.models.scope import apply_scope

H100_BF16_TFLOPS = 989.0  # dense bf16, H100 SXM
IMAGE_TOKEN, PAD, BOS = 32000, 32001, 1


@dataclass
class Shape:
    """The model's shape: LLaVA-1.5-7B by default."""

    text_hidden: int = 4096
    text_layers: int = 32
    text_heads: int = 32
    text_intermediate: int = 11008
    vocab: int = 32064
    vision_hidden: int = 1024
    vision_layers: int = 24
    vision_heads: int = 16
    vision_intermediate: int = 4096
    image_size: int = 336
    patch: int = 14

    @property
    def image_tokens(self) -> int:
        return (self.image_size // self.patch) ** 2


TINY = Shape(text_hidden=64, text_layers=4, text_heads=4, text_intermediate=128, vocab=32064, vision_hidden=32,
             vision_layers=2, vision_heads=4, vision_intermediate=64, image_size=28, patch=14)


def build(shape: Shape, device: torch.device, dtype: torch.dtype) -> LlavaForConditionalGeneration:
    """A random-weight LLaVA of `shape`, created directly on `device` in `dtype` (no download, no copy)."""
    vision = CLIPVisionConfig(hidden_size=shape.vision_hidden, intermediate_size=shape.vision_intermediate,
                              num_hidden_layers=shape.vision_layers, num_attention_heads=shape.vision_heads,
                              image_size=shape.image_size, patch_size=shape.patch, projection_dim=768,
                              hidden_act="quick_gelu")
    text = LlamaConfig(vocab_size=shape.vocab, hidden_size=shape.text_hidden, intermediate_size=shape.text_intermediate,
                       num_hidden_layers=shape.text_layers, num_attention_heads=shape.text_heads,
                       num_key_value_heads=shape.text_heads, max_position_embeddings=4096, rms_norm_eps=1e-5,
                       pad_token_id=PAD, bos_token_id=BOS, eos_token_id=2)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_id=IMAGE_TOKEN,
                         vision_feature_select_strategy="default", vision_feature_layer=-2,
                         image_seq_length=shape.image_tokens, projector_hidden_act="gelu")
    with torch.device(device):
        model = LlavaForConditionalGeneration._from_config(config, dtype=dtype)
    return model


def example(shape: Shape, seq: int, gen: torch.Generator) -> dict:
    """One synthetic training example: BOS, the image tokens, `seq` text tokens (the last half is the answer)."""
    text = torch.randint(3, IMAGE_TOKEN, (seq,), generator=gen)
    ids = torch.cat([torch.tensor([BOS]), torch.full((shape.image_tokens,), IMAGE_TOKEN), text])
    labels = torch.full_like(ids, -100)
    labels[-(seq // 2):] = ids[-(seq // 2):]
    return {"input_ids": ids, "labels": labels,
            "pixel_values": torch.randn(3, shape.image_size, shape.image_size, generator=gen)}


def collate(items: list[dict]) -> dict:
    """Stack equal-length examples (and any `ref_*` extras a method precomputed)."""
    if "input_ids" not in items[0]:
        return {k: collate([it[k] for it in items]) for k in items[0]}
    batch = {k: torch.stack([it[k] for it in items]) for k in items[0]}
    batch["attention_mask"] = torch.ones_like(batch["input_ids"])
    return batch


def on_device(device: torch.device):
    """`collate` that moves the batch to `device` (for a method's `prepare`, which runs outside the Trainer)."""
    def fn(items):
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in collate(items).items()}
    return fn


class StepTimer(TrainerCallback):
    def __init__(self, device: torch.device):
        self.device, self.times, self._t = device, [], 0.0

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def on_step_begin(self, args, state, control, **kwargs):
        self._sync()
        self._t = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self._sync()
        self.times.append(time.perf_counter() - self._t)


def reset_peak(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_gb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 1024**3
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # process peak RSS (KiB on Linux)


def train_run(model, name: str, mode: str, opts, shape: Shape, device: torch.device, n_params: int) -> dict:
    """A few steps of `name` through AlignmentTrainer; returns its timings."""
    method = METHODS.get(name)()
    per_device = opts.batch // 2 if method.uses_retain else opts.batch
    n = per_device * opts.steps
    gen = torch.Generator().manual_seed(0)
    data = AlignData(main=[example(shape, opts.seq, gen) for _ in range(n)],
                     retain=[example(shape, opts.seq, gen) for _ in range(n)] if method.uses_retain else None)
    for pname, p in model.named_parameters():  # this run's scope: the adapters or every weight; the method narrows it
        # (LLaVA reads CLIP's features before its post-layernorm, which never gets a gradient)
        p.requires_grad_((mode == "full" or "lora_" in pname) and "post_layernorm" not in pname)
    reset_peak(device)
    method.prepare(model, data, on_device(device))
    trainable = apply_scope(model, method.trainable(model))
    n_trainable = sum(p.numel() for n_, p in model.named_parameters() if n_ in set(trainable))
    dataset = PairedDataset(data.main, data.retain, 0) if method.uses_retain else ListDataset(data.main)
    timer = StepTimer(device)
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(
            output_dir=tmp, max_steps=opts.steps, per_device_train_batch_size=per_device,
            learning_rate=1e-4 if mode == "lora" else 1e-5, save_strategy="no", report_to=[], logging_steps=opts.steps,
            remove_unused_columns=False, dataloader_pin_memory=False, disable_tqdm=True, max_grad_norm=1.0,
            use_cpu=device.type == "cpu", bf16=device.type == "cuda",
            optim=opts.optim if mode == "full" else "adamw_torch",
            activation_checkpointing=opts.checkpointing, activation_checkpointing_kwargs={"use_reentrant": False},
        )
        trainer = AlignmentTrainer(model=model, args=args, train_dataset=dataset, data_collator=collate,
                                   method=method, callbacks=[timer])
        trainer.remove_callback(PrinterCallback)
        trainer.train()
        del trainer
    step = statistics.median(timer.times[1:] or timer.times)
    tokens = opts.batch * (1 + shape.image_tokens + opts.seq)
    return {"run": f"{mode:4s} {name}", "trainable": n_trainable, "step_s": step, "tokens_s": tokens / step,
            "mfu": 6 * n_params * tokens / step / (opts.peak_tflops * 1e12), "peak_gb": peak_gb(device)}


@torch.no_grad()
def generation_run(model, opts, shape: Shape, device: torch.device) -> dict:
    model.eval()
    gen = torch.Generator().manual_seed(1)
    batch = on_device(device)([example(shape, 32, gen) for _ in range(opts.gen_batch)])
    reset_peak(device)
    kwargs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
              "pixel_values": batch["pixel_values"].to(model.dtype), "do_sample": False,
              "max_new_tokens": opts.new_tokens, "min_new_tokens": opts.new_tokens, "pad_token_id": PAD}
    model.generate(**{**kwargs, "max_new_tokens": 2, "min_new_tokens": 2})  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    out = model.generate(**kwargs)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    new = (out.shape[1] - batch["input_ids"].shape[1]) * opts.gen_batch
    return {"run": f"generate batch {opts.gen_batch} x {opts.new_tokens} new tokens", "seconds": seconds,
            "tokens_s": new / seconds, "peak_gb": peak_gb(device)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tiny", action="store_true", help="tiny config on CPU (checks the code in seconds)")
    ap.add_argument("--layers", type=int, default=None, help="language-model layers (default 32; tiny 4)")
    ap.add_argument("--batch", type=int, default=None, help="examples per step (default 4; tiny 2)")
    ap.add_argument("--seq", type=int, default=None, help="text tokens per example, after the image (default 128; tiny 8)")
    ap.add_argument("--steps", type=int, default=None, help="training steps per run (default 5; tiny 2)")
    ap.add_argument("--methods", default="sft,npo,rmu")
    ap.add_argument("--modes", default="lora,full", help="lora, full or both")
    ap.add_argument("--optim", default=None, help="full training's optimizer (TrainingArguments.optim; "
                                                  "default adamw_torch_fused on GPU)")
    ap.add_argument("--no-checkpointing", dest="checkpointing", action="store_false",
                    help="keep every activation (faster; full 7B training then needs more than 80 GB)")
    ap.add_argument("--gen-batch", type=int, default=None, help="prompts per generate call (default 16; tiny 2)")
    ap.add_argument("--new-tokens", type=int, default=None, help="tokens generated per prompt (default 64; tiny 4)")
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--peak-tflops", type=float, default=H100_BF16_TFLOPS, help="the GPU's dense bf16 peak")
    opts = ap.parse_args()

    defaults = ({"batch": 2, "seq": 8, "steps": 2, "gen_batch": 2, "new_tokens": 4} if opts.tiny else
                {"batch": 4, "seq": 128, "steps": 5, "gen_batch": 16, "new_tokens": 64})
    for key, value in defaults.items():
        if getattr(opts, key) is None:
            setattr(opts, key, value)
    shape = TINY if opts.tiny else Shape()
    if opts.layers:
        shape.text_layers = opts.layers
    device = torch.device("cpu") if opts.tiny else torch.device("cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU: run with --tiny to check the code on CPU")
    if opts.optim is None:
        opts.optim = "adamw_torch_fused" if device.type == "cuda" else "adamw_torch"
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    torch.manual_seed(0)
    transformers.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)

    started = time.perf_counter()
    model = build(shape, device, dtype)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"device {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}; model built in "
          f"{time.perf_counter() - started:.1f} s: {n_params / 1e6:,.1f} M parameters ({dtype}), "
          f"{shape.text_layers} language layers, {shape.image_tokens} image tokens + {opts.seq} text tokens per "
          f"example, batch {opts.batch}, {opts.steps} steps per run")
    print(f"full training: {opts.optim}, {str(dtype)[6:]} weights and optimizer states, gradient checkpointing "
          f"{'on' if opts.checkpointing else 'off'}; LoRA: r={opts.lora_r} on the language model's projections, "
          f"adamw_torch; MFU = 6·N·tokens/s / {opts.peak_tflops:g} TFLOP/s with N = {n_params / 1e6:,.1f} M")
    print(f"{'run':12s} {'trainable':>12s} {'step s':>8s} {'tokens/s':>10s} {'MFU':>6s} {'peak GB':>8s}")
    methods = [m for m in opts.methods.split(",") if m]
    for mode in [m for m in opts.modes.split(",") if m]:
        if mode not in ("lora", "full"):
            raise SystemExit(f"--modes: unknown mode {mode!r} (lora, full)")
        if mode == "lora":
            model = add_lora(model, opts.lora_r, 2.0 * opts.lora_r, 0.0)
        for name in methods:
            r = train_run(model, name, mode, opts, shape, device, n_params)
            print(f"{r['run']:12s} {r['trainable'] / 1e6:10,.1f} M {r['step_s']:8.3f} {r['tokens_s']:10.0f} "
                  f"{r['mfu']:6.1%} {r['peak_gb']:8.1f}", flush=True)
        if mode == "lora":
            model = model.unload()  # back to the plain model, adapters dropped
    for p in model.parameters():
        p.requires_grad_(False)
    model.activation_checkpointing_disable()
    g = generation_run(model, opts, shape, device)
    print(f"{g['run']}: {g['seconds']:.2f} s, {g['tokens_s']:.0f} new tokens/s, peak {g['peak_gb']:.1f} GB")
    if device.type == "cpu":
        print("(CPU: peak GB is the process's peak resident memory)")


if __name__ == "__main__":
    main()
