"""Numba (@njit, cache=True) versions of the reference kernels, the CPU default.

Each function names the reference function it matches; tests compare them. Every public
kernel runs on ``get_num_threads()`` Numba threads: 1 unless asked, and then its loops are
the serial builds, which never start Numba's OpenMP pool (see ``threads.py``).
"""
from . import conv, norm, pool
from .threads import get_num_threads, set_num_threads, with_kernel_threads  # noqa: F401

im2col = with_kernel_threads(conv.im2col)
col2im = with_kernel_threads(conv.col2im)
maxpool2d_forward = with_kernel_threads(pool.maxpool2d_forward)
maxpool2d_backward = with_kernel_threads(pool.maxpool2d_backward)
maxunpool2d = with_kernel_threads(pool.maxunpool2d)
maxunpool2d_backward = with_kernel_threads(pool.maxunpool2d_backward)
avgpool2d_forward = with_kernel_threads(pool.avgpool2d_forward)
avgpool2d_backward = with_kernel_threads(pool.avgpool2d_backward)
batchnorm_stats = with_kernel_threads(norm.batchnorm_stats)
batchnorm_forward = with_kernel_threads(norm.batchnorm_forward)
batchnorm_backward = with_kernel_threads(norm.batchnorm_backward)
