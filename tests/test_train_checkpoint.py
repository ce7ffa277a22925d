"""Checkpoints: exact resume, refusal of damaged / mismatched files, atomic saving."""
import os

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn
from minicnn.data import DataLoader, TensorDataset, transforms
from minicnn.train import (Checkpoint, CheckpointError, ModelEMA, fit, load_checkpoint,
                           save_checkpoint)


def images(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, size=n).astype(np.int64)
    return x, y


def build(seed_loader):
    """A small CNN with batch norm and dropout, SGD with momentum and a StepLR schedule.

    The constructor draws from minicnn's generator (initialisation), so the state a
    checkpoint must restore includes that generator (dropout, augmentation, shuffling).
    """
    mc.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.3), nn.Linear(4 * 4 * 4, 3))
    optimizer = mc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    scheduler = mc.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    x, y = images()
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True,
                        seed=3 if seed_loader else None)
    return model, optimizer, scheduler, loader


AUGMENT = transforms.RandomCrop(8, padding=1)


@pytest.mark.parametrize("seed_loader", [True, False])
def test_resume_gives_the_same_losses_as_an_uninterrupted_run(tmp_path, seed_loader):
    # four epochs straight
    model, optimizer, scheduler, loader = build(seed_loader)
    ema = ModelEMA(model, decay=0.9)
    straight = fit(model, loader, optimizer=optimizer, scheduler=scheduler, epochs=4, ema=ema,
                   batch_transform=AUGMENT, progress=False)
    straight_weights = {k: v.data.copy() for k, v in model.state_dict().items()}

    # two epochs, checkpointed by the callback ...
    model, optimizer, scheduler, loader = build(seed_loader)
    ema = ModelEMA(model, decay=0.9)
    fit(model, loader, optimizer=optimizer, scheduler=scheduler, epochs=2, ema=ema,
        batch_transform=AUGMENT, progress=False, callbacks=[Checkpoint(tmp_path)])
    mc.randn(100)  # the process goes on drawing random numbers after the save

    # ... then a fresh process-like start: everything rebuilt, then loaded
    model, optimizer, scheduler, loader = build(seed_loader)
    ema = ModelEMA(model, decay=0.9)
    info = load_checkpoint(tmp_path / "checkpoint.npz", model, optimizer, scheduler,
                           loaders=[loader], ema=ema)
    assert info["epoch"] == 2 and info["history"].epochs == 2
    resumed = fit(model, loader, optimizer=optimizer, scheduler=scheduler, epochs=4, ema=ema,
                  batch_transform=AUGMENT, progress=False, start_epoch=info["epoch"],
                  history=info["history"])

    assert resumed.step_loss == straight.step_loss  # bit for bit
    assert resumed.lr == straight.lr and resumed.train_acc == straight.train_acc
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.data, straight_weights[key], err_msg=key)


def saved_model(tmp_path):
    model, optimizer, scheduler, loader = build(True)
    fit(model, loader, optimizer=optimizer, scheduler=scheduler, epochs=1, progress=False)
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, model, optimizer, scheduler, epoch=1, extra={"note": "first"})
    return path


def weights_of(model):
    return {k: v.data.copy() for k, v in model.state_dict().items()}


def assert_same_weights(model, weights):
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.data, weights[key], err_msg=key)


def test_truncated_checkpoint_is_refused_and_nothing_changes(tmp_path):
    path = saved_model(tmp_path)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    model, optimizer, scheduler, _ = build(True)
    before = weights_of(model)
    with pytest.raises(CheckpointError, match="truncated.npz"):
        load_checkpoint(truncated, model, optimizer, scheduler)
    assert_same_weights(model, before)
    assert path.read_bytes() == data


def test_tampered_checkpoint_is_refused(tmp_path):
    path = saved_model(tmp_path)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 8] = bytes(255 - b for b in data[middle:middle + 8])  # flip 8 bytes
    tampered = tmp_path / "tampered.npz"
    tampered.write_bytes(bytes(data))
    model = build(True)[0]
    before = weights_of(model)
    with pytest.raises(CheckpointError, match="refusing"):
        load_checkpoint(tampered, model)
    assert_same_weights(model, before)


def test_a_failed_save_leaves_the_previous_checkpoint_intact(tmp_path):
    path = saved_model(tmp_path)
    before = path.read_bytes()
    model, optimizer, scheduler, _ = build(True)
    with pytest.raises(TypeError):  # an object mc.save cannot store: the save fails midway
        save_checkpoint(path, model, optimizer, scheduler, epoch=2, extra={"bad": object()})
    assert path.read_bytes() == before
    assert [name for name in os.listdir(tmp_path) if name.endswith(".tmp")] == []
    info = load_checkpoint(path, build(True)[0])
    assert info["extra"] == {"note": "first"} and info["epoch"] == 1


def test_wrong_shapes_are_refused_naming_the_keys(tmp_path):
    path = saved_model(tmp_path)
    mc.manual_seed(0)
    other = nn.Sequential(nn.Conv2d(1, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.3), nn.Linear(5 * 4 * 4, 3))
    before = weights_of(other)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path, other)
    message = str(caught.value)
    for key in ("0.weight", "0.bias", "1.running_mean", "6.weight"):
        assert key in message
    assert "6.bias" not in message  # that one fits
    assert_same_weights(other, before)


def test_optimizer_mismatch_restores_the_model(tmp_path):
    path = saved_model(tmp_path)
    model = build(True)[0]
    before = weights_of(model)
    wrong_optimizer = mc.optim.SGD(list(model.parameters())[:2], lr=0.1)  # fewer parameters
    with pytest.raises(CheckpointError, match="does not fit"):
        load_checkpoint(path, model, wrong_optimizer)
    assert_same_weights(model, before)  # the weights loaded first were put back


def test_a_plain_mc_save_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "weights.npz"
    model = build(True)[0]
    mc.save(model.state_dict(), path)
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_checkpoint(path, model)


def test_checkpoint_callback_writes_last_and_best(tmp_path):
    model, optimizer, scheduler, loader = build(True)
    fit(model, loader, loader, optimizer=optimizer, scheduler=scheduler, epochs=3, progress=False,
        callbacks=[Checkpoint(tmp_path, extra={"config": {"name": "demo"}})])
    last = load_checkpoint(tmp_path / "checkpoint.npz", build(True)[0])
    best = load_checkpoint(tmp_path / "best.npz", build(True)[0])
    history = last["history"]
    assert last["epoch"] == 3
    # the highest validation accuracy; among equal ones the lowest validation loss (1-based)
    candidates = [i for i, acc in enumerate(history.val_acc) if acc == max(history.val_acc)]
    best_epoch = min(candidates, key=lambda i: history.val_loss[i]) + 1
    assert last["extra"]["best_epoch"] == best_epoch
    assert best["epoch"] == best_epoch and best["extra"]["config"] == {"name": "demo"}
