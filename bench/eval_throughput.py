"""Eval throughput: the batched generator against a batch-1 `generate` loop, side by side.

Usage: python bench/eval_throughput.py [RUN_DIR] [--arm base] [--n 128] [--batch 64 128] [--repeat 3]

Both answer the same queries (the run's test set and its attack files, first `--n`) with the
same model, greedy decoding, the KV cache on and the same `max_new_tokens` (the world's longest
answer plus slack, as a study uses); the generation cache is not involved. The loop is
`model.generate` on one query at a time; the batched generator answers a repeated query (the
same prompt and image) once, drops rows from the batch once they have ended and computes an
image's prefix once for the queries that share it (`--distinct` leaves repeated queries out), and
`model.generate` on the same batches shows what that gains. Each is timed `--repeat` times,
interleaved, and the median is the figure; the ratio is the median of each repeat's ratio (the
loop against the same repeat's run, close in time). Prints the time of each, their ratio, and
whether the answers agree. Absolute times on a shared machine are noise; the ratio, measured in
one run, is the figure.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from unmirage.attacks.one_word import read_attacks
from unmirage.config import EvalConfig
from unmirage.data.inputs import ImageCache, generation_prompt, left_padded_inputs
from unmirage.data.layout import TEST, DataDir
from unmirage.eval.generate import HFGenerator
from unmirage.eval.runner import make_judge, resolve_max_new_tokens
from unmirage.models.load import load_model


@torch.no_grad()
def hf_generate(model, processor, prompts: list[str], images: list, max_new_tokens: int) -> list[str]:
    """`model.generate` itself (greedy, KV cache, left padding): the batch-1 baseline, and the
    batched generator as it was before finished rows left the batch."""
    tok = processor.tokenizer
    inputs = left_padded_inputs(processor, prompts, images).to(model.device)
    out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, use_cache=True,
                         pad_token_id=tok.pad_token_id)
    return [t.strip() for t in tok.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", default="runs/default", help="a finished study's run directory")
    parser.add_argument("--arm", default="base")
    parser.add_argument("--n", type=int, default=128, help="queries")
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--distinct", action="store_true",
                        help="only distinct queries (prompt and image): the generator answers a repeated one once")
    opts = parser.parse_args()
    if opts.threads:
        torch.set_num_threads(opts.threads)
    run = Path(opts.run)
    data = DataDir(run / "world")
    samples = data.read(TEST) + [s for f in sorted((run / "attacks").glob("*.jsonl")) for s in read_attacks(f)]
    def query(s):
        return s.instruction, s.image, s.meta.get("prefill")

    if opts.distinct:  # each query once, in order: nothing gained from answering a repeated one once
        firsts: dict = {}
        for s in samples:
            firsts.setdefault(query(s), s)
        samples = list(firsts.values())
    samples = samples[: opts.n]
    distinct = len({query(s) for s in samples})
    model, processor = load_model(run / "models" / opts.arm)
    model.eval()
    cfg = resolve_max_new_tokens(EvalConfig(), processor, make_judge(EvalConfig(), data.root, data.images))
    images = ImageCache(processor, data.images)
    for s in samples:
        images.pil(s.image)  # images read once, before any timing
    print(f"{len(samples)} queries ({distinct} distinct), max_new_tokens {cfg.max_new_tokens}, "
          f"{torch.get_num_threads()} threads")

    def loop_answers():
        return [hf_generate(model, processor, [generation_prompt(processor, s)], [images.pil(s.image)],
                            cfg.max_new_tokens)[0] for s in samples]

    generator = HFGenerator(model, processor, data.images, cfg.max_new_tokens)
    generator.images = images
    runs = {("batch-1 loop", 1): loop_answers}
    for batch in opts.batch:
        runs[("generator", batch)] = lambda b=batch: [a for i in range(0, len(samples), b)
                                                     for a in generator.generate(samples[i:i + b])]
        runs[("model.generate", batch)] = lambda b=batch: [
            a for i in range(0, len(samples), b)
            for a in hf_generate(model, processor, [generation_prompt(processor, s) for s in samples[i:i + b]],
                                 [images.pil(s.image) for s in samples[i:i + b]], cfg.max_new_tokens)]
    seconds: dict = {key: [] for key in runs}
    answers: dict = {}
    for _ in range(opts.repeat):  # interleaved, so that a slow spell of the machine touches every configuration
        for key, answer in runs.items():
            started = time.perf_counter()
            answers[key] = answer()
            seconds[key].append(time.perf_counter() - started)
    loop, loop_times = answers[("batch-1 loop", 1)], seconds[("batch-1 loop", 1)]
    for (name, batch), times in seconds.items():
        took = statistics.median(times)
        ratios = [a / b for a, b in zip(loop_times, times)]  # each repeat's loop against the same repeat's run
        same = sum(a == b for a, b in zip(answers[(name, batch)], loop)) / len(samples)
        print(f"{name:>14} ({batch:4d}) {took:8.2f} s (range {min(times):.2f}-{max(times):.2f})   "
              f"({len(samples) / took:6.1f} queries/s)   ratio {statistics.median(ratios):5.1f}x "
              f"(per repeat {min(ratios):.1f}-{max(ratios):.1f})   answers equal to the loop's: {same:.1%}")


if __name__ == "__main__":
    main()
