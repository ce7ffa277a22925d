"""Batch normalisation: ``batch_norm``, PyTorch's arguments, defaults and semantics.

For every channel c of x (N, C), (N, C, L) or (N, C, H, W):

    y = (x - mean[c]) / sqrt(var[c] + eps) * weight[c] + bias[c]

Training uses the batch's own statistics (over N and the spatial axes, the biased
variance) and, when running stats are given, updates them IN PLACE with the unbiased
variance:  running = (1 - momentum) * running + momentum * batch.
Evaluation uses the running statistics: then y is a fixed affine map of x.

The batch statistics, the training forward and its backward are the fused kernels of
docs/kernels.md (``kernels.backend.for_array(x)``); they see x as (N, C, L).
"""
import numpy as np

from kernels.backend import for_array, get_array_module

from ..autograd.function import Function
from ..autograd.tensor import Tensor

__all__ = ["batch_norm"]


class BatchNormTrain(Function):
    """Training mode: y = (x - mean) * invstd * weight + bias with the batch's mean and
    invstd (C,), which depend on x -- so d x has terms through the mean and the variance:
        xhat = (x - mean) * invstd,  M = N * L
        d bias = sum(dy),  d weight = sum(dy * xhat)
        d x = weight * invstd / M * (M * dy - d bias - xhat * d weight)
    """
    @staticmethod
    def forward(ctx, x, weight, bias, mean, invstd):
        kernels = for_array(x)
        xp = get_array_module(x)
        channels = x.shape[1]
        x3 = x.reshape(x.shape[0], channels, -1)                       # (N, C, L)
        scale = weight if weight is not None else xp.ones(channels, dtype=x.dtype)
        shift = bias if bias is not None else xp.zeros(channels, dtype=x.dtype)
        y3 = kernels.batchnorm_forward(x3, mean, invstd, scale, shift)
        ctx.save_for_backward(x3, mean, invstd, scale)
        return y3.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad_y):
        x3, mean, invstd, scale = ctx.saved_tensors
        grad_y3 = grad_y.reshape(x3.shape)
        grad_x3, grad_weight, grad_bias = for_array(grad_y).batchnorm_backward(
            grad_y3, x3, mean, invstd, scale)
        return grad_x3.reshape(grad_y.shape), grad_weight, grad_bias


class BatchNormEval(Function):
    """Evaluation mode: the statistics are constants, so y = x * a + b is affine per channel:
        xhat = (x - running_mean) * invstd,  a = weight * invstd
        d x = dy * a,  d weight = sum(dy * xhat),  d bias = sum(dy)
    """
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, eps):
        xp = get_array_module(x)
        channels = x.shape[1]
        broadcast = (1, channels) + (1,) * (x.ndim - 2)                 # (1, C, 1, 1)
        invstd = (1.0 / xp.sqrt(running_var.astype(np.float64) + eps)).astype(x.dtype)
        xhat = (x - running_mean.astype(x.dtype).reshape(broadcast)) * invstd.reshape(broadcast)
        y = xhat if weight is None else xhat * weight.reshape(broadcast)
        y = y if bias is None else y + bias.reshape(broadcast)
        scale = invstd if weight is None else invstd * weight
        ctx.save_for_backward(xhat, scale.reshape(broadcast))
        return y

    @staticmethod
    def backward(ctx, grad_y):
        xhat, scale = ctx.saved_tensors
        axes = (0,) + tuple(range(2, grad_y.ndim))                      # all but C
        grad_weight = (grad_y * xhat).sum(axis=axes)
        grad_bias = grad_y.sum(axis=axes)
        return grad_y * scale, grad_weight, grad_bias


def _array(value):
    return value.data if isinstance(value, Tensor) else value


def _check_vector(name, value, channels, input_shape):
    """running_mean, running_var, weight and bias must hold one number per channel."""
    if value is None:
        return
    shape = tuple(getattr(_array(value), "shape", ()))
    if shape != (channels,):
        raise ValueError(f"batch_norm: {name} must have shape ({channels},), one value per "
                         f"channel of the input (shape {input_shape}, C = {channels}), "
                         f"got shape {shape}")


def _update_running(running, batch_value, momentum):
    """running = (1 - momentum) * running + momentum * batch, in place (a buffer update)."""
    array = _array(running)
    array *= 1 - momentum
    array += momentum * batch_value.astype(array.dtype)
    if isinstance(running, Tensor):
        running._version += 1


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Normalise each channel of ``input`` (N, C), (N, C, L) or (N, C, H, W).

    ``running_mean``, ``running_var`` (C,): updated in place when ``training`` (may be None
    then: batch statistics only); used instead of the batch's when not ``training``.
    ``weight``, ``bias`` (C,): the learnt scale and shift (None: 1 and 0).

    >>> x = mc.randn(8, 3, 4, 4)
    >>> y = F.batch_norm(x, None, None, training=True)     # each channel: mean 0, var 1
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"batch_norm: expected a minicnn Tensor as input, got {type(input).__name__}")
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C), (N, C, L) or "
                         f"(N, C, H, W), got shape {input.shape}")
    if input.dtype not in (np.float32, np.float64):
        raise TypeError(f"batch_norm: expected a float32 or float64 input, got {input.dtype}")
    if momentum is None:
        raise TypeError("batch_norm: momentum must be a float, got None (nn.BatchNorm with "
                        "momentum=None passes 1/num_batches_tracked, a cumulative average)")
    channels = input.shape[1]
    for name, value in (("running_mean", running_mean), ("running_var", running_var),
                        ("weight", weight), ("bias", bias)):
        _check_vector(name, value, channels, input.shape)

    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var must be given in "
                             "evaluation mode (training=False)")
        return BatchNormEval.apply(input, weight, bias, _array(running_mean),
                                   _array(running_var), float(eps))

    count = input.data.size // channels                                 # M = N * L
    if count <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input of shape {input.shape}")
    x = input.data
    mean, var = for_array(x).batchnorm_stats(x.reshape(x.shape[0], channels, -1))
    if running_mean is not None:
        _update_running(running_mean, mean, momentum)
    if running_var is not None:
        _update_running(running_var, var * (count / (count - 1)), momentum)   # unbiased
    xp = get_array_module(x)
    invstd = (1.0 / xp.sqrt(var.astype(np.float64) + eps)).astype(x.dtype)
    return BatchNormTrain.apply(input, weight, bias, mean, invstd)
