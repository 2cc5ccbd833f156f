"""Why an RMU arm's answers collapse onto one word: where its steered layer's states lie, and what fixed states decode to.

Usage: python bench/rmu_probe.py RUN [--arm rmu] [--base base] [--split unsafes] [--n 256]

RMU trains the output h of decoder layer ℓ towards c·u on forget inputs (u a fixed random unit
vector, c its coefficient: `methods/rmu.py`). This probe reads the arm's own answers to `--split`
(shot 0 of its `samples.jsonl`), teacher-forces each one through the arm and through the base, and
takes h at every position that predicts an answer token. Per group of those positions it prints:
- `dist`: ||h − c·u|| / c, how far the state is from RMU's target (0 = on it); `dist base`, the
  same for the base's state at the same position;
- `cos u`: the cosine of h with u.
The groups: in a collapsed answer (one word half of its words or more, `eval.metrics.is_collapsed`),
the positions that predict the repeated word and the answer's other positions; and the positions
of the answers that do not collapse. Per answer, `spread` is 1 − the mean cosine between the
states of its positions (0 = one state repeated at every position), over collapsed answers and
over the others.

Then it puts a fixed state in place of h at every answer position and reads the token that the
layers above ℓ predict there, each answer with its own prompt and image: c·u itself; c times the
all-ones direction (u, drawn uniform in [0, 1) as WMDP's RMU draws it, lies near it whatever the
seed); and c times a Gaussian unit vector made orthogonal to both. If the collapsed answers
repeat the token that c·u decodes to, the collapse is the target state decoded, position after
position. It also prints the mean norm of the base's last decoder layer at these positions (the
residual stream the head reads, before the final norm), against c.
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
from unmirage.eval.metrics import _WORDS, is_collapsed
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
        h = torch.where(mask[..., None].to(h.device), replace.to(h.device, h.dtype), h)
        return (h, *output[1:]) if isinstance(output, (tuple, list)) else h

    handle = module.register_forward_hook(swap) if replace is not None else None
    try:
        with capture_output(module) as captured:
            out = model(**{k: v for k, v in batch.items() if k != "labels"})
    finally:
        if handle is not None:
            handle.remove()
    return captured.get(), out.logits, mask


def word_of(tokenizer, token_id: int) -> str:
    """A token as a word of `is_collapsed`'s kind (lower case, no marker of a leading space); a
    token without one (punctuation, the end of the answer) as itself."""
    text = tokenizer.decode([token_id]).lower()
    found = _WORDS.findall(text)
    return found[0] if found else (text.strip() or tokenizer.convert_ids_to_tokens(token_id))


def mean(xs) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


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
    arm.eval()
    base.eval()
    tok = processor.tokenizer
    encoder = Encoder(processor, data.images, 10_000)  # the answers as generated, whatever their length
    samples = [Sample(id=r["id"], image=r["image"], group=r["group"], instruction=r["instruction"]) for r in records]
    encoder.prompts(samples)
    examples = [encoder.encode(s, r["answer"]) for s, r in zip(samples, records)]
    collate = Collator(tok.pad_token_id, encoder.images)
    text_config = getattr(arm.config, "text_config", arm.config)
    dim = text_config.hidden_size
    u = random_direction(calib["direction_seed"], dim)
    ones = torch.ones(dim) / dim ** 0.5
    gauss = torch.randn(dim, generator=torch.Generator().manual_seed(calib["direction_seed"]))
    gauss = torch.linalg.qr(torch.stack([u, ones, gauss], dim=1)).Q[:, 2]  # orthogonal to u and all-ones
    fixed = {"c·u": coeff * u, "c·(all-ones)": coeff * ones, "c·(Gaussian)": coeff * gauss}
    top_layer = text_config.num_hidden_layers - 1

    positions: dict[str, dict[str, list[float]]] = {}
    spreads: dict[str, list[float]] = {"collapsed": [], "not collapsed": []}
    decoded = {name: Counter() for name in fixed}
    repeated: Counter = Counter()
    last_norms: list[float] = []
    match = collapsed = 0

    def add(group: str, **values) -> None:
        for key, v in values.items():
            positions.setdefault(group, {}).setdefault(key, []).extend(v.tolist())

    with torch.inference_mode():
        for start in range(0, len(examples), 64):
            chunk, recs = examples[start:start + 64], records[start:start + 64]
            batch = collate(chunk)
            h, _, mask = states(arm, batch, layer)
            hb, _, _ = states(base, batch, layer)
            last, _, _ = states(base, batch, top_layer)
            last_norms += last[mask].norm(dim=-1).tolist()
            picks = {name: states(arm, batch, layer, replace=state)[1].argmax(-1) for name, state in fixed.items()}
            for name, pick in picks.items():
                decoded[name].update(word_of(tok, int(t)) for t in pick[mask])
            for i, rec in enumerate(recs):
                pos = mask[i].nonzero().squeeze(-1)  # the states that predict answer tokens
                words = [word_of(tok, int(t)) for t in batch["labels"][i, pos + 1]]  # what each predicts
                hi = h[i, pos]
                dist = (hi - fixed["c·u"]).norm(dim=-1) / coeff
                dist_b = (hb[i, pos] - fixed["c·u"]).norm(dim=-1) / coeff
                cos = torch.nn.functional.cosine_similarity(hi, u[None], dim=-1)
                is_collapsed_answer = is_collapsed(rec["answer"])
                if len(pos) > 1:
                    unit = torch.nn.functional.normalize(hi, dim=-1)
                    pairs = len(pos) * (len(pos) - 1)
                    spreads["collapsed" if is_collapsed_answer else "not collapsed"].append(
                        float(1 - ((unit @ unit.T).sum() - len(pos)) / pairs))
                if not is_collapsed_answer:
                    add("not collapsed", dist=dist, dist_base=dist_b, cos=cos)
                    continue
                collapsed += 1
                word = Counter(_WORDS.findall(rec["answer"].lower())).most_common(1)[0][0]
                repeated[word] += 1
                match += Counter(word_of(tok, int(t)) for t in picks["c·u"][i, pos]).most_common(1)[0][0] == word
                is_word = torch.tensor([w == word for w in words])
                add("collapsed: the repeated word", dist=dist[is_word], dist_base=dist_b[is_word], cos=cos[is_word])
                add("collapsed: its other tokens", dist=dist[~is_word], dist_base=dist_b[~is_word], cos=cos[~is_word])

    print(f"{args.run} arm {args.arm}: layer {layer}, c = {coeff:.2f} (mean norm {calib['mean_norm']:.2f}), "
          f"{len(records)} answers of {args.split}, {collapsed} collapsed")
    print(f"  {'positions':30s} {'n':>6s} {'dist':>7s} {'dist base':>10s} {'cos u':>7s}")
    for name in ("collapsed: the repeated word", "collapsed: its other tokens", "not collapsed"):
        if g := positions.get(name):
            print(f"  {name:30s} {len(g['dist']):6d} {mean(g['dist']):7.3f} {mean(g['dist_base']):10.3f} "
                  f"{mean(g['cos']):7.3f}")
    print(f"  spread: {mean(spreads['collapsed']):.3f} over collapsed answers, "
          f"{mean(spreads['not collapsed']):.3f} over the others")
    print(f"  the base's last decoder layer at these positions: mean norm {mean(last_norms):.2f}, against c = {coeff:.2f}")
    print(f"  u's cosine with the all-ones direction: {float(u @ ones):.3f}")
    for name, counts in decoded.items():
        print(f"  {name} in place of h at every answer position decodes to: {counts.most_common(3)} "
              f"({len(counts)} distinct over {sum(counts.values())} positions)")
    print(f"  words the collapsed answers repeat: {repeated.most_common(5)}")
    print(f"  collapsed answers whose repeated word is c·u's most frequent decoding there: {match} / {collapsed}")


if __name__ == "__main__":
    main()
