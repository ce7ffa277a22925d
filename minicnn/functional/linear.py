"""The affine map of a fully connected layer: ``linear(x, W, b) = x W^T + b``."""
import numpy as np

from kernels.backend import get_array_module
from kernels.cpu import matmul as cpu_matmul

from ..autograd.function import Function
from ..autograd.tensor import Tensor

__all__ = ["linear"]


class Linear(Function):
    """y = x W^T + b  for x (*, in), W (out, in), b (out,)  ->  y (*, out).

    Backward, with the leading dims of x flattened into one batch axis B:
    dx = dy W,   dW = dy^T x  (summed over B),   db = sum_B dy.
    """

    @staticmethod
    def forward(ctx, x, weight, bias):
        x2 = x.reshape(-1, x.shape[-1])            # (B, in)
        y2 = _matmul(x2, weight.T)                 # (B, out)
        if bias is not None:
            y2 = y2 + bias
        ctx.save_for_backward(x2, weight)
        ctx.x_shape = x.shape
        return y2.reshape(x.shape[:-1] + (weight.shape[0],))

    @staticmethod
    def backward(ctx, grad):
        x2, weight = ctx.saved_tensors
        grad2 = grad.reshape(-1, weight.shape[0])  # (B, out)
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = _matmul(grad2, weight).reshape(ctx.x_shape)
        if ctx.needs_input_grad[1]:
            grad_weight = _matmul(grad2.T, x2)
        if ctx.needs_input_grad[2]:
            grad_bias = grad2.sum(axis=0)
        return grad_x, grad_weight, grad_bias


def _matmul(a, b):
    """a @ b; on the CPU a large product is split between minicnn's threads (kernels/cpu/linalg.py)."""
    return cpu_matmul(a, b) if get_array_module(a) is np else a @ b


def linear(input, weight, bias=None):
    """Apply ``y = input @ weight.T + bias``.

    Args:
        input:  Tensor of shape (*, in_features) -- any number of leading dims, or just (in_features,)
        weight: Tensor of shape (out_features, in_features)  (PyTorch's layout)
        bias:   Tensor of shape (out_features,) or None
    Returns:
        Tensor of shape (*, out_features)

    Example::

        >>> y = F.linear(mc.randn(8, 4), mc.randn(3, 4), mc.zeros(3))   # y.shape == (8, 3)
    """
    for name, value in (("input", input), ("weight", weight), ("bias", bias)):
        if value is not None and not isinstance(value, Tensor):
            raise TypeError(f"linear: {name} must be a Tensor, got {type(value).__name__}")
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must have shape (out_features, in_features), got {weight.shape}")
    if input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {input.shape} does not match weight of shape "
                         f"{weight.shape}: expected input of shape (*, {weight.shape[1]})")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},) for weight of shape "
                         f"{weight.shape}, got {bias.shape}")
    for name, value in (("weight", weight), ("bias", bias)):
        if value is not None and value.dtype != input.dtype:
            raise TypeError(f"linear: input dtype {input.dtype} does not match {name} dtype {value.dtype}; "
                            f"convert one of them (e.g. input.to({str(value.dtype)!r}) or model.to({str(input.dtype)!r}))")
    return Linear.apply(input, weight, bias)
