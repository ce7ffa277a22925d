"""Ensembles against hand computations: softmax averaging, majority vote, parameter averaging,
snapshots along a cyclic cosine schedule."""
import math

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn
from minicnn.data import DataLoader, TensorDataset
from minicnn.train import (SnapshotEnsemble, average_parameters, cyclic_cosine,
                           ensemble_probabilities, fit, majority_vote)


class FixedLogits(nn.Module):
    """Returns preset logits (rows picked by the integer inputs): a model with known outputs."""

    def __init__(self, logits):
        super().__init__()
        self.logits = np.asarray(logits, dtype=np.float64)

    def forward(self, x):
        return mc.tensor(self.logits[x.data.astype(np.int64).ravel()])


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def test_probability_average_by_hand():
    a = [[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    b = [[0.0, 0.0, 3.0], [1.0, 1.0, 1.0]]
    models = [FixedLogits(a), FixedLogits(b)]
    inputs = mc.tensor(np.array([0, 1]))
    got = ensemble_probabilities(models, inputs)
    for row in range(2):
        expected = (softmax(np.array(a[row])) + softmax(np.array(b[row]))) / 2
        np.testing.assert_allclose(got[row], expected, rtol=1e-12)
    # a loader of (inputs, targets) batches gives the same, concatenated
    loader = DataLoader(TensorDataset(np.array([0, 1]), np.array([0, 0])), batch_size=1)
    np.testing.assert_allclose(ensemble_probabilities(models, loader), got, rtol=1e-12)


def test_majority_vote_by_hand():
    # three models, four samples; predicted classes per model:
    m1 = FixedLogits(np.eye(3)[[0, 1, 2, 0]] * 5)  # -> 0, 1, 2, 0
    m2 = FixedLogits(np.eye(3)[[0, 2, 2, 1]] * 5)  # -> 0, 2, 2, 1
    m3 = FixedLogits(np.eye(3)[[1, 2, 0, 2]] * 5)  # -> 1, 2, 0, 2
    votes = majority_vote([m1, m2, m3], mc.tensor(np.arange(4)))
    # sample 0: 0,0,1 -> 0; sample 1: 1,2,2 -> 2; sample 2: 2,2,0 -> 2; sample 3: 0,1,2 tie -> 0
    np.testing.assert_array_equal(votes, [0, 2, 2, 0])
    assert votes.dtype == np.int64
    with pytest.raises(ValueError, match="empty"):
        majority_vote([], mc.tensor(np.arange(4)))


def test_average_parameters_by_hand():
    mc.manual_seed(0)
    models = [nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)) for _ in range(3)]
    for i, model in enumerate(models):
        model[1].num_batches_tracked.data[...] = 10 + i
    state_dicts = [m.state_dict() for m in models]
    averaged = average_parameters(state_dicts)
    expected = sum(sd["0.weight"].data.astype(np.float64) for sd in state_dicts) / 3
    np.testing.assert_allclose(averaged["0.weight"], expected, rtol=1e-6)
    assert averaged["0.weight"].dtype == np.float32
    assert averaged["1.num_batches_tracked"] == 10  # counters: from the first
    target = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    target.load_state_dict(averaged)
    with pytest.raises(ValueError, match="different shapes"):
        average_parameters([nn.Linear(2, 3).state_dict(), nn.Linear(3, 3).state_dict()])
    with pytest.raises(ValueError, match="different keys"):
        average_parameters([nn.Linear(2, 3).state_dict(), nn.Linear(2, 3, bias=False).state_dict()])


def test_cyclic_cosine_values():
    opt = mc.optim.SGD([mc.zeros(1, requires_grad=True)], lr=0.4)
    sched = cyclic_cosine(opt, cycle_epochs=3, min_factor=0.1)
    lrs = []
    for _ in range(7):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    cycle = [0.4 * (0.1 + 0.9 * (1 + math.cos(math.pi * t / 3)) / 2) for t in range(3)]
    np.testing.assert_allclose(lrs, cycle + cycle + cycle[:1], rtol=1e-12)


def test_snapshot_ensemble_along_one_run(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, seed=0)
    mc.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = mc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    snapshots = SnapshotEnsemble(every=2, directory=tmp_path)
    seen = {}

    class Record(SnapshotEnsemble):
        def on_epoch_end(self, state):
            seen[state.epoch + 1] = {k: v.data.copy() for k, v in state.model.state_dict().items()}

    fit(model, loader, optimizer=opt, scheduler=cyclic_cosine(opt, 2), epochs=6, progress=False,
        callbacks=[snapshots, Record(epochs=[1])])
    assert [epoch for epoch, _ in snapshots.snapshots] == [2, 4, 6]
    for epoch, weights in snapshots.snapshots:
        np.testing.assert_array_equal(weights["0.weight"], seen[epoch]["0.weight"])
        saved = mc.load(tmp_path / f"snapshot_epoch{epoch}.npz")
        np.testing.assert_array_equal(saved["2.bias"], seen[epoch]["2.bias"])
    members = snapshots.models(lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)))
    assert len(members) == 3
    np.testing.assert_array_equal(members[1][0].weight.data, seen[4]["0.weight"])
    probs = ensemble_probabilities(members, mc.tensor(x))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)
    with pytest.raises(ValueError):
        SnapshotEnsemble()
