"""Differentiable indexing: ``x[index]`` with basic (ints, slices, None, ...) and advanced
(integer or boolean arrays) indices."""
from kernels.backend import get_array_module

from ..function import Function


def _is_basic(index):
    """True when ``index`` uses only ints, slices, None and Ellipsis (a view, no repeats)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, slice)) or p is None or p is Ellipsis for p in parts)


class GetItem(Function):
    """y = x[index];  dx = zeros with dy added at the indexed places (repeats accumulate)."""
    @staticmethod
    def forward(ctx, x, index):
        ctx.shape, ctx.dtype, ctx.index = x.shape, x.dtype, index
        try:
            return x[index]
        except IndexError as err:
            raise IndexError(f"indexing a tensor of shape {tuple(x.shape)}: {err}") from None

    @staticmethod
    def backward(ctx, grad):
        xp = get_array_module(grad)
        grad_x = xp.zeros(ctx.shape, dtype=grad.dtype)
        if _is_basic(ctx.index):
            grad_x[ctx.index] = grad  # a basic index touches each element at most once
        elif xp.__name__ == "numpy":
            xp.add.at(grad_x, ctx.index, grad)  # repeated indices must add up
        else:
            import cupyx
            cupyx.scatter_add(grad_x, ctx.index, grad)
        return grad_x


def getitem(x, index):
    return GetItem.apply(x, _unwrap(index))


def _unwrap(index):
    """Tensors used as indices become their arrays; lists become arrays."""
    import numpy as np
    if isinstance(index, tuple):
        return tuple(_unwrap(i) for i in index)
    if hasattr(index, "grad_fn"):  # a Tensor
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    return index
