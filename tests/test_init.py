"""nn.init: gains and fans against PyTorch's formulas, sample statistics against the intended
distributions, in-place and seeded behaviour."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minicnn as mc
import minicnn.nn as nn
from minicnn.nn import init

FAST = settings(max_examples=15, deadline=None)

GAINS = [("linear", None, 1.0), ("conv2d", None, 1.0), ("conv_transpose2d", None, 1.0), ("sigmoid", None, 1.0),
         ("tanh", None, 5 / 3), ("relu", None, math.sqrt(2)), ("leaky_relu", None, math.sqrt(2 / (1 + 0.01 ** 2))),
         ("leaky_relu", 0.2, math.sqrt(2 / 1.04)), ("leaky_relu", math.sqrt(5), math.sqrt(2 / 6)), ("selu", None, 0.75)]


@pytest.mark.parametrize("name, param, expected", GAINS)
def test_calculate_gain_formulas(name, param, expected):
    assert init.calculate_gain(name, param) == pytest.approx(expected, rel=1e-12)


def test_calculate_gain_matches_torch_and_refuses_unknown():
    torch = pytest.importorskip("torch")
    for name, param, _ in GAINS:
        assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


@given(st.lists(st.integers(1, 5), min_size=2, max_size=5))
@FAST
def test_fans_are_channels_times_receptive_field(shape):
    receptive = int(np.prod(shape[2:]))
    assert init._calculate_fan_in_and_fan_out(mc.zeros(*shape)) == (shape[1] * receptive, shape[0] * receptive)


def test_fans_match_torch_and_need_two_dims():
    torch = pytest.importorskip("torch")
    for shape in [(3, 4), (8, 3, 5, 5), (2, 6, 3)]:
        assert init._calculate_fan_in_and_fan_out(mc.zeros(*shape)) == \
            torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(*shape))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(mc.zeros(5))


def _assert_spread(values, std, mean=0.0, tolerance=0.03):
    """Sample mean and std within 3% of the target: with >= 18k draws the standard error of
    the mean is < 0.75% of std, so a wrong gain or fan (>= 5% off) fails."""
    assert abs(values.mean() - mean) < tolerance * std + 1e-12
    assert abs(values.std() - std) < tolerance * std


@FAST
@given(st.sampled_from([0, 0.2, math.sqrt(5)]), st.sampled_from(["fan_in", "fan_out"]),
       st.sampled_from(["leaky_relu", "relu", "tanh", "linear"]))
def test_kaiming_uniform_and_normal(a, mode, nonlinearity):
    mc.manual_seed(1234)  # fixed draws: the statistical bounds below are 4+ standard errors wide
    weight = nn.Parameter(mc.zeros(64, 32, 3, 3))  # fan_in 288, fan_out 576, 18k draws
    fan = 32 * 9 if mode == "fan_in" else 64 * 9
    std = init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    assert init.kaiming_uniform_(weight, a=a, mode=mode, nonlinearity=nonlinearity) is weight
    bound = math.sqrt(3) * std
    assert np.abs(weight.data).max() <= bound * (1 + 1e-6) and np.abs(weight.data).max() > 0.99 * bound
    _assert_spread(weight.data, std)
    init.kaiming_normal_(weight, a=a, mode=mode, nonlinearity=nonlinearity)
    _assert_spread(weight.data, std)


@FAST
@given(st.sampled_from([1.0, 0.5, 5 / 3]), st.sampled_from([(200, 100), (64, 32, 3, 3)]))
def test_xavier_uniform_and_normal(gain, shape):
    mc.manual_seed(1234)
    weight = mc.zeros(*shape)
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(weight)
    std = gain * math.sqrt(2 / (fan_in + fan_out))
    init.xavier_uniform_(weight, gain=gain)
    assert np.abs(weight.data).max() <= math.sqrt(3) * std * (1 + 1e-6)
    _assert_spread(weight.data, std)
    init.xavier_normal_(weight, gain=gain)
    _assert_spread(weight.data, std)


def test_simple_fills_and_distributions():
    mc.manual_seed(1234)
    t = mc.zeros(200, 100)
    init.uniform_(t, -2.0, 3.0)
    assert t.data.min() >= -2.0 and t.data.max() < 3.0
    _assert_spread(t.data, 5 / math.sqrt(12), mean=0.5)
    init.normal_(t, mean=1.5, std=0.3)
    _assert_spread(t.data, 0.3, mean=1.5)
    init.trunc_normal_(t, mean=0.0, std=1.0, a=-1.0, b=1.5)
    assert t.data.min() >= -1.0 and t.data.max() <= 1.5
    # the mean of N(0, 1) cut to [a, b] is (phi(a) - phi(b)) / (Phi(b) - Phi(a))
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    assert abs(t.data.mean() - (phi(-1.0) - phi(1.5)) / (cdf(1.5) - cdf(-1.0))) < 0.02
    init.constant_(t, 0.25)
    assert np.all(t.data == 0.25)
    init.ones_(t)
    assert np.all(t.data == 1)
    init.zeros_(t)
    assert not t.data.any()
    init.eye_(t)
    np.testing.assert_array_equal(t.data, np.eye(200, 100))
    with pytest.raises(ValueError, match="2-D"):
        init.eye_(mc.zeros(2, 2, 2))


def test_init_is_in_place_keeps_dtype_and_works_with_grad_enabled():
    param = nn.Parameter(mc.zeros(30, 20))
    array = param.data
    version = param._version
    init.kaiming_uniform_(param, a=math.sqrt(5))  # grad mode is on: init must not refuse
    assert param.data is array and param._version > version
    assert param.dtype == np.float32 and param.requires_grad and param.grad_fn is None
    double = mc.zeros(4, 4, dtype="float64")
    init.normal_(double)
    assert double.dtype == np.float64
    init.kaiming_uniform_(mc.zeros(0, 3))  # zero-element: nothing to do, no error


def test_init_is_seeded_and_takes_a_generator():
    a, b = mc.zeros(10, 10), mc.zeros(10, 10)
    mc.manual_seed(7)
    init.xavier_uniform_(a)
    mc.manual_seed(7)
    init.xavier_uniform_(b)
    np.testing.assert_array_equal(a.data, b.data)
    init.normal_(a, generator=np.random.default_rng(3))
    init.normal_(b, generator=np.random.default_rng(3))
    np.testing.assert_array_equal(a.data, b.data)
    with pytest.raises(ValueError, match="fan_in"):
        init.kaiming_normal_(a, mode="fan_avg")
