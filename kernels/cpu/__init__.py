"""Numba (@njit, cache=True) versions of the reference kernels, the CPU default.

Each function names the reference function it matches; tests compare them.
"""
from .conv import im2col, col2im  # noqa: F401
from .pool import (maxpool2d_forward, maxpool2d_backward, maxunpool2d,  # noqa: F401
                   maxunpool2d_backward, avgpool2d_forward, avgpool2d_backward)
from .norm import batchnorm_stats, batchnorm_forward, batchnorm_backward  # noqa: F401
