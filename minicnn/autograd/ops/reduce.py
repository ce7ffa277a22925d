"""Reductions over ``dim`` (an int, a tuple, or None for all axes) with ``keepdims``.

This module defines ``sum``, ``max`` and ``min``; Python's own are used as ``builtins.max``.
"""
import builtins
import numbers

from kernels.backend import get_array_module

from ..function import Function


def _normalize_axes(dim, ndim):
    """``dim`` -> a sorted tuple of non-negative axes (None -> every axis).

    A 0-d tensor accepts dim 0 or -1 (as in PyTorch) and has no axis to reduce.
    """
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
    span = builtins.max(ndim, 1)
    axes = []
    for d in dims:
        if not -span <= d < span:
            raise IndexError(f"reduction: dim {d} is out of range for a tensor with {ndim} dims")
        axis = int(d) % span
        if axis in axes:
            raise ValueError(f"reduction: dim {axis} appears more than once in dim={dim}")
        axes.append(axis)
    if ndim == 0:
        return ()
    return tuple(sorted(axes))


def _expand_back(grad, shape, axes, keepdims):
    """Re-insert reduced axes into ``grad`` so it broadcasts against the input ``shape``."""
    if not keepdims:
        for axis in axes:
            grad = get_array_module(grad).expand_dims(grad, axis)
    return grad


class Sum(Function):
    """y = sum over axes;  dx = dy broadcast back."""
    @staticmethod
    def forward(ctx, x, axes, keepdims):
        ctx.shape, ctx.axes, ctx.keepdims = x.shape, axes, keepdims
        return x.sum(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        grad = _expand_back(grad, ctx.shape, ctx.axes, ctx.keepdims)
        return get_array_module(grad).broadcast_to(grad, ctx.shape).copy()


class Mean(Function):
    """y = sum / n;  dx = dy / n broadcast back."""
    @staticmethod
    def forward(ctx, x, axes, keepdims):
        ctx.shape, ctx.axes, ctx.keepdims = x.shape, axes, keepdims
        ctx.count = builtins.max(1, _product(x.shape[a] for a in axes))
        return x.mean(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        grad = _expand_back(grad, ctx.shape, ctx.axes, ctx.keepdims) / grad.dtype.type(ctx.count)
        return get_array_module(grad).broadcast_to(grad, ctx.shape).copy()


class MaxMin(Function):
    """y = max (or min) over axes; the gradient is shared equally among tied extremes."""
    @staticmethod
    def forward(ctx, x, axes, keepdims, take_max):
        y = x.max(axis=axes, keepdims=True) if take_max else x.min(axis=axes, keepdims=True)
        hits = x == y
        ctx.save_for_backward(hits / hits.sum(axis=axes, keepdims=True))
        ctx.shape, ctx.axes, ctx.keepdims = x.shape, axes, keepdims
        return y if keepdims else y.squeeze(axis=axes)

    @staticmethod
    def backward(ctx, grad):
        (share,) = ctx.saved_tensors
        return _expand_back(grad, ctx.shape, ctx.axes, ctx.keepdims) * share.astype(grad.dtype)


class Var(Function):
    """y = sum (x - mean)^2 / (n - correction);  dx = 2 (x - mean) dy / (n - correction)."""
    @staticmethod
    def forward(ctx, x, axes, keepdims, correction):
        n = _product(x.shape[a] for a in axes)
        centered = x - x.mean(axis=axes, keepdims=True)
        ctx.save_for_backward(centered)
        ctx.shape, ctx.axes, ctx.keepdims = x.shape, axes, keepdims
        ctx.denominator = builtins.max(n - correction, 0)
        return (centered * centered).sum(axis=axes, keepdims=keepdims) / x.dtype.type(ctx.denominator)

    @staticmethod
    def backward(ctx, grad):
        (centered,) = ctx.saved_tensors
        grad = _expand_back(grad, ctx.shape, ctx.axes, ctx.keepdims)
        # n - correction = 0 (one sample, unbiased) gives NaN like the forward, not ZeroDivisionError
        scale = grad.dtype.type(2.0) / grad.dtype.type(ctx.denominator)
        return grad * centered * scale


def _product(values):
    result = 1
    for v in values:
        result *= int(v)
    return result


def sum(x, dim=None, keepdims=False):
    return Sum.apply(x, _normalize_axes(dim, _ndim(x)), keepdims)


def mean(x, dim=None, keepdims=False):
    return Mean.apply(x, _normalize_axes(dim, _ndim(x)), keepdims)


def max(x, dim=None, keepdims=False):
    return MaxMin.apply(x, _normalize_axes(dim, _ndim(x)), keepdims, True)


def min(x, dim=None, keepdims=False):
    return MaxMin.apply(x, _normalize_axes(dim, _ndim(x)), keepdims, False)


def var(x, dim=None, keepdims=False, correction=1):
    """Variance; ``correction=1`` is the unbiased estimator (PyTorch's default)."""
    return Var.apply(x, _normalize_axes(dim, _ndim(x)), keepdims, correction)


def std(x, dim=None, keepdims=False, correction=1):
    from .elementwise import sqrt
    return sqrt(var(x, dim, keepdims, correction))


def logsumexp(x, dim=None, keepdims=False):
    """log sum e^x along ``dim``, shifted by the max for stability (differentiable)."""
    from .elementwise import exp, log
    from ..grad_mode import no_grad
    with no_grad():
        shift = max(x, dim, keepdims=True).detach()
        # an all -inf (or inf) slice: shift by 0 so the result is -inf (inf), not NaN
        xp = get_array_module(shift.data)
        shift.data = xp.where(xp.isfinite(shift.data), shift.data, 0).astype(shift.dtype)
    total = log(sum(exp(x - shift), dim, keepdims=True)) + shift
    return total if keepdims else total.squeeze(dim) if dim is not None else total.reshape(())


def argmax(x, dim=None, keepdims=False):
    """Index of the maximum (int64 Tensor, not differentiable)."""
    return _arg(x, dim, keepdims, "argmax")


def argmin(x, dim=None, keepdims=False):
    return _arg(x, dim, keepdims, "argmin")


def _arg(x, dim, keepdims, how):
    from ..tensor import Tensor
    data = x.data if isinstance(x, Tensor) else x
    if data.ndim == 0:  # a 0-d tensor: its one element is at index 0 (dim 0 or -1 allowed)
        _normalize_axes(dim, 0)
        return Tensor(get_array_module(data).zeros((), dtype="int64"))
    result = getattr(data, how)(axis=dim, keepdims=keepdims) if dim is not None else getattr(data, how)()
    return Tensor(result.astype("int64"))


def _ndim(x):
    return getattr(x, "ndim", 0)
