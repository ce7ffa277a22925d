"""The kernels and the convolutions on more than one thread (``kernels/cpu/threads.py``).

The other kernel tests run at the default of one thread, where everything runs inline.
Here the work is split between two threads of the pool, and must give the reference's
results (and the one-thread results), with BLAS's thread count restored afterwards.
"""
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import kernels.cpu as cpu
import minicnn as mc
import minicnn.functional as F
from kernels import reference


@pytest.fixture
def two_threads():
    cpu.set_num_threads(2)
    try:
        yield
    finally:
        cpu.set_num_threads(1)


def blas_threads():
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_thread_count_is_validated():
    with pytest.raises(ValueError, match="positive"):
        cpu.set_num_threads(0)
    assert cpu.get_num_threads() == 1


def test_split_covers_the_range_in_order(two_threads):
    from kernels.cpu.threads import split
    assert split(5) == [slice(0, 2), slice(2, 5)]
    assert split(1) == [slice(0, 1)]


def test_map_chunks_runs_on_the_pool_with_blas_on_one_thread(two_threads):
    before = blas_threads()
    seen = []

    def work(part):
        seen.append((threading.current_thread().name, blas_threads()))
        return part * 10

    assert cpu.map_chunks(work, [1, 2, 3, 4]) == [10, 20, 30, 40]  # in the parts' order
    assert all(name.startswith("minicnn") for name, _ in seen)
    assert all(all(count == 1 for count in counts) for _, counts in seen)
    assert blas_threads() == before  # the user's BLAS setting is back


def planes(rng, n=3, c=5, h=9, w=7, dtype=np.float64):
    return rng.standard_normal((n, c, h, w)).astype(dtype)


@pytest.mark.parametrize("geometry", [((3, 3), (1, 1), (1, 1), (1, 1)),
                                      ((2, 3), (2, 1), (0, 2), (2, 1))])
def test_im2col_col2im(two_threads, geometry):
    rng = np.random.default_rng(0)
    x = planes(rng)
    cols = cpu.im2col(x, *geometry)
    np.testing.assert_array_equal(cols, reference.im2col(x, *geometry))
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
    x = planes(rng).reshape(3, 5, 63)
    mean, var = cpu.batchnorm_stats(x)
    ref_mean, ref_var = reference.batchnorm_stats(x)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-12)
    np.testing.assert_allclose(var, ref_var, rtol=1e-12)
    invstd = 1 / np.sqrt(var + 1e-5)
    weight, bias = rng.standard_normal(5), rng.standard_normal(5)
    np.testing.assert_allclose(cpu.batchnorm_forward(x, mean, invstd, weight, bias),
                               reference.batchnorm_forward(x, mean, invstd, weight, bias), rtol=1e-12)
    grad_y = rng.standard_normal(x.shape)
    for got, expected in zip(cpu.batchnorm_backward(grad_y, x, mean, invstd, weight),
                             reference.batchnorm_backward(grad_y, x, mean, invstd, weight)):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("transposed", [False, True])
def test_convolutions_match_one_thread(transposed, monkeypatch):
    """conv2d / conv_transpose2d with the batch chunks on two threads = on one thread."""
    import minicnn.functional.conv as conv_module
    monkeypatch.setattr(conv_module, "CHUNK_BYTES", 1)  # one image per chunk: many chunks
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 4, 7, 7))
    w = rng.standard_normal((4, 3, 3, 3) if transposed else (6, 2, 3, 3))
    op = (lambda a, b: F.conv_transpose2d(a, b, stride=2, padding=1)) if transposed else \
        (lambda a, b: F.conv2d(a, b, padding=1, groups=2))
    results = []
    for threads in (1, 2):
        cpu.set_num_threads(threads)
        try:
            tx, tw = mc.tensor(x, requires_grad=True), mc.tensor(w, requires_grad=True)
            out = op(tx, tw)
            (out * out).sum().backward()
            results.append((out.detach().numpy(), tx.grad.numpy(), tw.grad.numpy()))
        finally:
            cpu.set_num_threads(1)
    for one, two in zip(*results):
        np.testing.assert_allclose(two, one, rtol=1e-12, atol=1e-12)
