"""Train one arm: encode its data, let the method prepare, run `AlignmentTrainer`, save."""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import torch
from transformers import PrinterCallback, TrainingArguments, set_seed

from ..config import ArmConfig
from ..data.collate import Collator, Encoder
from ..data.records import Sample
from ..io import write_json
from ..models.load import save_model
from .base import METHODS, AlignData, AlignmentTrainer, ListDataset, PairedDataset, params_dict, set_trainable

log = logging.getLogger(__name__)


def train_arm(model, processor, arm: ArmConfig, main: list[Sample], retain: list[Sample] | None,
              image_root: str | Path, out_dir: str | Path, seed: int, max_length: int,
              show_progress: bool = True) -> dict:
    """Align `model` with `arm.method` on `main` (+ `retain` for paired methods); save it to `out_dir`.

    Returns the training record (budget, loss log, time) that is also written to `train_log.json`.
    """
    out_dir = Path(out_dir)
    set_seed(seed)
    method = METHODS.get(arm.method)(arm.params)
    if method.paired and not retain:
        raise ValueError(f"method {arm.method} needs a retain set")
    encoder = Encoder(processor, image_root, max_length)
    data = AlignData(main=[encoder.encode(s) for s in main],
                     retain=[encoder.encode(s) for s in retain] if method.paired else None)
    collate = Collator(processor.tokenizer.pad_token_id, encoder.images)
    method.prepare(model, data, collate)
    trainable = set_trainable(model, method.trainable(model))
    dataset = PairedDataset(data.main, data.retain, seed) if method.paired else ListDataset(data.main)
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(
            output_dir=tmp, max_steps=arm.steps, per_device_train_batch_size=arm.batch_size,
            learning_rate=arm.lr, warmup_steps=round(arm.warmup_ratio * arm.steps), weight_decay=arm.weight_decay,
            lr_scheduler_type=arm.scheduler,
            logging_steps=max(1, arm.steps // 20), save_strategy="no", report_to=[], seed=seed, data_seed=seed,
            dataloader_num_workers=0, remove_unused_columns=False, disable_tqdm=not show_progress,
            use_cpu=not torch.cuda.is_available(), max_grad_norm=1.0,
        )
        trainer = AlignmentTrainer(model=model, args=args, train_dataset=dataset, data_collator=collate, method=method)
        if not show_progress:
            trainer.remove_callback(PrinterCallback)  # the loss log goes to train_log.json instead
        trainer.train()
    seconds = time.time() - started
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    save_model(model, processor, out_dir)
    record = {
        "method": arm.method, "params": params_dict(method), "init": arm.init, "data": arm.data,
        "budget": {"steps": arm.steps, "batch_size": arm.batch_size,
                   "examples": arm.steps * arm.batch_size * (2 if method.paired else 1)},
        "trainable_parameters": sum(p.numel() for n, p in model.named_parameters() if n in set(trainable)),
        "seconds": round(seconds, 2), "log": trainer.state.log_history,
        **({"calibration": method.calibration} if hasattr(method, "calibration") else {}),
    }
    write_json(out_dir / "train_log.json", record)
    return record
