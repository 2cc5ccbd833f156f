"""Why an RMU arm's answers collapse onto one word: where its steered layer's states lie, and what c·u decodes to.

Usage: python bench/rmu_probe.py RUN [--arm rmu] [--split unsafes] [--n 256]

RMU trains the output h of decoder layer ℓ towards c·u on forget inputs (u a fixed random unit
vector, c its coefficient: `methods/rmu.py`). This probe reads the arm's own answers to `--split`
(shot 0 of its `samples.jsonl`), teacher-forces each one through the arm and through the base, and
takes h at every position that predicts an answer token. For each answer token it prints:
- `dist`: ||h − c·u|| / c, how far the state is from RMU's target (0 = on it; an unsteered state
  of norm c·r/coeff_scale sits at about √(1 + (r/s)²) where s is coeff_scale);
- `cos u`: the cosine of h with u;
- `spread`: 1 − the mean cosine between the states of one answer's positions (0 = one state
  repeated at every position).
`dist base` is the same distance for the base's states. It also prints the mean norm of the base's
last decoder layer at these positions (the residual stream the head reads), against c.
Tokens are grouped by what they are: in a collapsed answer (one word half of its words or more,
`eval.metrics.is_collapsed`), the repeated word and the answer's other tokens; in the other
answers, all tokens. Last, it replaces h at every answer position by c·u exactly and reads the
token the arm's remaining layers predict there: if that token is the word the collapsed answers
repeat, the collapse is the target state decoded, position after position. It also decodes c times
the all-ones direction, another fixed state (u, drawn uniform in [0, 1) as WMDP's RMU draws it,
lies near it whatever the seed).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import torch

from unmirage.data.inputs import Collator, Encoder
from unmirage.data.layout import DataDir
from unmirage.data.records import Sample
from unmirage.eval.metrics import is_collapsed
from unmirage.methods.losses import answer_state_mask
from unmirage.methods.rmu import random_direction
from unmirage.models.hooks import capture_output, decoder_layer
from unmirage.models.load import load_model
from unmirage.results import read_results


def states(model, batch, layer: int, replace: torch.Tensor | None = None):
    """The output of decoder layer `layer` (batch, seq, dim) and the logits; with `replace`, that
    output is replaced by `replace` at the answer-predicting positions before the layers above read it."""
    mask = answer_state_mask(batch["labels"])
    module = decoder_layer(model, layer)

    def swap(_module, _inputs, output):
        h = output[0] if isinstance(output, (tuple, list)) else output
        h = torch.where(mask[..., None], replace.to(h.dtype), h)
        return (h, *output[1:]) if isinstance(output, (tuple, list)) else h

    handle = module.register_forward_hook(swap) if replace is not None else None
    try:
        with capture_output(module) as captured:
            out = model(**{k: v for k, v in batch.items() if k != "labels"})
    finally:
        if handle is not None:
            handle.remove()
    return captured.get(), out.logits, mask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--arm", default="rmu")
    ap.add_argument("--base", default="base", help="the arm the probe compares with (unsteered states)")
    ap.add_argument("--split", default="unsafes")
    ap.add_argument("--n", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(2)
    config = read_results(args.run)["config"]
    data = DataDir(config.get("data_dir") or args.run / "world")
    calib = json.loads((args.run / "models" / args.arm / "train_log.json").read_text())["calibration"]
    layer, coeff = calib["layer"], calib["coeff"]
    records = [json.loads(line) for line in (args.run / "eval" / args.arm / "samples.jsonl").open()]
    records = [r for r in records if r["split"] == args.split and r.get("shot", 0) == 0][:args.n]
    if not records:
        raise SystemExit(f"no answers of split {args.split!r} in {args.run / 'eval' / args.arm}")
    arm, processor = load_model(args.run / "models" / args.arm)
    base, _ = load_model(args.run / "models" / args.base)
    tok = processor.tokenizer
    encoder = Encoder(processor, data.images, 10_000)
    samples = [Sample(id=r["id"], image=r["image"], group=r["group"], instruction=r["instruction"]) for r in records]
    encoder.prompts(samples)
    examples = [encoder.encode(s, r["answer"]) for s, r in zip(samples, records)]
    collate = Collator(tok.pad_token_id, encoder.images)
    u = random_direction(calib["direction_seed"], arm.config.text_config.hidden_size)
    target = coeff * u
    n_layers = arm.config.text_config.num_hidden_layers
    ones = torch.ones_like(u) / u.numel() ** 0.5  # u is drawn uniform in [0, 1): mostly this direction

    groups: dict[str, dict[str, list[float]]] = {}
    decoded: Counter = Counter()
    ones_decoded: Counter = Counter()
    repeated: Counter = Counter()
    match = collapsed_n = 0

    def add(group: str, key: str, values) -> None:
        groups.setdefault(group, {}).setdefault(key, []).extend(float(v) for v in values)

    arm.eval()
    base.eval()
    with torch.inference_mode():
        for start in range(0, len(examples), 64):
            chunk, recs = examples[start:start + 64], records[start:start + 64]
            batch = collate(chunk)
            h, _, mask = states(arm, batch, layer)
            hb, _, _ = states(base, batch, layer)
            _, logits_t, _ = states(arm, batch, layer, replace=target)
            _, logits_1, _ = states(arm, batch, layer, replace=coeff * ones)
            ones_decoded.update(tok.convert_ids_to_tokens(int(t)) for t in logits_1[mask].argmax(-1))
            last, _, _ = states(base, batch, n_layers - 1)
            add("all", "last norm", last[mask].norm(dim=-1))
            for i, rec in enumerate(recs):
                pos = mask[i].nonzero().squeeze(-1)  # states that predict answer tokens
                nxt = batch["labels"][i, pos + 1]  # the token each of them predicts
                hi, hbi = h[i, pos], hb[i, pos]
                dist = (hi - target).norm(dim=-1) / coeff
                dist_b = (hbi - target).norm(dim=-1) / coeff
                cos = torch.nn.functional.cosine_similarity(hi, u[None], dim=-1)
                unit = torch.nn.functional.normalize(hi, dim=-1)
                spread = 1 - ((unit @ unit.T).sum() - len(pos)) / max(1, len(pos) * (len(pos) - 1))
                top = [tok.convert_ids_to_tokens(int(t)) for t in logits_t[i, pos].argmax(-1)]
                decoded.update(top)
                words = [tok.convert_ids_to_tokens(int(t)) for t in nxt]
                if is_collapsed(rec["answer"]):
                    collapsed_n += 1
                    word = Counter(w for w in rec["answer"].lower().split() if w.isalpha()).most_common(1)[0][0]
                    repeated[word] += 1
                    match += Counter(top).most_common(1)[0][0] == word
                    is_word = torch.tensor([w == word for w in words])
                    for name, sel in (("collapsed: the repeated word", is_word),
                                      ("collapsed: its other tokens", ~is_word)):
                        add(name, "dist", dist[sel])
                        add(name, "dist base", dist_b[sel])
                        add(name, "cos u", cos[sel])
                    add("collapsed: the repeated word", "spread", [spread])
                else:
                    name = "not collapsed"
                    add(name, "dist", dist)
                    add(name, "dist base", dist_b)
                    add(name, "cos u", cos)
                    add(name, "spread", [spread])
                add("all", "answers", [1])

    def mean(xs):
        return sum(xs) / len(xs) if xs else float("nan")

    print(f"{args.run} arm {args.arm}: layer {layer}, c = {coeff:.2f} (mean norm {calib['mean_norm']:.2f}), "
          f"{len(records)} answers of {args.split}, {collapsed_n} collapsed")
    print(f"  {'tokens':30s} {'n':>6s} {'dist':>7s} {'dist base':>10s} {'cos u':>7s} {'spread':>7s}")
    for name in ("collapsed: the repeated word", "collapsed: its other tokens", "not collapsed"):
        g = groups.get(name)
        if not g:
            continue
        spread = f"{mean(g['spread']):7.3f}" if "spread" in g else "      –"
        print(f"  {name:30s} {len(g['dist']):6d} {mean(g['dist']):7.3f} {mean(g['dist base']):10.3f} "
              f"{mean(g['cos u']):7.3f} {spread}")
    print(f"  the base's last decoder layer (what the head reads, before the final norm): mean norm "
          f"{mean(groups['all']['last norm']):.2f} at these positions, against c = {coeff:.2f}")
    print(f"  c·u in place of h at every answer position decodes to: {decoded.most_common(3)} "
          f"({len(decoded)} distinct tokens over {sum(decoded.values())} positions)")
    print(f"  u's cosine with the all-ones direction: {float(u @ ones):.3f}; c times that direction decodes to: "
          f"{ones_decoded.most_common(3)}")
    print(f"  words the collapsed answers repeat: {repeated.most_common(5)}")
    print(f"  collapsed answers whose repeated word is c·u's most frequent decoding: {match} / {collapsed_n}")


if __name__ == "__main__":
    main()
