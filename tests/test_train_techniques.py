"""Course techniques: EMA of weights, the linear scaling rule, warm-up + cosine, freezing,
replacing the head, per-prefix learning rates. References are hand formulas."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn
from minicnn.train import (ModelEMA, freeze, param_groups, replace_head, scale_lr,
                           trainable_parameters, unfreeze, warmup_cosine)


def net(seed=0):
    mc.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def set_weights(model, value):
    with mc.no_grad():
        for p in model.parameters():
            p.data[...] = value


# ----- EMA ------------------------------------------------------------------------------------
def test_ema_matches_the_hand_formula():
    model = net()
    decay = 0.8
    w0 = model[0].weight.data.copy()
    ema = ModelEMA(model, decay=decay)
    values = [1.0, -2.0, 0.5]
    for v in values:
        set_weights(model, v)
        model[1].num_batches_tracked.data[...] = 7  # integer buffers are copied, not averaged
        ema.update(model)
    # ema_3 = d^3 w0 + (1-d) (d^2 v1 + d v2 + v3)
    expected = decay ** 3 * w0 + (1 - decay) * (decay ** 2 * values[0] + decay * values[1] + values[2])
    np.testing.assert_allclose(ema.shadow["0.weight"], expected, rtol=1e-6)
    assert ema.shadow["1.num_batches_tracked"] == 7 and ema.updates == 3

    own = model[0].weight.data.copy()
    with ema.swapped_into(model):
        np.testing.assert_allclose(model[0].weight.data, expected, rtol=1e-6)
    np.testing.assert_array_equal(model[0].weight.data, own)  # restored
    ema.copy_to(model)
    np.testing.assert_allclose(model[0].weight.data, expected, rtol=1e-6)


def test_ema_state_dict_round_trip_and_errors():
    model = net()
    ema = ModelEMA(model, decay=0.5)
    set_weights(model, 3.0)
    ema.update(model)
    other = ModelEMA(net(1), decay=0.9)
    other.load_state_dict(ema.state_dict())
    assert other.decay == 0.5 and other.updates == 1
    np.testing.assert_array_equal(other.shadow["3.bias"], ema.shadow["3.bias"])
    with pytest.raises(ValueError, match="decay"):
        ModelEMA(model, decay=1.0)
    with pytest.raises(ValueError, match="keys differ"):
        ema.update(nn.Sequential(nn.Linear(3, 2)))


# ----- learning-rate recipes -----------------------------------------------------------------
def test_scale_lr():
    assert scale_lr(0.1, 512) == pytest.approx(0.2)
    assert scale_lr(0.1, 64) == pytest.approx(0.025)
    assert scale_lr(0.4, 32, base_batch=128) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        scale_lr(0.1, 0)


@settings(max_examples=15, deadline=None)
@given(warmup=st.integers(0, 4), extra=st.integers(1, 8), start=st.sampled_from([0.1, 0.25]))
def test_warmup_cosine_matches_the_closed_form(warmup, extra, start):
    total = warmup + extra
    base = 0.2
    opt = mc.optim.SGD([mc.zeros(1, requires_grad=True)], lr=base)
    sched = warmup_cosine(opt, warmup, total, start_factor=start)
    for t in range(total):
        if t < warmup:
            expected = base * (start + (1 - start) * t / warmup)
        else:
            expected = base * (1 + math.cos(math.pi * (t - warmup) / (total - warmup))) / 2
        assert opt.param_groups[0]["lr"] == pytest.approx(expected, abs=1e-12), t
        sched.step()
    assert getattr(sched, "per_step") is False


def test_warmup_cosine_per_step():
    opt = mc.optim.SGD([mc.zeros(1, requires_grad=True)], lr=1.0)
    sched = warmup_cosine(opt, 1, 3, start_factor=0.5, steps_per_epoch=4)  # 4 warm-up, 8 cosine
    assert sched.per_step is True
    lrs = []
    for _ in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    expected = [0.5 + 0.5 * t / 4 for t in range(4)] + [(1 + math.cos(math.pi * t / 8)) / 2 for t in range(8)]
    np.testing.assert_allclose(lrs, expected, atol=1e-12)
    with pytest.raises(ValueError):
        warmup_cosine(opt, 3, 3)


def test_label_smoothing_reaches_the_loss():
    # loss = (1 - e) * CE(onehot) + e * mean_c(-log p_c), the formula of label smoothing
    logits = np.array([[2.0, 0.5, -1.0]])
    log_p = logits - np.log(np.exp(logits).sum())
    e = 0.2
    expected = (1 - e) * -log_p[0, 0] + e * -log_p[0].mean()
    got = F.cross_entropy(mc.tensor(logits), mc.tensor(np.array([0])), label_smoothing=e)
    assert got.item() == pytest.approx(expected, rel=1e-10)


# ----- transfer learning ---------------------------------------------------------------------
def one_step(model, optimizer, x):
    optimizer.zero_grad()
    model(x).sum().backward()
    optimizer.step()


@pytest.mark.parametrize("make_optimizer", [
    lambda params: mc.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.1),
    lambda params: mc.optim.AdamW(params, lr=0.1, weight_decay=0.1),
    lambda params: mc.optim.Adam(params, lr=0.1, weight_decay=0.1),
])
def test_frozen_parameters_stay_bit_identical(make_optimizer):
    model = net()
    model.eval()
    x = mc.randn(5, 3)
    # the optimizer holds every parameter and already has momentum / moments for all of them
    optimizer = make_optimizer(model.parameters())
    one_step(model, optimizer, x)
    names = freeze(model, ["0", "1.weight"])
    assert names == ["0.weight", "0.bias", "1.weight"]
    frozen = {n: p.data.copy() for n, p in model.named_parameters() if n in names}
    others = {n: p.data.copy() for n, p in model.named_parameters() if n not in names}
    for _ in range(2):
        one_step(model, optimizer, x)
    for name, param in model.named_parameters():
        if name in names:
            assert not param.requires_grad and param.grad is None
            np.testing.assert_array_equal(param.data, frozen[name], err_msg=name)
        else:
            assert not np.array_equal(param.data, others[name]), name
    unfreeze(model, "0")
    assert model[0].weight.requires_grad and not model[1].weight.requires_grad
    assert len(trainable_parameters(model)) == 5


def test_freeze_prefix_matching_and_errors():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    model.add_module("features2", nn.Linear(2, 2))
    model.add_module("features", nn.Linear(2, 2))
    assert freeze(model, "features") == ["features.weight", "features.bias"]  # not features2
    with pytest.raises(ValueError, match="matches no parameter"):
        freeze(model, "classifier")
    assert len(freeze(model)) == 8


def test_replace_head_keeps_the_place_in_the_state_dict():
    model = net()
    old = replace_head(model, "3", nn.Linear(4, 7))
    assert isinstance(old, nn.Linear) and old.out_features == 2
    model.eval()
    assert model(mc.randn(2, 3)).shape == (2, 7)
    assert list(model.state_dict())[-2:] == ["3.weight", "3.bias"]
    outer = nn.Sequential(net())
    replace_head(outer, "0.3", nn.Linear(4, 5))
    assert outer[0][3].out_features == 5
    with pytest.raises(ValueError, match="no child"):
        replace_head(model, "9", nn.Linear(4, 2))
    with pytest.raises(TypeError):
        replace_head(model, "3", "not a module")


def test_param_groups_per_prefix_learning_rates():
    model = net()
    freeze(model, "1")
    groups = param_groups(model, {"0": 0.01, "3": 0.1, "3.bias": 1.0}, default_lr=None)
    by_prefix = {g["prefix"]: g for g in groups}
    assert [p is model[0].weight for p in by_prefix["0"]["params"]] == [True, False]
    assert by_prefix["3.bias"]["params"] == [model[3].bias]  # the longest prefix wins
    assert by_prefix["3"]["params"] == [model[3].weight]
    assert "" not in by_prefix  # the frozen batch norm is left out, nothing else remains
    opt = mc.optim.SGD(groups, lr=0.5)
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.1, 1.0]
    unfreeze(model)
    groups = param_groups(model, {"0": 0.01})
    opt = mc.optim.SGD(groups, lr=0.5)
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.5]
    with pytest.raises(ValueError, match="match no"):
        param_groups(model, {"7": 0.1})
