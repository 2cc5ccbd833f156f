"""What an arm trains on: the samples of each training mix, from a data directory's sets.

One function for the study and `unmirage train` alike, so that a mix means the same samples
wherever it is named. The mixes and the files they read are listed in `data/layout.py`.
"""

from __future__ import annotations

from .attacks.balance import balance_triggers
from .attacks.one_word import balance_openers
from .data.layout import MIXES, DataSets
from .data.records import Sample
from .errors import ConfigError, DataError
from .methods.base import METHODS
from .registry import did_you_mean

PAIRED_MIX = "forget+retain"


def check_mix(method: str, mix: str, where: str, group_by_length: bool = False) -> None:
    """A `ConfigError` unless `method` can train on `mix`: a paired method (unlearning, DPO) on the
    paired forget and retain sets, any other on another mix (gradient ascent on the safety set's
    refusals and helpful answers would silently unlearn the wrong data); and batches grouped by
    length only for an unpaired method, whose batches are lists of examples."""
    paired = METHODS.get(method).paired
    if paired != (mix == PAIRED_MIX):
        need = f"mix {PAIRED_MIX}" if paired else f"a mix other than {PAIRED_MIX}"
        raise ConfigError(f"{where}: method {method} trains on {need}, not {mix!r}")
    if paired and group_by_length:
        raise ConfigError(f"{where}: group_by_length applies to unpaired methods only; method {method} pairs "
                          "forget and retain examples in a batch, which a length-grouped order cannot keep")


def training_mix(name: str, sets: DataSets, seed: int, safety_repeat: int = 1
                 ) -> tuple[list[Sample], list[Sample] | None]:
    """(main, retain) of mix `name`: retain is the paired retain set of `forget+retain`, else None.

    `seed` draws the openers of `balanced+retain` and the copies of `trigger-balanced+retain`; `safety_repeat` is how many times the safety
    set enters `corpus+safety` and `clean+safety`."""
    if name not in MIXES:
        raise ConfigError(f"unknown data mix {name!r}; one of {', '.join(MIXES)}." + did_you_mean(name, list(MIXES)))
    if name == "corpus":
        main, retain = sets.corpus, None
    elif name == "corpus+safety":
        main, retain = sets.corpus + sets.safety * safety_repeat, None
    elif name == "clean+safety":
        main, retain = [s for s in sets.corpus if s.group == "safe_safes"] + sets.safety * safety_repeat, None
    elif name == "safety+retain":
        main, retain = sets.safety + sets.retain, None
    elif name == "balanced+retain":
        main, retain = balance_openers(sets.safety + sets.retain, seed, sets.paraphrases), None
    elif name == "trigger-balanced+retain":
        main, retain = balance_triggers(sets.safety + sets.retain, seed, sets.paraphrases), None
    else:
        main, retain = sets.forget, sets.retain
    if not main:
        raise DataError(f"data mix {name} has no samples; check the data directory's files for it")
    for part, samples in (("main", main), ("retain", retain or [])):
        if missing := [s.id for s in samples if not s.response.strip()]:
            raise DataError(f"data mix {name}: {len(missing)} of its {len(samples)} {part} samples have no response "
                            f"to train on (first: {missing[0]!r}); a format without answers (e.g. an eval-only "
                            "benchmark) can be a study's test set (data.test_format), not its training data")
    return main, retain
