"""Shape ops: reshape, flatten, permute/transpose, squeeze/unsqueeze, expand, cat, stack, pad.

Each backward undoes the movement: reshape back, permute by the inverse, sum what expand
broadcast, split what cat joined, crop what pad added.
"""
from kernels.backend import get_array_module

from ..function import Function, unbroadcast


def _check_dim(op, dim, count):
    """``dim`` as a non-negative index into ``count`` axis positions, or a clear IndexError."""
    if not -count <= dim < count:
        raise IndexError(f"{op}: dim {dim} is out of range (expected {-count} <= dim < {count})")
    return dim % count


class Reshape(Function):
    """y = x viewed with a new shape (same elements, same order)."""
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {tuple(x.shape)} "
                             f"({x.size} elements) into shape {tuple(shape)}") from None

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape)


class Permute(Function):
    """y = x with its axes reordered; backward applies the inverse order."""
    @staticmethod
    def forward(ctx, x, dims):
        in_range = all(-x.ndim <= d < x.ndim for d in dims)
        if not in_range or sorted(d % x.ndim for d in dims) != list(range(x.ndim)):
            raise ValueError(f"permute: dims {tuple(dims)} are not a permutation of the "
                             f"{x.ndim} axes of a tensor of shape {tuple(x.shape)}")
        dims = tuple(d % x.ndim for d in dims)
        ctx.inverse = tuple(sorted(range(len(dims)), key=dims.__getitem__))
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, grad):
        return grad.transpose(ctx.inverse)


class Expand(Function):
    """y = x broadcast to ``shape`` (-1 keeps a size);  dx = sum of dy over the copies."""
    @staticmethod
    def forward(ctx, x, shape):
        lead = len(shape) - x.ndim
        if lead < 0:
            raise ValueError(f"expand: target shape {tuple(shape)} has fewer dims than {tuple(x.shape)}")
        if any(s == -1 for s in shape[:lead]):
            raise ValueError(f"expand: -1 is not allowed for the new leading dims of {tuple(shape)}")
        shape = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
        for i, size in enumerate(x.shape):
            if size != 1 and size != shape[i + lead]:
                raise ValueError(f"expand: cannot expand shape {tuple(x.shape)} to {shape}")
        ctx.shape = x.shape
        return get_array_module(x).broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return unbroadcast(grad, ctx.shape)


class Cat(Function):
    """y = the inputs joined along ``dim``;  dx_i = the slice of dy that came from x_i."""
    @staticmethod
    def forward(ctx, dim, *xs):
        ctx.dim = dim
        ctx.sizes = [x.shape[dim] for x in xs]
        return get_array_module(xs[0]).concatenate(xs, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        xp = get_array_module(grad)
        bounds = xp.cumsum(xp.asarray(ctx.sizes))[:-1].tolist()
        return (None,) + tuple(xp.split(grad, bounds, axis=ctx.dim))


class Pad(Function):
    """Constant padding, PyTorch's order: ``pad = (left, right, top, bottom, ...)`` from the
    last axis backwards;  dx = dy cropped."""
    @staticmethod
    def forward(ctx, x, pad, value):
        widths = [(0, 0)] * x.ndim
        for k in range(len(pad) // 2):
            widths[x.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
        if any(lo < 0 or hi < 0 for lo, hi in widths):
            raise ValueError(f"pad: negative padding {tuple(pad)} is not supported")
        ctx.crop = tuple(slice(lo, lo + size) for (lo, _), size in zip(widths, x.shape))
        return get_array_module(x).pad(x, widths, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, grad):
        return grad[ctx.crop]


def reshape(x, shape):
    return Reshape.apply(x, tuple(int(s) for s in shape))


def flatten(x, start_dim=0, end_dim=-1):
    """Merge axes ``start_dim..end_dim`` into one (PyTorch's ``flatten``)."""
    shape = x.shape
    if len(shape) == 0:
        return reshape(x, (1,))
    start = _check_dim("flatten", start_dim, len(shape))
    end = _check_dim("flatten", end_dim, len(shape))
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} "
                         f"for a tensor of shape {tuple(shape)}")
    merged = 1
    for size in shape[start:end + 1]:
        merged *= size
    return reshape(x, shape[:start] + (merged,) + shape[end + 1:])


def permute(x, dims):
    return Permute.apply(x, tuple(dims))


def transpose(x, dim0, dim1):
    """Swap two axes."""
    dims = list(range(x.ndim))
    dim0, dim1 = _check_dim("transpose", dim0, x.ndim), _check_dim("transpose", dim1, x.ndim)
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return permute(x, dims)


def squeeze(x, dim=None):
    """Drop size-1 axes (all of them, or only ``dim``, an int or tuple, when it has size 1)."""
    shape = x.shape
    if dim is None:
        dims = {i for i, s in enumerate(shape) if s == 1}
    else:
        wanted = (dim,) if isinstance(dim, int) else dim
        dims = {_check_dim("squeeze", d, max(len(shape), 1)) for d in wanted}
        dims = {d for d in dims if d < len(shape) and shape[d] == 1}
    return reshape(x, tuple(s for i, s in enumerate(shape) if i not in dims))


def unsqueeze(x, dim):
    """Insert a size-1 axis at ``dim`` (negative counts from the new end)."""
    shape = list(x.shape)
    dim = _check_dim("unsqueeze", dim, len(shape) + 1)
    shape.insert(dim, 1)
    return reshape(x, tuple(shape))


def expand(x, shape):
    return Expand.apply(x, tuple(shape))


def cat(tensors, dim=0, *, axis=None):
    """Join tensors along ``dim``; every other axis must match."""
    dim = axis if axis is not None else dim
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    first = tuple(tensors[0].shape)
    ndim = len(first)
    if not -ndim <= dim < ndim:
        raise IndexError(f"cat: dim {dim} is out of range for tensors with {ndim} dims")
    dim %= ndim
    for i, t in enumerate(tensors[1:], start=1):
        shape = tuple(t.shape)
        if len(shape) != ndim or any(a != b for k, (a, b) in enumerate(zip(first, shape)) if k != dim):
            raise ValueError(f"cat: tensor 0 has shape {first} but tensor {i} has shape {shape}; "
                             f"all dims except dim={dim} must match")
    return Cat.apply(dim, *tensors)


def stack(tensors, dim=0, *, axis=None):
    """Join equally shaped tensors along a new axis ``dim``."""
    dim = axis if axis is not None else dim
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    first = tuple(tensors[0].shape)
    for i, t in enumerate(tensors[1:], start=1):
        if tuple(t.shape) != first:
            raise ValueError(f"stack: tensor 0 has shape {first} but tensor {i} has shape {tuple(t.shape)}")
    return cat([unsqueeze(t, dim) for t in tensors], dim)


def pad(x, pad, mode="constant", value=0.0):
    """``F.pad``: constant padding of the last ``len(pad)//2`` axes."""
    if mode != "constant":
        raise NotImplementedError(f"pad: mode {mode!r} is not supported (only 'constant')")
    if len(pad) % 2 != 0 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected an even-length pad of at most {2 * x.ndim} values for a "
                         f"tensor of shape {tuple(x.shape)}, got {tuple(pad)}")
    return Pad.apply(x, tuple(int(p) for p in pad), value)
