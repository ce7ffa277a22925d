"""Batch normalisation: F.batch_norm, nn.BatchNorm1d, nn.BatchNorm2d.

* forward against the formula written here in NumPy, training and eval;
* float64 gradient checks in training mode (input, weight, bias: the gradient flows
  through the batch mean and variance) and in eval mode;
* running statistics: updated in place with the UNBIASED variance, momentum=None is the
  cumulative average, eval mode uses them, track_running_stats=False never does;
* state-dict keys and reprs exactly PyTorch's; Numba and reference backends agree;
* clear errors: channel count vs num_features, wrong rank, 1 value per channel.
"""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import kernels
import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn
from conftest import assert_close, leaf, reference_kernels

FEW = settings(max_examples=20, deadline=None)


SHAPES = st.sampled_from([(4, 3), (3, 2, 5), (2, 3, 3, 4), (5, 1, 2, 2), (2, 2, 1, 3)])


def normalise(x, mean, var, weight, bias, eps):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, per channel (axis 1)."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    xhat = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return xhat * weight.reshape(shape) + bias.reshape(shape)


def batch_axes(x):
    return (0,) + tuple(range(2, x.ndim))


@FEW
@given(SHAPES, st.integers(0, 2**32 - 1), st.floats(0.0, 1.0), st.sampled_from([1e-5, 0.1]))
def test_training_forward_and_running_stats_update(shape, seed, momentum, eps):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 2 + 1
    weight, bias = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    old_mean, old_var = rng.standard_normal(shape[1]), rng.random(shape[1]) + 0.5
    running_mean, running_var = mc.tensor(old_mean), mc.tensor(old_var)
    y = F.batch_norm(mc.tensor(x), running_mean, running_var, mc.tensor(weight),
                     mc.tensor(bias), training=True, momentum=momentum, eps=eps)
    axes = batch_axes(x)
    batch_mean, batch_var = x.mean(axis=axes), x.var(axis=axes)          # biased in y
    assert_close(y, normalise(x, batch_mean, batch_var, weight, bias, eps), rtol=1e-9)
    unbiased = x.var(axis=axes, ddof=1)                                   # unbiased in running
    assert_close(running_mean, (1 - momentum) * old_mean + momentum * batch_mean)
    assert_close(running_var, (1 - momentum) * old_var + momentum * unbiased)


@FEW
@given(SHAPES, st.integers(0, 2**32 - 1), st.booleans())
def test_training_gradcheck_wrt_input_weight_bias(shape, seed, affine):
    rng = np.random.default_rng(seed)
    x = leaf(rng.standard_normal(shape))
    weight = leaf(rng.standard_normal(shape[1])) if affine else None
    bias = leaf(rng.standard_normal(shape[1])) if affine else None
    inputs = [x, weight, bias] if affine else [x]

    def f(*tensors):
        w, b = (tensors[1], tensors[2]) if affine else (None, None)
        return F.batch_norm(tensors[0], None, None, w, b, training=True, eps=1e-3)
    with reference_kernels():
        assert mc.gradcheck(f, inputs)


@FEW
@given(SHAPES, st.integers(0, 2**32 - 1))
def test_eval_uses_running_stats_and_gradchecks(shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    weight, bias = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    mean, var = rng.standard_normal(shape[1]), rng.random(shape[1]) + 0.5
    running_mean, running_var = mc.tensor(mean), mc.tensor(var)
    y = F.batch_norm(mc.tensor(x), running_mean, running_var, mc.tensor(weight), mc.tensor(bias))
    assert_close(y, normalise(x, mean, var, weight, bias, 1e-5))
    assert_close(running_mean, mean)                                      # untouched in eval
    with reference_kernels():
        assert mc.gradcheck(lambda a, w, b: F.batch_norm(a, running_mean, running_var, w, b),
                            [leaf(x), leaf(weight), leaf(bias)])


def test_float32_statistics_are_accurate_with_a_large_mean():
    x = (np.random.default_rng(0).standard_normal((64, 4, 8, 8)) + 1000).astype(np.float32)
    y = F.batch_norm(mc.tensor(x), None, None, training=True).numpy()
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=2e-3)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, atol=2e-2)


def test_numba_and_reference_backends_agree():
    rng = np.random.default_rng(3)
    x, grad = rng.standard_normal((4, 3, 5, 5)), rng.standard_normal((4, 3, 5, 5))
    results = {}
    previous = kernels.get_backend()
    try:
        for backend in ("numba", "reference"):
            kernels.set_backend(backend)
            t, w, b = leaf(x), leaf(np.arange(1.0, 4.0)), leaf(np.zeros(3))
            running = mc.zeros(3, dtype="float64"), mc.ones(3, dtype="float64")
            y = F.batch_norm(t, *running, w, b, training=True)
            y.backward(mc.tensor(grad))
            results[backend] = [y.numpy() if not y.requires_grad else y.detach().numpy(),
                                t.grad.numpy(), w.grad.numpy(), b.grad.numpy(),
                                running[0].numpy(), running[1].numpy()]
    finally:
        kernels.set_backend(previous)
    for a, b in zip(results["numba"], results["reference"]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- modules

def test_batchnorm2d_state_dict_keys_buffers_and_repr():
    bn = nn.BatchNorm2d(4)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]
    assert [name for name, _ in bn.named_parameters()] == ["weight", "bias"]
    assert bn.num_batches_tracked.dtype == np.int64 and bn.num_batches_tracked.shape == ()
    assert_close(bn.running_var, np.ones(4))
    assert repr(bn) == ("BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, bias=True, "
                        "track_running_stats=True)")
    plain = nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert list(plain.state_dict()) == [] and plain.running_mean is None


def test_module_training_updates_then_eval_uses_running_stats():
    rng = np.random.default_rng(4)
    bn = nn.BatchNorm2d(3, momentum=0.5).double()
    batches = [rng.standard_normal((4, 3, 2, 2)) * 3 + 2 for _ in range(3)]
    mean, var = np.zeros(3), np.ones(3)
    for x in batches:
        bn(mc.tensor(x))
        mean = 0.5 * mean + 0.5 * x.mean(axis=(0, 2, 3))
        var = 0.5 * var + 0.5 * x.var(axis=(0, 2, 3), ddof=1)
    assert int(bn.num_batches_tracked.item()) == 3
    assert_close(bn.running_mean, mean)
    assert_close(bn.running_var, var)
    bn.eval()
    x = rng.standard_normal((2, 3, 2, 2))
    assert_close(bn(mc.tensor(x)), normalise(x, mean, var, np.ones(3), np.zeros(3), 1e-5))
    assert int(bn.num_batches_tracked.item()) == 3                     # eval does not count


def test_momentum_none_is_the_cumulative_average():
    rng = np.random.default_rng(5)
    bn = nn.BatchNorm1d(2, momentum=None).double()
    batches = [rng.standard_normal((6, 2)) + k for k in range(4)]
    for x in batches:
        bn(mc.tensor(x))
    assert_close(bn.running_mean, np.mean([x.mean(axis=0) for x in batches], axis=0))
    assert_close(bn.running_var, np.mean([x.var(axis=0, ddof=1) for x in batches], axis=0))


def test_without_running_stats_eval_still_uses_the_batch():
    x = np.random.default_rng(6).standard_normal((5, 2, 3))
    bn = nn.BatchNorm1d(2, track_running_stats=False).double().eval()
    axes = batch_axes(x)
    assert_close(bn(mc.tensor(x)), normalise(x, x.mean(axis=axes), x.var(axis=axes),
                                             np.ones(2), np.zeros(2), 1e-5))


def test_module_gradients_reach_weight_and_bias():
    x = np.random.default_rng(7).standard_normal((4, 2, 3, 3))
    bn = nn.BatchNorm2d(2).double()
    grad = np.random.default_rng(8).standard_normal(x.shape)
    bn(mc.tensor(x)).backward(mc.tensor(grad))
    xhat = normalise(x, x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3)), np.ones(2), np.zeros(2), 1e-5)
    assert_close(bn.bias.grad, grad.sum(axis=(0, 2, 3)))
    assert_close(bn.weight.grad, (grad * xhat).sum(axis=(0, 2, 3)))


# ----------------------------------------------------------------------------- errors

def test_errors_name_the_expected_and_received_shapes():
    with pytest.raises(ValueError, match=r"BatchNorm2d\(4\): expected an input with 4 channels.*"
                                         r"\(2, 3, 5, 5\) with 3"):
        nn.BatchNorm2d(4)(mc.zeros(2, 3, 5, 5))
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4D input, got 2D"):
        nn.BatchNorm2d(4)(mc.zeros(2, 4))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected 2D or 3D input, got 4D"):
        nn.BatchNorm1d(4)(mc.zeros(2, 4, 1, 1))
    with pytest.raises(ValueError, match=r"more than 1 value per channel.*\(1, 3\)"):
        nn.BatchNorm1d(3)(mc.zeros(1, 3))
    with pytest.raises(ValueError, match=r"running_mean must have shape \(3,\).*got shape \(4,\)"):
        F.batch_norm(mc.zeros(2, 3), mc.zeros(4), mc.ones(4), training=True)
    with pytest.raises(ValueError, match="evaluation mode"):
        F.batch_norm(mc.zeros(2, 3), None, None, training=False)
