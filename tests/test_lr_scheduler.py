"""minicnn.optim.lr_scheduler: rates over epochs against hand-written closed forms and
torch.optim.lr_scheduler; resuming from a state dict; argument checks."""
import math
import warnings

import numpy as np
import pytest

import minicnn as mc
from minicnn.optim import SGD, lr_scheduler as S
from minicnn.serialization import load as mc_load, save as mc_save

EPOCHS = 40


def make_optimizer(lrs=(0.1,)):
    """An SGD with one parameter group per learning rate in ``lrs``."""
    groups = [{"params": [mc.tensor(np.zeros(2), requires_grad=True)], "lr": lr} for lr in lrs]
    return SGD(groups, lr=lrs[0])


def rates(scheduler, optimizer, epochs=EPOCHS):
    """[lrs at epoch 0, lrs at epoch 1, ...]: one row per epoch, one column per group."""
    history = [[g["lr"] for g in optimizer.param_groups]]
    for _ in range(epochs):
        optimizer.step()
        scheduler.step()
        assert scheduler.get_last_lr() == [g["lr"] for g in optimizer.param_groups]
        history.append([g["lr"] for g in optimizer.param_groups])
    return np.array(history)


def expected(formula, base_lrs=(0.1,), epochs=EPOCHS):
    return np.array([[formula(t, base) for base in base_lrs] for t in range(epochs + 1)])


# ----- closed forms written out ---------------------------------------------------------------
CLOSED_FORMS = {
    "StepLR": (lambda o: S.StepLR(o, step_size=7, gamma=0.5),
               lambda t, b: b * 0.5 ** (t // 7)),
    "MultiStepLR": (lambda o: S.MultiStepLR(o, milestones=[5, 12, 12, 30], gamma=0.3),
                    lambda t, b: b * 0.3 ** ((t >= 5) + 2 * (t >= 12) + (t >= 30))),
    "ExponentialLR": (lambda o: S.ExponentialLR(o, gamma=0.93),
                      lambda t, b: b * 0.93 ** t),
    "CosineAnnealingLR": (lambda o: S.CosineAnnealingLR(o, T_max=15, eta_min=0.001),
                          lambda t, b: 0.001 + (b - 0.001) * (1 + math.cos(math.pi * t / 15)) / 2),
    "LinearLR": (lambda o: S.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=6),
                 lambda t, b: b * (0.1 + 0.9 * min(t, 6) / 6)),
    "LinearLR-decay": (lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.2, total_iters=10),
                       lambda t, b: b * (1.0 - 0.8 * min(t, 10) / 10)),
    "ConstantLR": (lambda o: S.ConstantLR(o, factor=0.25, total_iters=4),
                   lambda t, b: b * (0.25 if t < 4 else 1.0)),
    "LambdaLR": (lambda o: S.LambdaLR(o, lambda t: 1.0 / (1 + t)),
                 lambda t, b: b / (1 + t)),
}


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_matches_closed_form(name):
    make, formula = CLOSED_FORMS[name]
    optimizer = make_optimizer((0.1, 0.02))
    got = rates(make(optimizer), optimizer)
    np.testing.assert_allclose(got, expected(formula, (0.1, 0.02)), rtol=1e-12, atol=1e-15)


def test_cosine_reaches_eta_min_and_rises_again():
    optimizer = make_optimizer((1.0,))
    got = rates(S.CosineAnnealingLR(optimizer, T_max=10, eta_min=0.1), optimizer, epochs=20)[:, 0]
    assert got[0] == 1.0
    assert abs(got[10] - 0.1) < 1e-12
    assert abs(got[20] - 1.0) < 1e-12  # period 2 * T_max


def test_sequential_warmup_then_cosine():
    optimizer = make_optimizer((0.1,))
    warmup = S.LinearLR(optimizer, start_factor=0.1, total_iters=5)
    cosine = S.CosineAnnealingLR(optimizer, T_max=20, eta_min=0.0)
    got = rates(S.SequentialLR(optimizer, [warmup, cosine], milestones=[5]), optimizer, epochs=25)[:, 0]

    def formula(t):
        if t < 5:
            return 0.1 * (0.1 + 0.9 * t / 5)
        return 0.1 * (1 + math.cos(math.pi * (t - 5) / 20)) / 2  # cosine restarted at t = 5
    np.testing.assert_allclose(got, [formula(t) for t in range(26)], rtol=1e-12, atol=1e-15)


def test_chained_scheduler_multiplies():
    optimizer = make_optimizer((1.0,))
    chained = S.ChainedScheduler([S.ConstantLR(optimizer, factor=0.1, total_iters=3),
                                  S.ExponentialLR(optimizer, gamma=0.9)])
    got = rates(chained, optimizer, epochs=10)[:, 0]
    np.testing.assert_allclose(got, [(0.1 if t < 3 else 1.0) * 0.9 ** t for t in range(11)], rtol=1e-12)


def test_step_with_epoch_uses_closed_form():
    optimizer = make_optimizer((0.1,))
    scheduler = S.StepLR(optimizer, step_size=3, gamma=0.1)
    scheduler.step(7)
    assert scheduler.last_epoch == 7
    assert abs(optimizer.param_groups[0]["lr"] - 0.1 * 0.01) < 1e-15


# ----- against PyTorch ------------------------------------------------------------------------
def _torch_cases(lib):
    return {
        "step": lambda o: lib.StepLR(o, 7, 0.5),
        "multistep": lambda o: lib.MultiStepLR(o, [3, 3, 10], 0.3),
        "exponential": lambda o: lib.ExponentialLR(o, 0.9),
        "cosine": lambda o: lib.CosineAnnealingLR(o, 10, 0.01),
        "linear": lambda o: lib.LinearLR(o, 0.1, 1.0, 6),
        "constant": lambda o: lib.ConstantLR(o, 0.25, 4),
        "lambda": lambda o: lib.LambdaLR(o, [lambda t: 0.95 ** t, lambda t: 1 / (t + 1)]),
        "sequential": lambda o: lib.SequentialLR(o, [lib.LinearLR(o, 0.1, 1.0, 5),
                                                     lib.CosineAnnealingLR(o, 20, 0.001)], [5]),
        "sequential3": lambda o: lib.SequentialLR(o, [lib.ConstantLR(o, 0.1, 2), lib.ExponentialLR(o, 0.9),
                                                      lib.StepLR(o, 3)], [4, 9]),
        "chained": lambda o: lib.ChainedScheduler([lib.ConstantLR(o, 0.1, 2), lib.ExponentialLR(o, 0.9),
                                                   lib.CosineAnnealingLR(o, 8)]),
    }


@pytest.mark.torch
@pytest.mark.parametrize("case", sorted(_torch_cases(S)))
def test_matches_torch(case):
    torch = pytest.importorskip("torch")
    import torch.optim.lr_scheduler as TS

    ours_optimizer = make_optimizer((0.1, 0.5))
    ours = rates(_torch_cases(S)[case](ours_optimizer), ours_optimizer, epochs=30)

    params = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in (0.1, 0.5)]
    torch_optimizer = torch.optim.SGD(params, lr=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler = _torch_cases(TS)[case](torch_optimizer)
        theirs = [list(scheduler.get_last_lr())]
        for _ in range(30):
            torch_optimizer.step()
            scheduler.step()
            theirs.append(list(scheduler.get_last_lr()))
    np.testing.assert_allclose(ours, np.array(theirs), rtol=1e-12, atol=1e-15)


# ----- resuming ---------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda o: S.MultiStepLR(o, milestones=[4, 8], gamma=0.5),
    lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.01),
    lambda o: S.SequentialLR(o, [S.LinearLR(o, 0.2, total_iters=3), S.ExponentialLR(o, 0.8)], [3]),
])
def test_state_dict_resume(make, tmp_path):
    optimizer = make_optimizer((0.1,))
    straight = rates(make(optimizer), optimizer, epochs=12)[:, 0]

    optimizer = make_optimizer((0.1,))
    scheduler = make(optimizer)
    rates(scheduler, optimizer, epochs=5)
    mc_save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, tmp_path / "s.npz")

    checkpoint = mc_load(tmp_path / "s.npz")
    optimizer = make_optimizer((0.1,))
    scheduler = make(optimizer)          # built first, as in PyTorch's recipe
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    resumed = rates(scheduler, optimizer, epochs=7)[:, 0]
    np.testing.assert_allclose(resumed, straight[5:], rtol=1e-12)


# ----- argument checks ------------------------------------------------------------------------
@pytest.mark.parametrize("make, message", [
    (lambda o: S.StepLR(o, step_size=0), "step_size"),
    (lambda o: S.LinearLR(o, start_factor=0.0), "start_factor"),
    (lambda o: S.LinearLR(o, end_factor=1.5), "end_factor"),
    (lambda o: S.ConstantLR(o, factor=2.0), "factor"),
    (lambda o: S.CosineAnnealingLR(o, T_max=0), "T_max"),
    (lambda o: S.LambdaLR(o, [lambda t: 1.0] * 3), "lr_lambdas"),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 2)], milestones=[3]), "milestone"),
])
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make(make_optimizer((0.1,)))


def test_not_an_optimizer_and_resume_without_initial_lr():
    with pytest.raises(TypeError, match="Optimizer"):
        S.StepLR(object(), step_size=2)
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(make_optimizer((0.1,)), step_size=2, last_epoch=3)
