"""fit / evaluate / predict, History, the divergence guard, callbacks and scheduler stepping.

References are independent: NumPy forward passes for evaluate/predict, closed-form
learning rates, hand-made loss sequences for the guard.
"""
import math

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn
from minicnn.data import DataLoader, TensorDataset
from minicnn.train import (Callback, DivergenceGuard, EarlyStopping, History, LambdaCallback,
                           TrainingDiverged, evaluate, fit, predict)


def blobs(n=120, seed=0):
    """Three well separated Gaussian blobs in 4-D -> (x float32 (n, 4), y int64 (n,))."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    centers = np.array([[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0]], dtype=np.float32)
    x = centers[y] + 0.5 * rng.standard_normal((n, 4)).astype(np.float32)
    return x.astype(np.float32), y.astype(np.int64)


def mlp(seed=0):
    mc.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))


def test_fit_reduces_loss_and_fills_history():
    x, y = blobs()
    train = DataLoader(TensorDataset(x[:90], y[:90]), batch_size=16, shuffle=True, seed=0)
    val = DataLoader(TensorDataset(x[90:], y[90:]), batch_size=64)
    model = mlp()
    opt = mc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = fit(model, train, val, opt, epochs=5, progress=False)

    assert isinstance(history, History)
    steps = 5 * len(train)  # 6 batches per epoch (90 / 16, last one partial)
    assert len(history.step_loss) == len(history.step_lr) == steps
    for field in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time", "images_per_s"):
        assert len(getattr(history, field)) == 5, field
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.val_acc[-1] > 0.9
    assert history.lr == [0.1] * 5 and history.step_lr == [0.1] * steps
    assert all(t > 0 for t in history.epoch_time) and all(r > 0 for r in history.images_per_s)
    assert history.stop_reason is None
    # train_loss is the sample-weighted mean of the step losses of the epoch
    sizes = [16] * 5 + [10]
    first_epoch = np.dot(history.step_loss[:6], sizes) / 90
    assert history.train_loss[0] == pytest.approx(first_epoch, rel=1e-9)


def test_history_dict_and_json_round_trip(tmp_path):
    history = History()
    history.step_loss = [2.0, 1.5, float("nan")]
    history.step_lr = [0.1, 0.1, 0.1]
    history.train_loss, history.val_acc = [1.75], [float("inf")]
    history.stop_reason = "because"
    path = tmp_path / "history.json"
    history.save_json(path)
    again = History.load_json(path)
    assert again.step_loss[:2] == [2.0, 1.5] and math.isnan(again.step_loss[2])
    assert again.val_acc == [float("inf")] and again.stop_reason == "because"
    assert History.from_dict(history.to_dict()).to_dict().keys() == history.to_dict().keys()
    import json
    json.loads(path.read_text())  # strict JSON (no bare NaN)
    with pytest.raises(ValueError, match="unknown field"):
        History.from_dict({"val_accuracy": [1.0]})


def test_best_epoch_rules():
    history = History()
    history.val_acc = [0.90, 0.95, 0.95, 0.93]
    history.val_loss = [0.50, 0.40, 0.30, 0.20]
    assert history.best_epoch("val_acc") == 2  # tie at 0.95: the lower val_loss wins
    assert history.best_epoch("val_loss") == 3
    history.val_loss = []
    assert history.best_epoch("val_acc") == 1  # no losses: the earlier epoch
    history.train_loss = [float("nan"), 1.0, 1.0]
    assert history.best_epoch("train_loss") == 1
    with pytest.raises(ValueError, match="no values"):
        history.best_epoch("train_acc")


def test_evaluate_and_predict_match_numpy():
    x, y = blobs(50, seed=3)
    model = mlp(1)
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    w1, b1 = model[0].weight.data, model[0].bias.data
    w2, b2 = model[2].weight.data, model[2].bias.data
    logits = np.maximum(x.astype(np.float64) @ w1.T + b1, 0) @ w2.T + b2
    log_probs = logits - logits.max(1, keepdims=True)
    log_probs = log_probs - np.log(np.exp(log_probs).sum(1, keepdims=True))
    expected_loss = -log_probs[np.arange(50), y].mean()
    expected_acc = np.mean(logits.argmax(1) == y)

    model.train()
    loss, acc = evaluate(model, loader)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    assert acc == pytest.approx(expected_acc)
    assert model.training  # the mode is restored
    out, targets = predict(model, loader, return_targets=True)
    np.testing.assert_allclose(out, logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(targets, y)
    np.testing.assert_allclose(predict(model, [mc.tensor(x[:5])]), logits[:5], rtol=1e-5, atol=1e-5)


def test_tiny_cnn_overfits_a_tiny_batch():
    mc.manual_seed(0)
    rng = np.random.default_rng(0)
    images = rng.standard_normal((16, 1, 8, 8)).astype(np.float32)
    labels = rng.integers(0, 4, size=16).astype(np.int64)  # random labels: only memorising works
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(8 * 4 * 4, 4))
    loader = DataLoader(TensorDataset(images, labels), batch_size=16)
    opt = mc.optim.Adam(model.parameters(), lr=1e-2)
    history = fit(model, loader, loader, opt, epochs=60, progress=False)
    assert history.train_loss[-1] < 0.05
    assert history.val_acc[-1] == 1.0


def test_divergence_guard_rules():
    guard = DivergenceGuard(factor=3.0, window=5)
    assert guard.check([]) is None
    assert guard.check([2.0, 2.1, 1.9]) is None
    assert "nan" in guard.check([2.0, float("nan")])
    assert "inf" in guard.check([2.0, 2.0, float("inf")])
    start = [2.0] * 5
    # mean of the last five 5.9 * 5 / 5 ... stays below 3 * 2 = 6: healthy
    assert guard.check(start + [5.9] * 5) is None
    # one spike does not count: mean(2, 2, 2, 2, 12) = 4 < 6
    assert guard.check(start + [2.0, 2.0, 2.0, 2.0, 12.0]) is None
    message = guard.check(start + [6.5] * 5)  # mean 6.5 > 6
    assert message is not None and "3x" in message
    assert DivergenceGuard(factor=None).check(start + [100.0] * 5) is None
    with pytest.raises(ValueError):
        DivergenceGuard(factor=0.5)


def test_exploding_learning_rate_raises_training_diverged():
    x, y = blobs()
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, seed=0)
    model = mlp()
    opt = mc.optim.SGD(model.parameters(), lr=50.0, momentum=0.9)
    with pytest.raises(TrainingDiverged) as caught:
        fit(model, loader, optimizer=opt, epochs=20, progress=False)
    history = caught.value.history
    assert "diverged" in history.stop_reason
    assert history.epochs < 20  # stopped early
    # the guard runs before the update: the weights are still finite
    assert all(np.isfinite(p.data).all() for p in model.parameters())


def test_scheduler_per_epoch_and_per_step():
    x, y = blobs(64)
    loader = DataLoader(TensorDataset(x, y), batch_size=16)  # 4 steps per epoch
    model = mlp()
    opt = mc.optim.SGD(model.parameters(), lr=0.1)
    sched = mc.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    history = fit(model, loader, optimizer=opt, epochs=3, scheduler=sched, progress=False)
    assert history.lr == pytest.approx([0.1, 0.05, 0.025])
    assert history.step_lr == pytest.approx([0.1] * 4 + [0.05] * 4 + [0.025] * 4)

    model = mlp()
    opt = mc.optim.SGD(model.parameters(), lr=0.1)
    sched = mc.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    sched.per_step = True  # the documented rule: stepped after every optimizer step
    history = fit(model, loader, optimizer=opt, epochs=2, scheduler=sched, progress=False)
    assert history.step_lr == pytest.approx([0.1 * 0.5 ** k for k in range(8)])
    assert history.lr == pytest.approx([0.1, 0.1 * 0.5 ** 4])


def test_early_stopping_and_callback_hooks():
    x, y = blobs(64)
    loader = DataLoader(TensorDataset(x, y), batch_size=32)
    model = mlp()
    opt = mc.optim.SGD(model.parameters(), lr=0.0)  # nothing changes: val_loss never improves
    calls = {"steps": 0, "epochs": 0}
    counter = LambdaCallback(on_epoch_end=lambda s: calls.__setitem__("epochs", calls["epochs"] + 1),
                             on_step_end=lambda s: calls.__setitem__("steps", calls["steps"] + 1))
    history = fit(model, loader, loader, opt, epochs=10, progress=False,
                  callbacks=[EarlyStopping("val_loss", patience=2), counter])
    assert history.epochs == 4  # epoch 1 sets the best, then 3 epochs without improvement
    assert "early stopping" in history.stop_reason
    assert calls == {"steps": 8, "epochs": 4}


def test_gradient_clipping_and_batch_transform():
    x, y = blobs(64)
    loader = DataLoader(TensorDataset(x * 100, y), batch_size=32)  # large inputs: large gradients
    seen = {"max_grad": 0.0, "norm": 0.0, "transformed": 0}

    class Inspect(Callback):
        def on_before_optimizer_step(self, state):
            grads = [p.grad.numpy() for p in state.model.parameters()]
            seen["max_grad"] = max(seen["max_grad"], max(np.abs(g).max() for g in grads))

    def halve(batch):
        seen["transformed"] += 1
        return batch * 0.5

    model = mlp()
    fit(model, loader, optimizer=mc.optim.SGD(model.parameters(), lr=1e-4), epochs=1,
        grad_clip_value=0.01, callbacks=[Inspect()], batch_transform=halve, progress=False)
    assert 0 < seen["max_grad"] <= 0.01
    assert seen["transformed"] == 2

    class Norm(Callback):
        def on_before_optimizer_step(self, state):
            total = math.sqrt(sum(float((p.grad.numpy().astype(np.float64) ** 2).sum())
                                  for p in state.model.parameters()))
            seen["norm"] = max(seen["norm"], total)

    model = mlp()
    fit(model, loader, optimizer=mc.optim.SGD(model.parameters(), lr=1e-4), epochs=1,
        grad_clip_norm=0.5, callbacks=[Norm()], progress=False)
    assert 0 < seen["norm"] <= 0.5 + 1e-5


def test_fit_argument_errors():
    x, y = blobs(8)
    model = mlp()
    with pytest.raises(ValueError, match="start_epoch"):
        fit(model, DataLoader(TensorDataset(x, y), batch_size=4), epochs=2, start_epoch=3, progress=False)
    with pytest.raises(ValueError, match="no batches"):
        fit(model, DataLoader(TensorDataset(x, y), batch_size=16, drop_last=True), progress=False)


def test_progress_bar_runs(capsys):
    x, y = blobs(32)
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    history = fit(mlp(), loader, loader, epochs=1, progress=True)
    assert history.epochs == 1
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "img/s" in err
