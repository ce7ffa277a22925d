"""Dropout: F.dropout, F.dropout2d, nn.Dropout, nn.Dropout2d.

* statistics: the fraction zeroed is about p and the mean is kept, with tolerances of
  many standard deviations (binomial), so the checks cannot flake;
* every survivor is x / (1 - p) exactly; dropout2d zeroes whole channels;
* the backward multiplies by the same mask (checked against the forward's zeros);
* identity in eval mode and for p = 0; p = 1 gives zeros; seeded masks repeat;
* bad p is refused.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn
from conftest import assert_close

FEW = settings(max_examples=10, deadline=None)


def binomial_tolerance(p, count, sigmas=8.0):
    """``sigmas`` standard deviations of a fraction of ``count`` Bernoulli(p) draws."""
    return sigmas * math.sqrt(p * (1 - p) / count) + 1e-12


@FEW
@given(st.floats(0.05, 0.95), st.integers(0, 2**31 - 1))
def test_dropout_zeroes_about_p_and_keeps_the_mean(p, seed):
    mc.manual_seed(seed)
    count = 100_000
    x = mc.ones(count, dtype="float64")
    y = F.dropout(x, p).numpy()
    dropped = np.mean(y == 0)
    assert abs(dropped - p) <= binomial_tolerance(p, count)
    # mean(y) = (kept fraction) / (1 - p): its deviation from 1 is the kept fraction's / (1-p)
    assert abs(y.mean() - 1.0) <= binomial_tolerance(p, count) / (1 - p)
    np.testing.assert_allclose(y[y != 0], 1.0 / (1.0 - p), rtol=1e-12)


@FEW
@given(st.floats(0.1, 0.9), st.integers(0, 2**31 - 1))
def test_dropout2d_zeroes_whole_channels(p, seed):
    mc.manual_seed(seed)
    x = np.random.default_rng(seed).standard_normal((40, 50, 3, 4)) + 5.0   # never 0
    y = F.dropout2d(mc.tensor(x), p).numpy()
    dropped = np.all(y == 0, axis=(2, 3))                                   # (N, C)
    kept = np.all(y != 0, axis=(2, 3))
    assert np.all(dropped | kept)                                           # all or nothing
    np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=1e-12)
    assert abs(dropped.mean() - p) <= binomial_tolerance(p, dropped.size)


@pytest.mark.parametrize("op", [F.dropout, F.dropout2d])
def test_backward_multiplies_by_the_same_scaled_mask(op):
    mc.manual_seed(0)
    rng = np.random.default_rng(1)
    x = mc.tensor(rng.standard_normal((4, 6, 3, 3)) + 5.0, requires_grad=True)
    grad = rng.standard_normal(x.shape)
    y = op(x, 0.4)
    y.backward(mc.tensor(grad))
    mask = y.detach().numpy() / x.detach().numpy()       # 0 or 1/(1-p), from the forward
    assert set(np.round(np.unique(mask), 12)) <= {0.0, round(1 / 0.6, 12)}
    assert_close(x.grad, grad * mask, rtol=1e-12)


def test_identity_in_eval_mode_and_for_p_zero():
    x = mc.randn(3, 4, 5, 5)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout2d(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    layer = nn.Dropout(0.5)
    layer.eval()
    assert layer(x) is x
    channel_layer = nn.Dropout2d(0.5).eval()
    assert channel_layer(x) is x


def test_p_one_drops_everything():
    x = mc.tensor(np.ones((2, 3, 4, 4)), requires_grad=True)
    y = F.dropout(x, 1.0)
    assert np.all(y.detach().numpy() == 0) and not np.any(np.isnan(y.detach().numpy()))
    y.sum().backward()
    assert np.all(x.grad.numpy() == 0)
    assert np.all(F.dropout2d(x, 1.0).detach().numpy() == 0)


def test_masks_repeat_under_the_same_seed_and_keep_dtype():
    x = mc.ones(1000)
    mc.manual_seed(7)
    first = F.dropout(x, 0.3).numpy()
    mc.manual_seed(7)
    second = F.dropout(x, 0.3).numpy()
    np.testing.assert_array_equal(first, second)
    assert first.dtype == np.float32
    assert not np.array_equal(F.dropout(x, 0.3).numpy(), first)   # the generator moved on


def test_module_training_mode_drops_and_repr():
    mc.manual_seed(3)
    layer = nn.Dropout(0.5)
    assert repr(layer) == "Dropout(p=0.5, inplace=False)"
    assert repr(nn.Dropout2d(0.3)) == "Dropout2d(p=0.3, inplace=False)"
    y = layer(mc.ones(10_000)).numpy()
    assert 0.4 < np.mean(y == 0) < 0.6
    assert list(layer.state_dict()) == []


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_bad_p_is_refused(p):
    with pytest.raises(ValueError, match=f"between 0 and 1, but got {p}"):
        F.dropout(mc.ones(3), p)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout2d(mc.ones(1, 2, 3, 3), p)
    with pytest.raises(ValueError, match="Dropout: dropout probability"):
        nn.Dropout(p)


def test_dropout2d_needs_channels_and_dropout_needs_floats():
    with pytest.raises(ValueError, match=r"dropout2d: expected a 4-D input.*got shape \(2, 3\)"):
        F.dropout2d(mc.ones(2, 3), 0.5)
    with pytest.raises(TypeError, match="int64"):
        F.dropout(mc.tensor(np.ones(3, dtype=np.int64)), 0.5)
