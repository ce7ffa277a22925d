"""Dropout: ``dropout`` (single elements) and ``dropout2d`` (whole channels).

Inverted dropout, as PyTorch: while training, every element (or channel) is kept with
probability 1 - p and scaled by 1/(1 - p), so the expected value is unchanged and
evaluation needs no rescaling:   y = x * mask / (1 - p),  mask ~ Bernoulli(1 - p).
The masks come from minicnn's seeded generator (``mc.manual_seed`` makes them repeatable).
"""
import numpy as np

from kernels.backend import get_array_module

from ..autograd.function import Function
from ..autograd.random import default_generator
from ..autograd.tensor import Tensor

__all__ = ["dropout", "dropout2d"]


class Dropout(Function):
    """y = x * scaled_mask, where scaled_mask is 0 or 1/(1-p) (it may broadcast, e.g.
    (N, C, 1, 1) for dropout2d);  d x = dy * scaled_mask."""
    @staticmethod
    def forward(ctx, x, scaled_mask):
        ctx.save_for_backward(scaled_mask)
        return x * scaled_mask

    @staticmethod
    def backward(ctx, grad_y):
        (scaled_mask,) = ctx.saved_tensors
        return grad_y * scaled_mask


def _check(op, input, p):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a minicnn Tensor as input, got {type(input).__name__}")
    if input.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: expected a float32 or float64 input, got {input.dtype}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")


def _scaled_mask(x, mask_shape, p):
    """An array of 0 (dropped, probability p) and 1/(1-p) (kept), in x's dtype."""
    keep = default_generator().random(mask_shape, dtype=np.float32) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)                       # p = 1: all dropped
    mask = keep.astype(x.dtype) * x.dtype.type(scale)
    return get_array_module(x).asarray(mask)                            # to the GPU if x is there


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) while
    ``training``; the identity otherwise. Any shape.

    ``inplace`` is accepted for PyTorch compatibility; the result is always a new tensor.
    """
    p = float(p)
    _check("dropout", input, p)
    if not training or p == 0.0:
        return input
    return Dropout.apply(input, _scaled_mask(input.data, input.shape, p))


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels: each (n, c) plane of (N, C, H, W) is dropped with probability
    ``p`` (the rest scaled by 1/(1-p)) while ``training``. Neighbouring pixels of a feature
    map are correlated, so dropping single pixels would hardly regularise a conv net.

    A 3-D input is taken as (N, C, L), as PyTorch currently does.
    """
    p = float(p)
    _check("dropout2d", input, p)
    if input.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected a 4-D input (N, C, H, W) (or 3-D (N, C, L)), "
                         f"got shape {input.shape}")
    if not training or p == 0.0:
        return input
    mask_shape = input.shape[:2] + (1,) * (input.ndim - 2)             # (N, C, 1, 1)
    return Dropout.apply(input, _scaled_mask(input.data, mask_shape, p))
