"""Batch-normalisation kernels compiled with Numba: the functions of kernels/reference/norm.py.

``x (N, C, L)``; channel ``c`` owns the ``M = N*L`` numbers ``x[:, c, :]``. The statistics
and the backward loop over the channels: a channel's numbers are read twice in a row (two
passes), and the second pass finds them still in cache. Sums are kept in float64 for
float32 inputs too. ``fastmath={"reassoc"}`` lets LLVM reorder those sums
into SIMD lanes (the order of a sum is the only liberty taken; NaN/inf rules are kept).

On several threads (``threads.py``) each thread takes a range of channels (the forward: of
(n, c) rows); a channel's sums are the same on any thread count. Memory-bound as they are,
two threads still ran them 1.3-1.7x faster on the 2 cores measured (batch 128, ResNet-20's
shapes): one thread alone does not use all of the memory bandwidth.
"""
import numpy as np
from numba import njit

from kernels.reference.norm import check_batchnorm_input
from kernels.reference.pool import check_float_array, check_same_shape

from . import memory
from .threads import map_chunks, split_range

_SUM_FLAGS = {"reassoc"}


@njit(cache=True, nogil=True, fastmath=_SUM_FLAGS)
def _channel_stats(x, mean, var, first, stop):
    """x (N, C, L) -> mean, var (C,) float64 for channels [first, stop); two passes: the
    mean, then squared deviations."""
    batch, channels, length = x.shape
    count = batch * length
    for c in range(first, stop):
        total = 0.0
        for n in range(batch):
            for k in range(length):
                total += x[n, c, k]
        channel_mean = total / count
        squares = 0.0
        for n in range(batch):
            for k in range(length):
                deviation = x[n, c, k] - channel_mean
                squares += deviation * deviation
        mean[c] = channel_mean
        var[c] = squares / count


@njit(cache=True, nogil=True)
def _normalise_planes(x, mean, scale, bias, y, first, stop):
    """y[n, c, :] = (x[n, c, :] - mean[c]) * scale[c] + bias[c], one (n, c) row at a time,
    for the rows n*C + c in [first, stop)."""
    batch, channels, length = x.shape
    for row in range(first, stop):
        n = row // channels
        c = row % channels
        channel_mean = mean[c]
        channel_scale = scale[c]
        channel_bias = bias[c]
        for k in range(length):
            y[n, c, k] = (x[n, c, k] - channel_mean) * channel_scale + channel_bias


@njit(cache=True, nogil=True, fastmath=_SUM_FLAGS)
def _backward_channels(grad_y, x, mean, invstd, weight, grad_x, grad_weight, grad_bias,
                       first, stop):
    """For the channels [first, stop). Pass 1: grad_bias = sum(gy), grad_weight = sum(gy * xhat).
    Pass 2: grad_x = weight*invstd * (gy - grad_bias/M - (x - mean)*invstd*grad_weight/M),
    the reference formula with weight*invstd/M * M taken out of the bracket.
    Vectors are float64 (C,); gy, x, grad_x (N, C, L) in the input dtype.
    """
    batch, channels, length = x.shape
    count = batch * length
    for c in range(first, stop):
        channel_mean = mean[c]
        sum_grad = 0.0
        sum_grad_centered = 0.0
        for n in range(batch):
            for k in range(length):
                g = grad_y[n, c, k]
                sum_grad += g
                sum_grad_centered += g * (x[n, c, k] - channel_mean)
        grad_bias[c] = sum_grad
        grad_weight[c] = sum_grad_centered * invstd[c]

        # The coefficients are rounded to x's dtype, so that pass 2 runs in x's dtype
        # (twice the SIMD width for float32, ~1.7x faster). The bracket subtracts numbers
        # of grad_y's size before scaling, so rounding stays relative to grad_y.
        dtype = grad_x.dtype.type
        scale = dtype(weight[c] * invstd[c])
        mean_grad = dtype(grad_bias[c] / count)
        slope = dtype(invstd[c] * grad_weight[c] / count)
        mean_x = dtype(channel_mean)
        for n in range(batch):
            for k in range(length):
                grad_x[n, c, k] = scale * (grad_y[n, c, k] - mean_grad - slope * (x[n, c, k] - mean_x))


def batchnorm_stats(x):
    """x (N, C, L) -> mean (C,), biased var (C,); see reference.batchnorm_stats."""
    check_batchnorm_input("batchnorm_stats", x)
    channels = x.shape[1]
    mean = np.empty(channels, dtype=np.float64)
    var = np.empty(channels, dtype=np.float64)
    x = np.ascontiguousarray(x)
    map_chunks(lambda part: _channel_stats(x, mean, var, *part), split_range(channels, x.nbytes))
    return mean.astype(x.dtype), var.astype(x.dtype)


def batchnorm_forward(x, mean, invstd, weight, bias):
    """x (N, C, L) -> y = (x - mean) * invstd * weight + bias; see reference.batchnorm_forward."""
    check_batchnorm_input("batchnorm_forward", x, mean=mean, invstd=invstd,
                          weight=weight, bias=bias)
    # invstd * weight folded into one scale per channel (C,), in x's dtype.
    scale = (invstd.astype(np.float64) * weight).astype(x.dtype)
    y = memory.empty(x.shape, x.dtype)
    x, mean, bias = np.ascontiguousarray(x), mean.astype(x.dtype), bias.astype(x.dtype)
    map_chunks(lambda part: _normalise_planes(x, mean, scale, bias, y, *part),
               split_range(x.shape[0] * x.shape[1], 2 * x.nbytes))
    return y


def batchnorm_backward(grad_y, x, mean, invstd, weight):
    """-> grad_x (N, C, L), grad_weight (C,), grad_bias (C,); see reference.batchnorm_backward."""
    op = "batchnorm_backward"
    check_batchnorm_input(op, x, mean=mean, invstd=invstd, weight=weight)
    check_float_array(op, "grad_y", grad_y, 3)
    check_same_shape(op, "grad_y", grad_y, x.shape)
    channels = x.shape[1]
    grad_x = memory.empty(x.shape, x.dtype)
    grad_weight = np.empty(channels, dtype=np.float64)
    grad_bias = np.empty(channels, dtype=np.float64)
    grad_y, x = np.ascontiguousarray(grad_y, dtype=x.dtype), np.ascontiguousarray(x)
    mean, invstd, weight = (v.astype(np.float64) for v in (mean, invstd, weight))
    map_chunks(lambda part: _backward_channels(grad_y, x, mean, invstd, weight, grad_x,
                                               grad_weight, grad_bias, *part),
               split_range(channels, 3 * x.nbytes))
    return grad_x, grad_weight.astype(x.dtype), grad_bias.astype(x.dtype)
