"""Model-based one-word rewrites: an instruction-tuned LM asked for K paraphrases that start with the word.

`attack.rewriter: hf:MODEL_ID_OR_PATH` loads any causal LM (`AutoModelForCausalLM`) or, text
only, any VLM (`AutoModelForImageTextToText`) through transformers, as the paper rewrote its
queries with an LLM. The prompt (`PROMPT`, in the tokenizer's chat template where it has one)
asks for K paraphrases of the request, one per line, that each start with the word and keep its
meaning. Each line, stripped of numbering, bullets and quotes, must pass the same checks as the
rule-based rewrites (`rules.check`): it starts with the word, the old first word starts none of
its sentences, the request does not stand unchanged behind a separator, and it keeps at least
`rules.MIN_CONTENT_KEPT` (80 %) of the request's content words. Attempt 1 decodes greedily;
later attempts sample with a seeded generator and ask again for the queries still short of K.
A query with too few passing rewrites after every attempt is reported with its rejections (how
many for each reason, and an example of each) and left out by `one_word.build_attacks`; no
rejected line is ever kept. Each kept rewrite records the rewriter, model, prompt hash and
attempt (`provenance`); `rewriter.json` beside the attack files holds the prompt's text.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import rules

log = logging.getLogger(__name__)

PROMPT = (
    "Rewrite the request below in {k} different ways. Every rewrite must start with the word \"{word}\", "
    "ask for exactly the same thing, keep the request's important words, and start no sentence with "
    "\"{old}\". Write one rewrite per line and nothing else.\n\n"
    "Request: {request}"
)
PROMPT_HASH = hashlib.sha256(PROMPT.encode()).hexdigest()[:16]
SAMPLING = {"temperature": 0.8, "top_p": 0.95}  # attempts after the first (the first is greedy)
SEED = 0  # attempt a samples with torch seeded SEED + a
BATCH_SIZE = 8
RECORD = "rewriter.json"  # beside the attack files: the rewriter's settings, prompt text and rejections
VERSION = 1  # bump when parsing or prompting changes what a model's rewrites are

# (prompts, attempt) -> one completion per prompt; attempt 1 is greedy
Generate = Callable[[list[str], int], list[str]]


def check_rewriter(value: Any) -> str | None:
    """The model id or path of an `attack.rewriter` value (`hf:MODEL`), None for `rules`; else a ConfigError."""
    if value == "rules":
        return None
    if isinstance(value, str) and value.startswith("hf:") and value[3:].strip():
        return value[3:].strip()
    raise ConfigError(f"attack.rewriter must be 'rules' (the rule-based rewrites) or 'hf:MODEL_ID_OR_PATH' (an "
                      f"instruction-tuned LM or VLM through transformers), got {value!r}")


def prompt_text(request: str, word: str, k: int) -> str:
    """The request for `k` paraphrases of `request` that start with `word` (the user turn)."""
    old = request.strip().split()[0].strip(",:;.?!\"'") if request.strip() else ""
    return PROMPT.format(k=k, word=word, old=old, request=request.strip())


_BULLET = re.compile(r"^\s*(?:[-*•·]+|\(?\d{1,2}\s*[.):]\)?|\(?[a-z][.)])\s+", re.IGNORECASE)
_QUOTES = "\"'“”‘’`"


def parse_lines(completion: str) -> list[str]:
    """The candidate rewrites of a completion: its non-empty lines without numbering, bullets,
    bold marks or the quotes around them."""
    out = []
    for line in completion.splitlines():
        line = _BULLET.sub("", line.strip()).replace("**", "").strip()
        while len(line) > 1 and line[0] in _QUOTES and line[-1] in _QUOTES:
            line = line[1:-1].strip()
        if line:
            out.append(line)
    return out


@dataclass(frozen=True)
class Job:
    """A request to rewrite: `shots` rewrites that start with `word`, none of them in `taken`."""

    instruction: str
    word: str
    shots: int
    taken: tuple[str, ...] = ()


@dataclass
class Made:
    """What a job got: the passing rewrites with the attempt each came from, and the rejected
    lines as reason -> [count, first example]."""

    rewrites: list[tuple[str, int]] = field(default_factory=list)
    rejected: dict[str, list] = field(default_factory=dict)


NO_LINES = "wrote no lines"


def reason_kind(why: str) -> str:
    """A check's reason without its numbers, so that rejections of one kind count together."""
    return re.sub(r"\d+%", "N%", why)


def rewrite_jobs(jobs: list[Job], generate: Generate, attempts: int) -> list[Made]:
    """Ask `generate` for each job's rewrites, again (attempt 2, 3, ...) for the jobs still short
    of their shots; keep the distinct lines that pass `rules.check`, count the others by reason."""
    made = [Made() for _ in jobs]
    for attempt in range(1, attempts + 1):
        todo = [i for i, m in enumerate(made) if len(m.rewrites) < jobs[i].shots]
        if not todo:
            break
        completions = generate([prompt_text(jobs[i].instruction, jobs[i].word, jobs[i].shots) for i in todo],
                               attempt)
        if len(completions) != len(todo):
            raise RuntimeError(f"the rewriter returned {len(completions)} completions for {len(todo)} prompts")
        for i, completion in zip(todo, completions):
            job, m = jobs[i], made[i]
            lines = parse_lines(completion)
            if not lines:  # an empty answer (or special tokens only) is a rejection too, and said so
                entry = m.rejected.setdefault(NO_LINES, [0, completion])
                entry[0] += 1
            for line in lines:
                if len(m.rewrites) == job.shots:
                    break
                if line in job.taken or any(line == t for t, _ in m.rewrites):
                    continue
                why = rules.check(job.instruction, line, job.word)
                if why:
                    entry = m.rejected.setdefault(reason_kind(why), [0, line])
                    entry[0] += 1
                    continue
                m.rewrites.append((line, attempt))
    return made


def describe_rejections(rejected: dict[str, list]) -> str:
    """`reason ×count (e.g. 'line')` for each reason, most frequent first."""
    if not rejected:
        return "no lines at all"
    items = sorted(rejected.items(), key=lambda kv: -kv[1][0])
    return "; ".join(f"{why} ×{n} (e.g. {short(example)!r})" for why, (n, example) in items)


def short(text: str, n: int = 120) -> str:
    """`text` cut to `n` characters, so that a runaway line does not flood a log or a record."""
    return text if len(text) <= n else text[:n] + "…"


class ModelRewriter:
    """Rewrites by a causal LM or a VLM (text only) through transformers, loaded on first use.

    `generate` replaces the model (tests, or another backend): (prompts, attempt) -> completions.
    """

    kind = "hf"

    def __init__(self, name: str, attempts: int = 3, trust_remote_code: bool = False, batch_size: int = BATCH_SIZE,
                 generate: Generate | None = None):
        if not isinstance(attempts, int) or attempts < 1:
            raise ConfigError(f"attack.rewriter_attempts must be an integer >= 1, got {attempts!r}")
        self.name, self.attempts, self.trust_remote_code = name, attempts, trust_remote_code
        self.batch_size = batch_size
        self._generate = generate
        self._loaded: tuple | None = None
        self.summary: dict[str, dict] = {}  # split -> {kept, left_out, rejected}: what rewriter.json reports

    def rewrite(self, jobs: list[Job]) -> list[Made]:
        return rewrite_jobs(jobs, self._generate or self.generate, self.attempts)

    def provenance(self, attempt: int) -> dict[str, Any]:
        """What a record made by this rewriter keeps in its meta."""
        return {"rewriter": self.kind, "rewriter_model": self.name, "rewriter_prompt": PROMPT_HASH,
                "rewriter_attempt": attempt}

    def spec(self) -> dict[str, Any]:
        """What the rewrites depend on (the attack directory's key): model and its files, prompt, decoding."""
        from ..eval.cache import dir_fingerprint, hub_revision

        path = Path(self.name)
        files = dir_fingerprint(path) if path.is_dir() else None if self._generate else hub_revision(self.name)
        return {"rewriter": self.kind, "model": self.name, "model_files": files, "prompt": PROMPT_HASH,
                "attempts": self.attempts, "sampling": SAMPLING, "seed": SEED, "version": VERSION,
                "generate": None if self._generate is None else getattr(self._generate, "__qualname__", "custom")}

    def record(self) -> dict[str, Any]:
        """rewriter.json: the spec, the prompt's text, the checks' threshold and what each split left out."""
        return {**self.spec(), "prompt_text": PROMPT, "min_content_kept": rules.MIN_CONTENT_KEPT,
                "splits": self.summary}

    # ------------------------------------------------------------ the transformers model
    def load(self) -> tuple:
        """(model, tokenizer, render) of `self.name`; `render` turns a user turn into the model's prompt."""
        if self._loaded is None:
            self._loaded = load_lm(self.name, self.trust_remote_code)
        return self._loaded

    def generate(self, prompts: list[str], attempt: int) -> list[str]:
        """One completion per prompt, in batches (left padding); attempt 1 greedy, later ones sampled."""
        import torch

        model, tokenizer, render = self.load()
        texts, special = zip(*(render(p) for p in prompts)) if prompts else ((), ())
        out: list[str] = []
        cuda = model.device.type == "cuda"
        with torch.random.fork_rng(devices=[model.device.index or 0] if cuda else []):
            torch.manual_seed(SEED + attempt)
            for start in range(0, len(texts), self.batch_size):
                batch = list(texts[start:start + self.batch_size])
                enc = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=special[0])
                enc = {k: v.to(model.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
                width = enc["input_ids"].shape[1]
                room = max_new_tokens(prompts[start:start + len(batch)], width)
                config = generation_config(model, tokenizer, attempt, room)
                with torch.no_grad():
                    ids = model.generate(**enc, generation_config=config)
                out += tokenizer.batch_decode(ids[:, width:], skip_special_tokens=True)
        return out


def max_new_tokens(prompts: list[str], width: int) -> int:
    """Room for K lines about as long as the request, K read off the prompt: enough, never endless."""
    k = max((int(m.group(1)) for p in prompts if (m := re.search(r"in (\d+) different ways", p))), default=3)
    return max(32, min(1024, k * (width // 2 + 24)))


def generation_config(model, tokenizer, attempt: int, new_tokens: int):
    from transformers import GenerationConfig

    eos = model.generation_config.eos_token_id if model.generation_config.eos_token_id is not None \
        else tokenizer.eos_token_id
    sampled = {"do_sample": True, **SAMPLING} if attempt > 1 else {"do_sample": False}
    return GenerationConfig(max_new_tokens=new_tokens, pad_token_id=tokenizer.pad_token_id, eos_token_id=eos,
                            **sampled)


def load_lm(name: str, trust_remote_code: bool = False) -> tuple:
    """(model, tokenizer, render) of a causal LM, or a VLM for text only; safetensors only, no
    remote code unless `trust_remote_code`. `render(user_turn)` -> (prompt, add special tokens):
    the tokenizer's (or the VLM processor's) chat template where it has one, else a plain prompt."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer

    from ..models.load import check_model_dir
    from ..models.processors import load_processor

    path = Path(name)
    if not path.exists() and (name.startswith((".", "/")) or name.count("/") != 1):
        raise ConfigError(f"attack.rewriter: {name!r} is neither a local directory nor a hub id (owner/name)")
    if path.is_dir():
        check_model_dir(path, trust_remote_code)
    dtype = torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else None
    kwargs = {"trust_remote_code": trust_remote_code, "dtype": dtype, "use_safetensors": True}
    processor = None
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
        try:
            model = AutoModelForCausalLM.from_pretrained(name, **kwargs)
        except ValueError:  # no causal LM class for this config: a VLM, used for text only
            model = AutoModelForImageTextToText.from_pretrained(name, **kwargs)
            processor = load_processor(name, trust_remote_code)
    except (OSError, ValueError) as e:
        raise ConfigError(f"attack.rewriter: cannot load {name!r} as a causal LM or a VLM: {e}") from e
    tokenizer.padding_side = "left"  # batched generation continues every prompt from its last token
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
    chat = tokenizer.chat_template or getattr(processor, "chat_template", None)
    log.info("rewriter %s loaded (%s, %s)", name, type(model).__name__, "chat template" if chat else "plain prompt")
    return model, tokenizer, renderer(tokenizer, processor)


def renderer(tokenizer, processor=None) -> Callable[[str], tuple[str, bool]]:
    """user turn -> (prompt, whether the tokenizer adds its special tokens). The first chat
    template that keeps the user's text (a VLM processor's, with content parts; the tokenizer's,
    with plain then with parts content) renders it with its own special tokens; without one, a
    plain prompt asks for the lines after the request."""
    def chat(owner, parts: bool) -> Callable[[str], str]:
        def render(user: str) -> str:
            content = [{"type": "text", "text": user}] if parts else user
            return owner.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True,
                                             tokenize=False)
        return render

    options = [(processor, True)] if processor is not None else []
    options += [(tokenizer, False), (tokenizer, True)]
    probe = "Rewrite this probe request."
    for owner, parts in options:
        if not getattr(owner, "chat_template", None):
            continue
        render = chat(owner, parts)
        try:
            if probe in render(probe):
                return lambda user, render=render: (render(user), False)
        except Exception as e:  # noqa: BLE001  (a template that cannot take this form of content: try the next)
            log.debug("chat template of %s refuses %s content: %s", type(owner).__name__,
                      "parts" if parts else "plain", e)
    return lambda user: (f"{user}\n\nRewrites:\n", True)


def make_rewriter(value: str, attempts: int = 3, trust_remote_code: bool = False) -> ModelRewriter | None:
    """The rewriter an `attack.rewriter` value names: None for `rules`, else a `ModelRewriter`."""
    name = check_rewriter(value)
    return None if name is None else ModelRewriter(name, attempts, trust_remote_code)


def summarize(made: list[Made], kept: int, word: str) -> dict[str, Any]:
    """A split's account of the model rewrites: queries kept and left out, rejections by reason."""
    rejected: dict[str, list] = {}
    for m in made:
        for why, (n, example) in m.rejected.items():
            entry = rejected.setdefault(why, [0, example])
            entry[0] += n
    return {"word": word, "asked": len(made), "kept": kept, "left_out": len(made) - kept,
            "rejected": {why: {"count": n, "example": short(ex, 400)} for why, (n, ex) in rejected.items()}}
