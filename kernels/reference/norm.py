"""Batch-normalisation kernels in readable NumPy (training-mode statistics and gradients).

All three work on ``x (N, C, L)``: channel ``c`` is normalised over the batch axis and the
spatial axis together, ``M = N*L`` numbers per channel (callers reshape ``(N, C)`` to
``(N, C, 1)`` and ``(N, C, H, W)`` to ``(N, C, H*W)``). Per-channel vectors ``mean``,
``invstd``, ``weight``, ``bias`` are ``(C,)``. Sums are taken in float64 (float32 inputs
lose digits quickly when a channel holds millions of numbers); results keep x's dtype.
"""
import numpy as np

from kernels.reference.pool import check_float_array, check_same_shape


# ----------------------------------------------------------------------------- checks
# Shared with kernels/cpu/norm.py.

def check_channel_vector(op, name, vector, channels):
    """Raise unless ``vector`` is a float array of shape (C,)."""
    check_float_array(op, name, vector, 1)
    check_same_shape(op, name, vector, (channels,))


def check_batchnorm_input(op, x, **vectors):
    """x must be float (N, C, L) with N*L > 0; every named vector must be float (C,)."""
    check_float_array(op, "x", x, 3)
    if x.shape[0] * x.shape[2] == 0:
        raise ValueError(f"{op}: x must hold at least one value per channel, got shape {x.shape}")
    for name, vector in vectors.items():
        check_channel_vector(op, name, vector, x.shape[1])


# ----------------------------------------------------------------------------- kernels

def batchnorm_stats(x):
    """Per-channel mean and biased variance.

    x (N, C, L) -> mean (C,), var (C,);
    mean[c] = sum_{n,l} x[n,c,l] / M,  var[c] = sum_{n,l} (x[n,c,l] - mean[c])^2 / M.
    Two passes in float64 (the mean first, then squared deviations), so a large mean does
    not cancel the variance away as in E[x^2] - E[x]^2.
    """
    check_batchnorm_input("batchnorm_stats", x)
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=(0, 2))
    deviation = x64 - mean[None, :, None]
    var = (deviation * deviation).mean(axis=(0, 2))
    return mean.astype(x.dtype), var.astype(x.dtype)


def batchnorm_forward(x, mean, invstd, weight, bias):
    """Normalise, scale and shift each channel.

    x (N, C, L), mean/invstd/weight/bias (C,) -> y (N, C, L);
    y = (x - mean[c]) * invstd[c] * weight[c] + bias[c].
    """
    check_batchnorm_input("batchnorm_forward", x, mean=mean, invstd=invstd,
                          weight=weight, bias=bias)

    def per_channel(vector):           # (C,) -> (1, C, 1) in x's dtype, to broadcast
        return vector.astype(x.dtype)[None, :, None]

    xhat = (x - per_channel(mean)) * per_channel(invstd)
    return xhat * per_channel(weight) + per_channel(bias)


def batchnorm_backward(grad_y, x, mean, invstd, weight):
    """Training-mode gradients, where mean and invstd are the batch's own statistics.

    grad_y, x (N, C, L), mean/invstd/weight (C,) -> grad_x (N, C, L), grad_weight (C,),
    grad_bias (C,):
        xhat        = (x - mean) * invstd
        grad_bias   = sum_{n,l} grad_y
        grad_weight = sum_{n,l} grad_y * xhat
        grad_x      = weight * invstd / M * (M * grad_y - grad_bias - xhat * grad_weight)
    (the last line is dL/dx through y, through the mean and through the variance.)
    """
    op = "batchnorm_backward"
    check_batchnorm_input(op, x, mean=mean, invstd=invstd, weight=weight)
    check_float_array(op, "grad_y", grad_y, 3)
    check_same_shape(op, "grad_y", grad_y, x.shape)
    count = x.shape[0] * x.shape[2]                     # M = N * L

    def per_channel(vector):           # (C,) -> (1, C, 1) in float64, to broadcast
        return vector.astype(np.float64)[None, :, None]

    grad_y64 = grad_y.astype(np.float64)
    xhat = (x.astype(np.float64) - per_channel(mean)) * per_channel(invstd)
    grad_bias = grad_y64.sum(axis=(0, 2))
    grad_weight = (grad_y64 * xhat).sum(axis=(0, 2))
    scale = per_channel(weight) * per_channel(invstd) / count
    grad_x = scale * (count * grad_y64 - per_channel(grad_bias) - xhat * per_channel(grad_weight))
    dtype = x.dtype
    return grad_x.astype(dtype), grad_weight.astype(dtype), grad_bias.astype(dtype)
