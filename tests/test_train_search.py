"""Random search: sampling distributions, coarse-to-fine stages, sorting, edge warnings."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicnn.train import (Choice, LogUniform, RangeEdgeWarning, TrainingDiverged, Uniform,
                           random_search)


@settings(max_examples=20, deadline=None)
@given(low_exp=st.floats(-6, -1), decades=st.floats(0.5, 4), seed=st.integers(0, 1000))
def test_log_uniform_samples_stay_in_range_and_are_uniform_in_log(low_exp, decades, seed):
    low, high = 10 ** low_exp, 10 ** (low_exp + decades)
    dist = LogUniform(low, high)
    rng = np.random.default_rng(seed)
    samples = np.array([dist.sample(rng) for _ in range(2000)])
    assert samples.min() >= low * (1 - 1e-12) and samples.max() <= high * (1 + 1e-12)
    # uniform in log space: the fraction below the geometric mean is about 1/2, not ~0
    below = np.mean(samples < math.sqrt(low * high))
    assert abs(below - 0.5) < 0.06
    positions = np.array([dist.position(s) for s in samples])
    assert abs(positions.mean() - 0.5) < 0.03


def test_sampling_is_seeded_and_uniform_is_linear():
    dist = Uniform(-1.0, 3.0)
    a = [dist.sample(np.random.default_rng(5)) for _ in range(3)]
    b = [dist.sample(np.random.default_rng(5)) for _ in range(3)]
    assert a == b
    assert dist.position(1.0) == pytest.approx(0.5)
    assert LogUniform(1e-4, 1e-2).position(1e-3) == pytest.approx(0.5)
    narrowed = LogUniform(1e-4, 1e-0).narrowed(1e-2, 0.25)  # 4 decades -> 1, centred on 1e-2
    assert narrowed.low == pytest.approx(10 ** -2.5) and narrowed.high == pytest.approx(10 ** -1.5)
    edge = LogUniform(1e-4, 1e-0).narrowed(1e-4, 0.25)  # kept inside the original range
    assert edge.low == pytest.approx(1e-4) and edge.high == pytest.approx(1e-3)
    with pytest.raises(ValueError):
        LogUniform(0.0, 1.0)
    with pytest.raises(ValueError):
        Uniform(2.0, 1.0)


def peaked(best_lr, best_wd=1e-4):
    """A fake train_fn: accuracy falls with the squared log-distance from the best values."""
    calls = []

    def train_fn(params, epochs):
        calls.append((dict(params), epochs))
        distance = (math.log10(params["lr"] / best_lr)) ** 2 + 0.1 * (math.log10(params["wd"] / best_wd)) ** 2
        return {"val_acc": 0.99 - 0.1 * distance + 0.001 * epochs, "val_loss": distance}
    return train_fn, calls


def test_coarse_then_fine_sorted_by_validation_accuracy():
    train_fn, calls = peaked(best_lr=3e-3)
    space = {"lr": LogUniform(1e-5, 1.0), "wd": LogUniform(1e-6, 1e-2)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the optimum is inside: no edge warning
        result = random_search(train_fn, space, trials=10, fine_trials=5, seed=0,
                               coarse_epochs=1, fine_epochs=3)
    rows = result.rows
    assert len(rows) == 15 and [r["stage"] for r in rows].count("fine") == 5
    accuracies = [r["val_acc"] for r in rows]
    assert accuracies == sorted(accuracies, reverse=True)
    assert [epochs for _, epochs in calls] == [1] * 10 + [3] * 5
    # the fine trials lie in a range a quarter as wide (in log space), around the best coarse lr
    coarse = [r for r in rows if r["stage"] == "coarse"]
    best_coarse = max(coarse, key=lambda r: r["val_acc"])
    for params, _ in calls[10:]:
        assert abs(math.log10(params["lr"] / best_coarse["lr"])) <= 5 * 0.25 / 2 + 1e-9
    assert result.best is rows[0]
    table = result.table().splitlines()
    assert "rank" in table[0] and "lr" in table[0] and "val_acc" in table[0]
    assert len(table) == 2 + 15
    # the same seed gives the same search
    again = random_search(peaked(3e-3)[0], space, trials=10, fine_trials=5, seed=0, fine_epochs=3)
    assert [r["lr"] for r in again.rows] == [r["lr"] for r in rows]


def test_warns_when_the_best_value_is_at_the_edge():
    train_fn, _ = peaked(best_lr=1e-6)  # below the range searched
    space = {"lr": LogUniform(1e-5, 1.0), "wd": LogUniform(1e-6, 1e-2)}
    with pytest.warns(RangeEdgeWarning, match="lr=.*lower edge"):
        result = random_search(train_fn, space, trials=12, fine_trials=4, seed=1)
    assert any("lr" in message for message in result.warnings)
    assert math.log10(result.best["lr"] / 1e-5) < 0.1 * 5  # within the outer 10% of 5 decades


def test_diverged_trials_are_kept_and_sorted_last():
    def train_fn(params, epochs):
        if params["lr"] > 0.1:
            raise TrainingDiverged("loss became nan")
        return params["lr"]  # a bare float is the metric
    result = random_search(train_fn, {"lr": LogUniform(1e-3, 10.0), "mode": Choice(["a", "b"])},
                           trials=12, fine_trials=0, seed=3)
    statuses = [r["status"] for r in result.rows]
    assert "diverged" in statuses and statuses == sorted(statuses, key=lambda s: s != "ok")
    assert all(math.isnan(r["val_acc"]) for r in result.rows if r["status"] == "diverged")
    assert result.rows[0]["mode"] in ("a", "b")
    with pytest.raises(ValueError):
        random_search(train_fn, {}, trials=2)
