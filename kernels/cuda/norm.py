"""Batch normalisation on the GPU: launchers for ``batchnorm.cu``.

Same contract as ``kernels.reference.norm`` (docs/kernels.md): ``x (N, C, L)``, per-channel
vectors ``(C,)``, sums in float64, results in x's dtype; the arrays are CuPy arrays.
"""
import numpy as np

from . import checks
from .launch import get_kernel, ints, launch, launch_per_channel, require_cupy

SOURCE = "batchnorm.cu"
BN_THREADS = 256     # must equal BN_THREADS in batchnorm.cu (the shared-memory tree size)


def _channel_vectors(cupy, dtype, *vectors):
    """Each (C,) vector as a contiguous array of x's dtype (the kernels read one type)."""
    return tuple(cupy.ascontiguousarray(v.astype(dtype, copy=False)) for v in vectors)


def batchnorm_stats(x):
    """Per-channel mean and biased variance (two passes, summed in double).

    x (N, C, L) -> mean (C,), var (C,);
    mean[c] = sum_{n,l} x[n,c,l] / M,  var[c] = sum_{n,l} (x[n,c,l] - mean[c])^2 / M.
    """
    op = "batchnorm_stats"
    cupy = require_cupy(op)
    checks.check_batchnorm_input(cupy, op, x)
    n, c, length = x.shape
    x = cupy.ascontiguousarray(x)
    mean = cupy.empty((c,), dtype=x.dtype)
    var = cupy.empty((c,), dtype=x.dtype)
    kernel = get_kernel(SOURCE, "batchnorm_stats", x.dtype, op)
    launch_per_channel(kernel, c, BN_THREADS, x, mean, var, *ints(n, c, length))
    return mean, var


def batchnorm_forward(x, mean, invstd, weight, bias):
    """y = (x - mean[c]) * invstd[c] * weight[c] + bias[c].

    x (N, C, L), mean/invstd/weight/bias (C,) -> y (N, C, L).
    """
    op = "batchnorm_forward"
    cupy = require_cupy(op)
    checks.check_batchnorm_input(cupy, op, x, mean=mean, invstd=invstd, weight=weight, bias=bias)
    n, c, length = x.shape
    x = cupy.ascontiguousarray(x)
    mean, invstd, weight, bias = _channel_vectors(cupy, x.dtype, mean, invstd, weight, bias)
    y = cupy.empty_like(x)
    kernel = get_kernel(SOURCE, "batchnorm_forward", x.dtype, op)
    launch(kernel, y.size, x, mean, invstd, weight, bias, y, *ints(n, c, length))
    return y


def batchnorm_backward(grad_y, x, mean, invstd, weight):
    """Training-mode gradients (mean and invstd are the batch's own statistics).

    grad_y, x (N, C, L), mean/invstd/weight (C,) -> grad_x (N, C, L), grad_weight (C,),
    grad_bias (C,):
        xhat        = (x - mean) * invstd
        grad_bias   = sum_{n,l} grad_y
        grad_weight = sum_{n,l} grad_y * xhat
        grad_x      = weight * invstd / M * (M * grad_y - grad_bias - xhat * grad_weight)
    Two launches: a per-channel reduction (in double), then one thread per element.
    """
    op = "batchnorm_backward"
    cupy = require_cupy(op)
    checks.check_batchnorm_input(cupy, op, x, mean=mean, invstd=invstd, weight=weight)
    checks.check_float_array(cupy, op, "grad_y", grad_y, 3)
    checks.check_shape(op, "grad_y", grad_y, x.shape)
    n, c, length = x.shape
    x = cupy.ascontiguousarray(x)
    grad_y = cupy.ascontiguousarray(grad_y.astype(x.dtype, copy=False))
    mean, invstd, weight = _channel_vectors(cupy, x.dtype, mean, invstd, weight)

    sum_dy = cupy.empty((c,), dtype=np.float64)          # grad_bias, in double
    sum_dy_xhat = cupy.empty((c,), dtype=np.float64)     # grad_weight, in double
    reduce_kernel = get_kernel(SOURCE, "batchnorm_backward_reduce", x.dtype, op)
    launch_per_channel(reduce_kernel, c, BN_THREADS, grad_y, x, mean, invstd,
                       sum_dy, sum_dy_xhat, *ints(n, c, length))

    grad_x = cupy.empty_like(x)
    input_kernel = get_kernel(SOURCE, "batchnorm_backward_input", x.dtype, op)
    launch(input_kernel, grad_x.size, grad_y, x, mean, invstd, weight,
           sum_dy, sum_dy_xhat, grad_x, *ints(n, c, length))
    return grad_x, sum_dy_xhat.astype(x.dtype), sum_dy.astype(x.dtype)
