"""The vectorized bootstrap interval against its pure-Python definition."""

from __future__ import annotations

import math
import random

import pytest

from unmirage.eval.metrics import bootstrap_ci


def _loop(values: list[float], seed: int, n: int, level: float) -> list[float]:
    """The definition: `n` resamples drawn by `random.Random(seed).choices`, summed left to right."""
    rng = random.Random(seed)
    k = len(values)
    means = []
    for _ in range(n):
        total = 0.0
        for v in rng.choices(values, k=k):
            total += v
        means.append(total / k)
    means.sort()
    return [means[int((1 - level) / 2 * n)], means[min(n - 1, int((1 + level) / 2 * n))]]


@pytest.mark.parametrize("trial", range(40))
def test_the_interval_of_the_definition_to_the_bit(trial):
    rng = random.Random(trial)
    k = rng.randint(1, 200)
    pool = [0.0, 1.0] if trial % 3 else [0.0, 1.0, 1 / 3, 2 / 3, rng.random(), -rng.random()]  # verdicts, fractions
    values = [rng.choice(pool) for _ in range(k)]
    seed = [0, rng.randint(1, 10**6), rng.randint(2**32, 2**70), -rng.randint(1, 2**40)][trial % 4]
    n, level = rng.choice([(1000, 0.95), (200, 0.9), (1, 0.95)])
    assert bootstrap_ci(values, seed, n, level) == _loop(values, seed, n, level)


@pytest.mark.parametrize("values", [[2.0 ** 53] + [1.0] * 15, [1e16, 1.0, 3.0, -1e16] * 4, [10 ** 15, 1, 3] * 4])
def test_large_whole_numbers_are_summed_as_the_loop_sums_them(values):
    for seed in range(30):
        assert bootstrap_ci(values, seed, 1) == _loop(values, seed, 1, 0.95)


def test_resamples_drawn_in_blocks_are_the_same_draws(monkeypatch):
    from unmirage.eval import metrics

    values = [float(i % 3 == 0) for i in range(50)] + [0.5]
    whole = bootstrap_ci(values, 7, 40)
    monkeypatch.setattr(metrics, "_DRAWS_PER_BLOCK", 120)  # two resamples a block
    assert bootstrap_ci(values, 7, 40) == whole == _loop(values, 7, 40, 0.95)


def test_a_seed_that_is_not_an_integer_is_refused():
    with pytest.raises(TypeError, match="integer"):
        bootstrap_ci([1.0, 0.0], seed=2.5)


def test_the_interval_holds_the_mean_and_narrows_with_more_units():
    wide = bootstrap_ci([1.0, 0.0] * 10, seed=3)
    narrow = bootstrap_ci([1.0, 0.0] * 500, seed=3)
    assert wide[0] < 0.5 < wide[1] and narrow[0] < 0.5 < narrow[1]
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    assert all(math.isnan(x) for x in bootstrap_ci([], seed=0))  # nothing to count
