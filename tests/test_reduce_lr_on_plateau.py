"""ReduceLROnPlateau: the rule written out by hand, PyTorch's values, resuming, bad arguments, fit."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minicnn as mc
from minicnn.optim import SGD
from minicnn.optim.lr_scheduler import ReduceLROnPlateau


def make_optimizer(lrs=(0.1,)):
    groups = [{"params": [mc.tensor(np.zeros(2), requires_grad=True)], "lr": lr} for lr in lrs]
    return SGD(groups, lr=lrs[0])


def run(scheduler, optimizer, metrics):
    """The rates after each step(metric), one row per step."""
    rows = []
    for value in metrics:
        scheduler.step(value)
        rows.append([group["lr"] for group in optimizer.param_groups])
    return rows


def test_patience_then_factor_then_cooldown():
    optimizer = make_optimizer()
    scheduler = ReduceLROnPlateau(optimizer, factor=0.5, patience=2, cooldown=1)
    # 1.0 best; 3 bad epochs (> patience 2) -> halve; 1 cooldown epoch; 3 more bad -> halve again
    metrics = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    got = [row[0] for row in run(scheduler, optimizer, metrics)]
    assert got == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025]
    assert scheduler.get_last_lr() == [0.025]


def test_improvements_reset_the_count_and_min_lr_is_a_floor():
    optimizer = make_optimizer((0.1, 0.01))
    scheduler = ReduceLROnPlateau(optimizer, mode="max", factor=0.1, patience=0,
                                  threshold=0.1, threshold_mode="abs", min_lr=[0.0, 0.005])
    # max mode, abs threshold 0.1: 0.5 -> 0.55 is not an improvement, 0.7 is
    rows = run(scheduler, optimizer, [0.5, 0.7, 0.75, 0.9])
    assert rows[0] == [0.1, 0.01]                   # first value: an improvement over -inf
    assert rows[1] == [0.1, 0.01]                   # 0.7 > 0.5 + 0.1
    assert rows[2] == pytest.approx([0.01, 0.005])  # 0.75 < 0.8: bad; patience 0 -> cut, floored
    assert rows[3] == pytest.approx([0.01, 0.005])  # 0.9 > 0.8: improvement


def test_bad_arguments():
    optimizer = make_optimizer((0.1, 0.2))
    with pytest.raises(ValueError, match="factor should be < 1.0"):
        ReduceLROnPlateau(optimizer, factor=1.0)
    with pytest.raises(ValueError, match="mode must be"):
        ReduceLROnPlateau(optimizer, mode="lowest")
    with pytest.raises(ValueError, match="threshold_mode"):
        ReduceLROnPlateau(optimizer, threshold_mode="relative")
    with pytest.raises(ValueError, match="expected 2 min_lrs"):
        ReduceLROnPlateau(optimizer, min_lr=[0.0])
    with pytest.raises(TypeError, match="expected an Optimizer"):
        ReduceLROnPlateau("sgd")


def test_state_dict_resume(tmp_path):
    metrics = [1.0, 0.9, 0.95, 0.97, 0.96, 0.99, 0.98, 0.97, 0.999, 1.0]
    optimizer = make_optimizer()
    scheduler = ReduceLROnPlateau(optimizer, factor=0.5, patience=1, cooldown=1)
    whole = run(scheduler, optimizer, metrics)

    optimizer = make_optimizer()
    scheduler = ReduceLROnPlateau(optimizer, factor=0.5, patience=1, cooldown=1)
    first = run(scheduler, optimizer, metrics[:4])
    mc.save({"sched": scheduler.state_dict(), "opt": optimizer.state_dict()}, tmp_path / "s.npz")
    saved = mc.load(tmp_path / "s.npz")
    optimizer = make_optimizer()
    optimizer.load_state_dict(saved["opt"])
    scheduler = ReduceLROnPlateau(optimizer, factor=0.5, patience=1, cooldown=1)
    scheduler.load_state_dict(saved["sched"])
    assert first + run(scheduler, optimizer, metrics[4:]) == whole


@pytest.mark.torch
@settings(max_examples=25, deadline=None)
@given(mode=st.sampled_from(["min", "max"]), threshold_mode=st.sampled_from(["rel", "abs"]),
       patience=st.integers(0, 3), cooldown=st.integers(0, 2),
       factor=st.sampled_from([0.1, 0.5, 0.9]), seed=st.integers(0, 10**6))
def test_matches_torch(mode, threshold_mode, patience, cooldown, factor, seed):
    torch = pytest.importorskip("torch")
    metrics = np.round(np.random.default_rng(seed).uniform(0, 1, 25), 2)  # ties happen
    options = dict(mode=mode, factor=factor, patience=patience, threshold=0.05,
                   threshold_mode=threshold_mode, cooldown=cooldown, min_lr=[1e-3, 0.0])
    optimizer = make_optimizer((0.1, 0.5))
    ours = run(ReduceLROnPlateau(optimizer, **options), optimizer, metrics)

    params = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in (0.1, 0.5)]
    torch_optimizer = torch.optim.SGD(params, lr=0.1)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(torch_optimizer, **options)
    theirs = []
    for value in metrics:
        torch_optimizer.step()
        scheduler.step(float(value))
        theirs.append([group["lr"] for group in torch_optimizer.param_groups])
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_fit_steps_it_with_the_validation_loss():
    from minicnn import nn
    from minicnn.data import DataLoader, TensorDataset
    from minicnn.train import fit

    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 4)).astype(np.float32)
    y = rng.integers(0, 2, 32)
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    model = nn.Linear(4, 2)
    optimizer = SGD(model.parameters(), lr=0.0)  # lr 0: the loss never improves
    scheduler = ReduceLROnPlateau(optimizer, patience=0, factor=0.5, min_lr=0.0)
    optimizer.param_groups[0]["lr"] = 0.0
    seen = []
    original = scheduler.step
    scheduler.step = lambda value: (seen.append(value), original(value))
    history = fit(model, loader, loader, optimizer, epochs=3, scheduler=scheduler, progress=False)
    assert seen == pytest.approx(history.val_loss)
