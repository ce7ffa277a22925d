"""Monitors against NumPy: activation statistics through hooks, update/weight ratios."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn
from minicnn.data import DataLoader, TensorDataset
from minicnn.train import (ActivationMonitor, UpdateRatioMonitor, activation_stats, fit,
                           tensor_stats)


def model_and_input():
    mc.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    x = np.random.default_rng(1).standard_normal((40, 6)).astype(np.float32)
    return model, x


def numpy_forward(model, x):
    w1, b1 = model[0].weight.data.astype(np.float64), model[0].bias.data.astype(np.float64)
    w2, b2 = model[2].weight.data.astype(np.float64), model[2].bias.data.astype(np.float64)
    h = x.astype(np.float64) @ w1.T + b1
    r = np.maximum(h, 0)
    return {"0": h, "1": r, "2": r @ w2.T + b2}


def test_activation_stats_match_numpy():
    model, x = model_and_input()
    stats = activation_stats(model, mc.tensor(x), sample_size=50)
    expected = numpy_forward(model, x)
    assert list(stats) == ["0", "1", "2"]
    for name, values in expected.items():
        assert stats[name]["mean"] == pytest.approx(values.mean(), rel=1e-5, abs=1e-6)
        assert stats[name]["std"] == pytest.approx(values.std(), rel=1e-5)
        assert stats[name]["frac_zero"] == pytest.approx(np.mean(values == 0))
        sample = stats[name]["sample"]
        assert sample.shape == (min(50, values.size),)
        assert np.isin(np.round(sample, 4), np.round(values.ravel(), 4)).all()
    assert stats["1"]["frac_zero"] > 0.2  # ReLU zeros half of its inputs or so


def test_hooks_are_removed():
    model, x = model_and_input()
    with ActivationMonitor(model, layers=["1"]) as monitor:
        model(mc.tensor(x))
        first = monitor.stats["1"]["mean"]
    model(mc.tensor(x * 3))  # after the block: not recorded
    assert monitor.stats["1"]["mean"] == first and list(monitor.stats) == ["1"]
    assert all(len(m._forward_hooks) == 0 for m in model.modules())
    with pytest.raises(ValueError, match="no module named"):
        ActivationMonitor(model, layers=["5"])


def test_tensor_stats_does_not_touch_minicnn_rng():
    mc.manual_seed(3)
    expected = mc.randn(3).data
    mc.manual_seed(3)
    tensor_stats(np.arange(10000.0), sample_size=10)
    np.testing.assert_array_equal(mc.randn(3).data, expected)


def test_update_ratios_match_the_sgd_formula():
    # plain SGD: w_new - w_old = -lr * g, so ratio = lr * ||g|| / ||w_old||
    model, x = model_and_input()
    y = np.random.default_rng(2).integers(0, 3, size=40)
    monitor = UpdateRatioMonitor(model)
    lr = 0.05
    grads, weights = [], []

    class Grab(UpdateRatioMonitor):
        def on_before_optimizer_step(self, state):
            grads.append(model[0].weight.grad.data.astype(np.float64).copy())
            weights.append(model[0].weight.data.astype(np.float64).copy())

        def on_step_end(self, state):
            pass

    loader = DataLoader(TensorDataset(x, y), batch_size=20)
    fit(model, loader, optimizer=mc.optim.SGD(model.parameters(), lr=lr), epochs=1,
        callbacks=[Grab(model), monitor], progress=False)
    assert list(monitor.ratios) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(monitor.ratios["0.weight"]) == 2
    for step in range(2):
        expected = lr * np.linalg.norm(grads[step]) / np.linalg.norm(weights[step])
        assert monitor.ratios["0.weight"][step] == pytest.approx(expected, rel=1e-4)


def test_update_ratio_by_hand_calls():
    w = mc.tensor(np.array([3.0, 4.0]), requires_grad=True)  # ||w|| = 5
    layer = nn.Linear(2, 1, bias=False)
    layer.weight.data[...] = w.data
    monitor = UpdateRatioMonitor(layer)
    monitor.before_step()
    layer.weight.data[...] += np.array([0.3, 0.4], dtype=np.float32)  # ||dw|| = 0.5
    monitor.after_step()
    assert monitor.ratios["weight"] == [pytest.approx(0.1, rel=1e-6)]
