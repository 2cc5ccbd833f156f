"""What every attack is: a small registered class that a study runs on every arm, SFT and
unlearning alike, named in the config's `attacks:` block with its parameters.

An attack does one or both of:

- `splits`: attacked queries built once from the test set, before any arm (the one-word
  attack's rewrites, the prefilling attack's prefilled answers). The study's runner answers and
  judges them with every other split, so they share its cache, its resume and its metrics;
- `measure`: per-arm measurements that need the arm's model itself (relearning fine-tunes a copy
  of it; alignment depth compares it with the base model). They return contract keys
  (`results.py`) and write their answers under the arm's eval directory.

The paper's one-word attack is registered as `one_word` (`attacks/one_word.py`) with the config's
`attack:` block as its parameters: it always runs, its words (chosen by the audit) decide the
headline, and the study writes its splits to `attacks/`. The other registered attacks run when
the `attacks:` block names them, e.g. `attacks: {prefill: {tokens: [1, 2, 3]}}`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from ..config import EvalConfig, ModelConfig, from_dict
from ..errors import ConfigError
from ..data.records import Sample
from ..registry import Registry

if TYPE_CHECKING:
    from ..data.layout import DataSets
    from ..judges import Judge


@dataclass
class NoParams:
    pass


@dataclass
class QueryContext:
    """What an attack builds its queries from: the test set, the judge (the world's oracle knows
    compliant answers), the chosen words and the data's other sets; the image root (where an
    attack that changes images writes its copies) and the world's facts.json (None: real data)."""

    test: list[Sample]
    judge: "Judge"
    words: dict
    sets: "DataSets"
    image_root: Path | None = None
    facts: dict | None = None


@dataclass
class ArmContext:
    """What a per-arm attack measures with: the arm's model (and `load()` for a fresh copy of it,
    `model_key` for what it was made from), the study's sets and judge, and where it writes.
    `evaluate(model, processor, splits, out_dir)` answers and judges splits as the study does;
    `residual(model, processor, unsafe)` scores residual knowledge; `train(model, processor, arm,
    samples, out_dir)` trains and saves as the study's arms do; `base()` loads the base model."""

    arm: str
    model: Any
    processor: Any
    model_key: str
    test: list[Sample]
    sets: "DataSets"
    judge: "Judge"
    image_root: Path
    out_dir: Path
    eval: EvalConfig
    model_cfg: ModelConfig
    seed: int
    load: Callable[[], tuple[Any, Any]]
    evaluate: Callable[..., dict]
    residual: Callable[..., dict]
    train: Callable[..., Any]
    base: Callable[[], tuple[Any, Any]]
    is_base: bool = False


class Attack:
    """Base class: its parameters (a dataclass, checked like the rest of the config) and hooks."""

    name: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams
    needs_base: ClassVar[bool] = False  # compares each arm with the base model (the study must train it)

    def __init__(self, params: dict[str, Any] | None = None):
        self.params = from_dict(self.Params, params or {}, f"attacks.{self.name}")

    def splits(self, ctx: QueryContext) -> dict[str, list[Sample]]:
        """Attacked queries for the study's runner to answer with every arm (none by default)."""
        return {}

    def prepare(self, ctx: QueryContext) -> None:
        """Check what a per-arm attack needs and build what does not depend on the arm, once,
        before any arm is trained: bad input fails here, not after the first arm."""

    def measure(self, ctx: ArmContext) -> dict[str, float]:
        """Per-arm metrics that need the arm's model (none by default)."""
        return {}

    def spec(self) -> dict:
        """What decides this attack's results (recorded with them)."""
        return {"attack": self.name, "params": dataclasses.asdict(self.params)}


ATTACKS: Registry[type[Attack]] = Registry("attack")


ALWAYS = "one_word"  # the study's own attack: it always runs, with the config's `attack:` block


def make_attacks(config: dict[str, dict[str, Any]]) -> list[Attack]:
    """The attacks an `attacks:` block names, each with its parameters checked (in the block's order)."""
    if ALWAYS in config:
        raise ConfigError(f"attacks.{ALWAYS}: the one-word attack always runs; set it in the `attack:` block")
    return [ATTACKS.get(name)(params) for name, params in config.items()]
