"""The parallel builds of the Numba kernels (used at two or more kernel threads).

Every Numba loop is compiled twice (``kernels/cpu/threads.py``); the other kernel tests run
at the default of one thread, so the serial builds. Here each public kernel runs at two
threads, on arrays with more image planes than a block of the conv loops holds (so several
blocks run side by side), and must give the reference's results.
"""
import numba
import numpy as np
import pytest

import kernels.cpu as cpu
from kernels import reference
from kernels.cpu.conv import PLANES_PER_BLOCK, _im2col_loop


@pytest.fixture
def two_threads():
    cpu.set_num_threads(2)
    try:
        yield
    finally:
        cpu.set_num_threads(1)


def planes(rng, n=3, c=PLANES_PER_BLOCK // 2 + 5, h=9, w=7, dtype=np.float64):
    return rng.standard_normal((n, c, h, w)).astype(dtype)


@pytest.mark.parametrize("geometry", [((3, 3), (1, 1), (1, 1), (1, 1)),
                                      ((2, 3), (2, 1), (0, 2), (2, 1))])
def test_im2col_col2im(two_threads, geometry):
    rng = np.random.default_rng(0)
    x = planes(rng)
    cols = cpu.im2col(x, *geometry)
    np.testing.assert_array_equal(cols, reference.im2col(x, *geometry))
    if numba.config.NUMBA_NUM_THREADS >= 2:  # (a 1-core machine never uses the parallel builds)
        assert _im2col_loop.parallel.signatures, "the parallel build did not run"
    grad_cols = rng.standard_normal(cols.shape)
    np.testing.assert_allclose(cpu.col2im(grad_cols, x.shape, *geometry),
                               reference.col2im(grad_cols, x.shape, *geometry), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel", [(2, 2), (3, 2)])
def test_pooling(two_threads, kernel):
    rng = np.random.default_rng(1)
    x = planes(rng)
    args = (kernel, kernel, (0, 0), (1, 1), True)
    out, indices = cpu.maxpool2d_forward(x, *args)
    ref_out, ref_indices = reference.maxpool2d_forward(x, *args)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(indices, ref_indices)
    grad = rng.standard_normal(out.shape)
    np.testing.assert_allclose(cpu.maxpool2d_backward(grad, indices, x.shape),
                               reference.maxpool2d_backward(grad, indices, x.shape), rtol=1e-12)
    if kernel == (2, 2):  # non-overlapping windows: the indices are an unpooling map
        size = x.shape[2:]
        np.testing.assert_array_equal(cpu.maxunpool2d(out, indices, size),
                                      reference.maxunpool2d(out, indices, size))
        grad_full = rng.standard_normal(x.shape)
        np.testing.assert_array_equal(cpu.maxunpool2d_backward(grad_full, indices),
                                      reference.maxunpool2d_backward(grad_full, indices))
    avg_args = (kernel, kernel, (1, 1), False, True, None)
    avg = cpu.avgpool2d_forward(x, *avg_args)
    np.testing.assert_allclose(avg, reference.avgpool2d_forward(x, *avg_args), rtol=1e-12)
    grad = rng.standard_normal(avg.shape)
    np.testing.assert_allclose(cpu.avgpool2d_backward(grad, x.shape, *avg_args),
                               reference.avgpool2d_backward(grad, x.shape, *avg_args), rtol=1e-12)


def test_batchnorm(two_threads):
    rng = np.random.default_rng(2)
    x = planes(rng).reshape(3, -1, 63)
    channels = x.shape[1]
    mean, var = cpu.batchnorm_stats(x)
    ref_mean, ref_var = reference.batchnorm_stats(x)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-12)
    np.testing.assert_allclose(var, ref_var, rtol=1e-12)
    invstd = 1 / np.sqrt(var + 1e-5)
    weight, bias = rng.standard_normal(channels), rng.standard_normal(channels)
    np.testing.assert_allclose(cpu.batchnorm_forward(x, mean, invstd, weight, bias),
                               reference.batchnorm_forward(x, mean, invstd, weight, bias), rtol=1e-12)
    grad_y = rng.standard_normal(x.shape)
    for got, expected in zip(cpu.batchnorm_backward(grad_y, x, mean, invstd, weight),
                             reference.batchnorm_backward(grad_y, x, mean, invstd, weight)):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
