"""Matrix product with NumPy's ``matmul`` rules (1-D promotion, batched broadcasting)."""
from ..function import Function, unbroadcast


def _check_matmul(a, b):
    """Refuse incompatible inner sizes or batch dims, with both shapes in the message."""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dim, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    inner_a = a.shape[-1]
    inner_b = b.shape[-2] if b.ndim >= 2 else b.shape[0]
    if inner_a != inner_b:
        raise ValueError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} are not aligned "
                         f"({inner_a} != {inner_b})")
    _batch_shape(a.shape, b.shape)


def _batch_shape(shape_a, shape_b):
    """The broadcast of the batch dims (all but the last two) of two operands."""
    batch_a, batch_b = tuple(shape_a[:-2]), tuple(shape_b[:-2])
    ndim = max(len(batch_a), len(batch_b))
    batch_a = (1,) * (ndim - len(batch_a)) + batch_a
    batch_b = (1,) * (ndim - len(batch_b)) + batch_b
    out = []
    for da, db in zip(batch_a, batch_b):
        if da != db and da != 1 and db != 1:
            raise ValueError(f"matmul: batch dims of shapes {tuple(shape_a)} and {tuple(shape_b)} "
                             "cannot be broadcast together")
        out.append(max(da, db))
    return tuple(out)


class MatMul(Function):
    """C = A @ B;  dA = dC @ B^T, dB = A^T @ dC (batched, with broadcast axes summed)."""
    @staticmethod
    def forward(ctx, a, b):
        _check_matmul(a, b)
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        # promote 1-D operands to matrices the way matmul does: a (k,) -> (1, k), b (k,) -> (k, 1)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        # dC of the promoted product (batch..., m, n): put back the axes the promotion dropped
        promoted = _batch_shape(a2.shape, b2.shape) + (a2.shape[-2], b2.shape[-1])
        g = grad.reshape(promoted)
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = unbroadcast(g @ b2.swapaxes(-1, -2), a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            grad_b = unbroadcast(a2.swapaxes(-1, -2) @ g, b2.shape).reshape(b.shape)
        return grad_a, grad_b


def matmul(a, b):
    return MatMul.apply(a, b)
