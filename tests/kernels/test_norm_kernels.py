"""Batch-norm kernels: statistics, the normalising forward, the training-mode backward.

* NumPy's own mean/var over the transposed array checks the statistics (incl. a float32
  channel with a large mean, where a float32 E[x^2] - E[x]^2 would lose every digit);
* the forward is checked against the formula written out in the test;
* the backward is checked against central finite differences of a scalar loss (float64);
* the Numba kernels must match the reference; PyTorch (when installed) checks both.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from kernels.cpu import norm as compiled
from kernels.reference import norm as reference

IMPLEMENTATIONS = [pytest.param(reference, id="reference"), pytest.param(compiled, id="numba")]
EPS = 1e-5


@st.composite
def batches(draw):
    """x (N, C, L) with a per-channel offset and scale, plus weight and bias (C,)."""
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 10)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = rng.uniform(0.1, 3.0, (1, shape[1], 1))
    offset = rng.uniform(-5.0, 5.0, (1, shape[1], 1))
    x = rng.standard_normal(shape) * scale + offset
    if shape[0] * shape[2] == 1:
        x[...] = offset                                     # one number: var 0
    weight = rng.uniform(0.5, 2.0, shape[1])
    bias = rng.standard_normal(shape[1])
    grad_y = rng.standard_normal(shape)
    return x.astype(dtype), weight.astype(dtype), bias.astype(dtype), grad_y.astype(dtype)


def channel_stats(x):
    """Independent: every channel as one row of numbers, NumPy's mean and var in float64."""
    rows = x.astype(np.float64).transpose(1, 0, 2).reshape(x.shape[1], -1)
    return rows.mean(axis=1), rows.var(axis=1)


def tolerance(dtype):
    return dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(case=batches())
def test_stats_and_forward_match_numpy_formulas(case):
    x, weight, bias, _ = case
    want_mean, want_var = channel_stats(x)
    invstd = (1.0 / np.sqrt(want_var + EPS)).astype(x.dtype)
    mean = want_mean.astype(x.dtype)
    want_y = ((x.astype(np.float64) - mean[None, :, None]) * invstd[None, :, None]
              * weight[None, :, None] + bias[None, :, None])
    x_before = x.copy()
    for impl in (reference, compiled):
        got_mean, got_var = impl.batchnorm_stats(x)
        assert got_mean.dtype == x.dtype and got_var.dtype == x.dtype
        np.testing.assert_allclose(got_mean, want_mean, **tolerance(x.dtype))
        np.testing.assert_allclose(got_var, want_var, **tolerance(x.dtype))
        y = impl.batchnorm_forward(x, mean, invstd, weight, bias)
        assert y.dtype == x.dtype and y.shape == x.shape
        np.testing.assert_allclose(y, want_y, **tolerance(x.dtype))
    np.testing.assert_array_equal(x, x_before)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_float32_stats_survive_a_large_mean(impl):
    rng = np.random.default_rng(0)
    x = (1.0e4 + 0.1 * rng.standard_normal((16, 3, 500))).astype(np.float32)
    want_mean, want_var = channel_stats(x)          # the float32 numbers, summed exactly enough
    mean, var = impl.batchnorm_stats(x)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-7)
    np.testing.assert_allclose(var, want_var, rtol=1e-4)


@settings(max_examples=40, deadline=None)
@given(case=batches())
def test_numba_backward_matches_reference(case):
    x, weight, _, grad_y = case
    mean, var = channel_stats(x)
    mean = mean.astype(x.dtype)
    invstd = (1.0 / np.sqrt(var + EPS)).astype(x.dtype)
    want = reference.batchnorm_backward(grad_y, x, mean, invstd, weight)
    got = compiled.batchnorm_backward(grad_y, x, mean, invstd, weight)
    scale = 1.0 + np.abs(want[0]).max()
    for got_part, want_part in zip(got, want):
        assert got_part.dtype == x.dtype and got_part.shape == want_part.shape
        np.testing.assert_allclose(got_part, want_part, rtol=tolerance(x.dtype)["rtol"],
                                   atol=tolerance(x.dtype)["atol"] * scale * x.size)


def batchnorm_loss(x, weight, bias, probe):
    """L = sum(probe * y), y = (x - mean) / sqrt(var + eps) * weight + bias, batch stats."""
    mean, var = channel_stats(x)
    y = ((x - mean[None, :, None]) / np.sqrt(var[None, :, None] + EPS)
         * weight[None, :, None] + bias[None, :, None])
    return np.sum(probe * y)


def finite_difference(loss, array, step=1e-6):
    """Central differences of loss() with respect to every entry of array (changed in place)."""
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + step
        plus = loss()
        array[index] = saved - step
        minus = loss()
        array[index] = saved
        grad[index] = (plus - minus) / (2 * step)
    return grad


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@settings(max_examples=10, deadline=None)
@given(case=batches())
def test_backward_matches_finite_differences(impl, case):
    x, weight, bias, probe = (a.astype(np.float64) for a in case)
    mean, var = channel_stats(x)
    invstd = 1.0 / np.sqrt(var + EPS)
    grad_x, grad_weight, grad_bias = impl.batchnorm_backward(probe, x, mean, invstd, weight)

    def loss():
        return batchnorm_loss(x, weight, bias, probe)

    np.testing.assert_allclose(grad_x, finite_difference(loss, x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad_weight, finite_difference(loss, weight), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad_bias, finite_difference(loss, bias), rtol=1e-5, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(case=batches())
def test_matches_torch_batch_norm(case):
    torch = pytest.importorskip("torch")
    x, weight, bias, grad_y = case
    assume(x.shape[0] * x.shape[2] > 1)                 # PyTorch refuses one value per channel
    tensors = [torch.from_numpy(a.copy()).requires_grad_() for a in (x, weight, bias)]
    y_t = torch.nn.functional.batch_norm(tensors[0], None, None, tensors[1], tensors[2],
                                         training=True, eps=EPS)
    y_t.backward(torch.from_numpy(grad_y))
    var_t, mean_t = torch.var_mean(torch.from_numpy(x.astype(np.float64)), dim=(0, 2),
                                   unbiased=False)
    tol = tolerance(x.dtype)
    for impl in (reference, compiled):
        mean, var = impl.batchnorm_stats(x)
        np.testing.assert_allclose(mean, mean_t.numpy(), **tol)
        np.testing.assert_allclose(var, var_t.numpy(), **tol)
        invstd = (1.0 / np.sqrt(var.astype(np.float64) + EPS)).astype(x.dtype)
        y = impl.batchnorm_forward(x, mean, invstd, weight, bias)
        np.testing.assert_allclose(y, y_t.detach().numpy(), rtol=1e-4 if x.dtype == np.float32 else 1e-9,
                                   atol=1e-4 if x.dtype == np.float32 else 1e-9)
        grads = impl.batchnorm_backward(grad_y, x, mean, invstd, weight)
        for got, tensor in zip(grads, tensors):
            want = tensor.grad.numpy()
            atol = (1e-3 if x.dtype == np.float32 else 1e-8) * (1 + np.abs(want).max())
            np.testing.assert_allclose(got, want, rtol=1e-3 if x.dtype == np.float32 else 1e-8,
                                       atol=atol)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_bad_input_is_refused_with_a_clear_message(impl):
    x = np.zeros((2, 3, 4))
    vector = np.ones(3)
    with pytest.raises(ValueError, match="batchnorm_stats.*3 dims"):
        impl.batchnorm_stats(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="batchnorm_stats.*float32 or float64"):
        impl.batchnorm_stats(x.astype(np.int64))
    with pytest.raises(ValueError, match="batchnorm_stats.*at least one value"):
        impl.batchnorm_stats(np.zeros((0, 3, 4)))
    with pytest.raises(ValueError, match=r"batchnorm_forward: weight must have shape \(3,\)"):
        impl.batchnorm_forward(x, vector, vector, np.ones(4), vector)
    with pytest.raises(ValueError, match=r"batchnorm_backward: grad_y must have shape \(2, 3, 4\)"):
        impl.batchnorm_backward(np.zeros((2, 3, 5)), x, vector, vector, vector)
