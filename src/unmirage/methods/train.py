"""The one trainer: `transformers.Trainer` → `AlignmentTrainer` → thin methods; and `train_arm`,
which trains one arm: encode its data, let the method prepare, run `AlignmentTrainer`, save."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import PartialState
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments, set_seed
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..config import ArmConfig, ModelConfig
from ..data.inputs import Collator, Encoder
from ..data.records import Sample
from ..io import read_json, write_json
from ..models.load import save_model
from ..models.lora import finetune_model, is_peft, merge_lora
from ..models.scope import apply_scope, scope_patterns
from .base import METHODS, Method, params_dict
from .examples import AlignData, ForgetDataset, ListDataset, PairedDataset

log = logging.getLogger(__name__)


class AlignmentTrainer(Trainer):
    """`Trainer` whose loss comes from a `Method`; logs the method's loss terms."""

    def __init__(self, *args, method: Method, **kwargs):
        super().__init__(*args, **kwargs)
        # A method's loss is a mean over its micro-batch, not a sum to be divided by the number of
        # items in the batch: the Trainer must divide it by the accumulation steps itself.
        self.model_accepts_loss_kwargs = False
        self.method = method
        self._terms: dict[str, list[float]] = {}
        self.tokens_seen = 0  # non-padding tokens of every example the optimizer saw (image tokens included)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss, terms = self.method.loss(model, inputs)
        if not isinstance(loss, torch.Tensor) or not loss.requires_grad:
            raise RuntimeError(f"{self.method.name}: a training step computed no loss with a gradient; "
                               "refusing to take an optimizer step that does nothing")
        if not torch.isfinite(loss):
            raise RuntimeError(f"{self.method.name}: non-finite loss {loss.item()} at step {self.state.global_step}")
        for k, v in terms.items():
            self._terms.setdefault(k, []).append(v)
        if model.training:
            self.tokens_seen += count_tokens(inputs)
        return (loss, None) if return_outputs else loss

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        """The checkpoint's weights, loaded through `from_pretrained` so that the model's key
        conversions apply: the Trainer's own loader reads the file's keys as they are, and for
        models whose saved keys differ from their module names (LLaVA's) it loaded nothing and
        only warned. Adapters and sharded (FSDP, DeepSpeed) checkpoints keep the Trainer's loader."""
        model = self.model if model is None else model
        if is_peft(model) or self.is_fsdp_enabled or self.is_deepspeed_enabled:
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        saved = type(model).from_pretrained(resume_from_checkpoint, dtype=next(model.parameters()).dtype,
                                            use_safetensors=True)
        model.load_state_dict(saved.state_dict(), strict=True)  # every weight, or an error

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        for k, vals in self._terms.items():
            logs[k] = sum(vals) / len(vals)
        self._terms = {}
        super().log(logs, *args, **kwargs)


def count_tokens(batch: dict[str, Any]) -> int:
    """Non-padding tokens of a (possibly nested: forget/retain, chosen/rejected) batch."""
    if "attention_mask" in batch:
        return int(batch["attention_mask"].sum())
    return sum(count_tokens(v) for v in batch.values() if isinstance(v, dict))


def _grouped_by_length() -> dict:
    """The `TrainingArguments` that batch by length: `train_sampling_strategy` from transformers
    5.2 on, `group_by_length` before it."""
    if "train_sampling_strategy" in TrainingArguments.__dataclass_fields__:
        return {"train_sampling_strategy": "group_by_length"}
    return {"group_by_length": True}


def _sharded_launch() -> bool:
    """Launched under FSDP or DeepSpeed (accelerate sets these), which place the model themselves."""
    return any(os.environ.get(k, "").lower() in ("1", "true") for k in ("ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED"))


def budget(arm: ArmConfig, world_size: int, tokens: int) -> dict:
    """What an arm's training saw: `examples` counts every process's micro-batches of every step."""
    per_step = arm.batch_size * arm.gradient_accumulation_steps * world_size
    return {"method": arm.method, "init": arm.init, "steps": arm.steps, "batch_size": arm.batch_size,
            "gradient_accumulation_steps": arm.gradient_accumulation_steps, "world_size": world_size,
            "examples": arm.steps * per_step, "tokens": tokens}


@dataclass(frozen=True)
class Checkpoints:
    """Checkpoints of one arm's training every `every` optimizer steps in `directory`, which names
    what they were made for (the arm's artefact key): a run resumes from the last one there."""

    directory: Path
    every: int


TOKENS_FILE = "unmirage_tokens_{rank}.json"  # beside the Trainer's state: the tokens seen so far


class _KeepTokens(TrainerCallback):
    """Writes the tokens the trainer has seen into each checkpoint, so that a resumed run counts on."""

    def __init__(self, trainer: "AlignmentTrainer"):
        self.trainer = trainer

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        write_json(folder / TOKENS_FILE.format(rank=args.process_index), {"tokens_seen": self.trainer.tokens_seen})


def last_checkpoint(checkpoints: Checkpoints | None) -> str | None:
    """The newest complete checkpoint: a kill during a save leaves a newer folder without the
    Trainer's state or the tokens file (written last), which is skipped."""
    if checkpoints is None or not checkpoints.every or not checkpoints.directory.is_dir():
        return None
    done = [p for p in checkpoints.directory.glob(f"{PREFIX_CHECKPOINT_DIR}-*")
            if p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").is_file()
            and any(p.glob(TOKENS_FILE.format(rank="*")))]
    return str(max(done, key=lambda p: int(p.name.split("-")[-1]))) if done else None


def remove_checkpoints(checkpoints: Checkpoints | None) -> None:
    """Once the model is saved and recorded, its checkpoints are done (main process only)."""
    if checkpoints is not None and PartialState().is_main_process:
        shutil.rmtree(checkpoints.directory, ignore_errors=True)


def train_arm(model, processor, arm: ArmConfig, main: list[Sample], retain: list[Sample] | None,
              image_root: str | Path, out_dir: str | Path, model_cfg: ModelConfig, show_progress: bool = True,
              checkpoints: Checkpoints | None = None, callbacks: tuple[TrainerCallback, ...] = ()) -> dict:
    """Align `model` with `arm.method` on `main` (+ `retain` for paired methods); save it to `out_dir`.

    With `checkpoints`, the model (safetensors), optimizer, scheduler, RNG states and data position
    are saved every `checkpoints.every` steps, and a run whose directory holds a checkpoint resumes
    from it. `model` is always the model the arm starts from: the method's reference quantities
    (`prepare`) are computed from it before the checkpoint's weights are loaded, never from the
    half-trained model. The caller removes the checkpoints (`remove_checkpoints`) once the model is
    saved and recorded.

    Returns the training record (budget, loss log, time) that is also written to `train_log.json`.
    """
    if arm.seed is None:
        raise ValueError("train_arm needs the arm's seed resolved (StudyConfig.arm gives the study's where it sets none)")
    seed, max_length = arm.seed, model_cfg.max_length
    out_dir = Path(out_dir)
    set_seed(seed)
    method = METHODS.get(arm.method)(arm.params, seed)
    if method.uses_retain and not retain:
        raise ValueError(f"method {arm.method} needs a retain set")
    encoder = Encoder(processor, image_root, max_length)
    encoder.prompts(main + (retain if method.uses_retain else []))  # batched; `encode` then finds them
    data = AlignData(main=[method.encode(encoder, s) for s in main],
                     retain=[encoder.encode(s) for s in retain] if method.uses_retain else None)
    collate = Collator(processor.tokenizer.pad_token_id, encoder.images)
    model = finetune_model(model, model_cfg)  # LoRA adapters when model.finetune=lora
    if torch.cuda.is_available() and not _sharded_launch():  # prepare's forward passes run on the GPU
        model.to(torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))))
    method.prepare(model, data, collate)
    trainable = apply_scope(model, method.trainable(model), scope_patterns(model_cfg.trainable))
    n_trainable = sum(p.numel() for n, p in model.named_parameters() if n in set(trainable))
    if method.uses_retain:
        dataset = PairedDataset(data.main, data.retain, seed)
    else:
        dataset = ForgetDataset(data.main) if method.paired else ListDataset(data.main)
    if arm.group_by_length and method.paired:
        raise ValueError(f"arm group_by_length: method {arm.method} pairs forget and retain examples in a batch, "
                         "which a length-grouped order cannot keep; it applies to unpaired methods only")
    if method.uses_retain and arm.batch_size % 2:
        raise ValueError(f"method {arm.method} splits each batch between forget and retain examples: "
                         f"batch_size must be even, got {arm.batch_size}")
    # matched budgets: a step sees batch_size examples whatever the method (paired: half forget, half retain)
    per_device = arm.batch_size // 2 if method.uses_retain else arm.batch_size
    started = time.time()
    saving = checkpoints is not None and checkpoints.every > 0
    resume = last_checkpoint(checkpoints)
    with (contextlib.nullcontext(str(checkpoints.directory)) if saving else tempfile.TemporaryDirectory()) as tmp:
        args = TrainingArguments(
            output_dir=tmp, max_steps=arm.steps, per_device_train_batch_size=per_device,
            gradient_accumulation_steps=arm.gradient_accumulation_steps,
            learning_rate=arm.lr, warmup_steps=round(arm.warmup_ratio * arm.steps), weight_decay=arm.weight_decay,
            lr_scheduler_type=arm.scheduler,
            logging_steps=max(1, arm.steps // 20), report_to=[], seed=seed, data_seed=seed,
            save_strategy="steps" if saving else "no", save_steps=checkpoints.every if saving else 500,
            save_total_limit=2,
            **(_grouped_by_length() if arm.group_by_length else {}),
            dataloader_num_workers=0, remove_unused_columns=False, disable_tqdm=not show_progress,
            use_cpu=not torch.cuda.is_available(), max_grad_norm=1.0,
        )
        trainer = AlignmentTrainer(model=model, args=args, train_dataset=dataset, data_collator=collate, method=method)
        if not show_progress:
            trainer.remove_callback(PrinterCallback)  # the loss log goes to train_log.json instead
        if saving:
            trainer.add_callback(_KeepTokens(trainer))
        for callback in callbacks:
            trainer.add_callback(callback)
        if resume:
            log.info("arm %s: resuming from %s", arm.method, resume)
            tokens = Path(resume) / TOKENS_FILE.format(rank=args.process_index)
            trainer.tokens_seen = read_json(tokens)["tokens_seen"] if tokens.is_file() else 0
        trainer.train(resume_from_checkpoint=resume)
    seconds = time.time() - started
    seen = torch.tensor(trainer.tokens_seen, device=trainer.accelerator.device)
    tokens = int(trainer.accelerator.reduce(seen, reduction="sum").item())  # every process's examples
    model = merge_lora(model)  # saved merged: loads like any model
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    # launched distributed, only rank 0 writes; FSDP / ZeRO-3 weights are gathered first (every rank takes part)
    sharded = trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled
    state_dict = trainer.accelerator.get_state_dict(trainer.model_wrapped) if sharded else None
    if trainer.is_world_process_zero():
        save_model(model, processor, out_dir, state_dict)
    record = {
        "method": arm.method, "params": params_dict(method), "init": arm.init, "mix": arm.mix, "seed": seed,
        "budget": budget(arm, trainer.args.world_size, tokens),
        "trainable_parameters": n_trainable,
        "seconds": round(seconds, 2), "log": trainer.state.log_history,
        **({"calibration": method.calibration} if hasattr(method, "calibration") else {}),
    }
    if trainer.is_world_process_zero():
        write_json(out_dir / "train_log.json", record)
    trainer.accelerator.wait_for_everyone()  # no rank goes on before the model is on disk
    return record
