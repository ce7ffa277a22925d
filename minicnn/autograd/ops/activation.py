"""Activations: relu, leaky_relu, sigmoid, tanh, and the numerically stable softmaxes."""
from kernels.backend import FLOAT_DTYPES, for_array, get_array_module

from ..function import Function


class ReLU(Function):
    """y = max(x, 0);  dy/dx = 1 where x > 0 (0 at x = 0, as PyTorch).

    Saves y, not a mask: y > 0 exactly where x > 0, and the next layer keeps y anyway.
    float32/float64 arrays go to the ReLU kernels (kernels/*/activation.py: one pass,
    threaded on the CPU); other dtypes take the NumPy/CuPy expression.
    """
    @staticmethod
    def forward(ctx, x):
        if x.dtype in FLOAT_DTYPES:
            y = for_array(x).relu_forward(x)
        else:
            y = get_array_module(x).maximum(x, x.dtype.type(0))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        if y.dtype in FLOAT_DTYPES and grad.dtype == y.dtype:
            return for_array(y).relu_backward(grad, y)
        return grad * (y > 0)


class LeakyReLU(Function):
    """y = x if x > 0 else slope * x."""
    @staticmethod
    def forward(ctx, x, negative_slope):
        positive = x > 0
        ctx.save_for_backward(positive)
        ctx.slope = negative_slope
        xp = get_array_module(x)
        return xp.where(positive, x, x * x.dtype.type(negative_slope))

    @staticmethod
    def backward(ctx, grad):
        (positive,) = ctx.saved_tensors
        return get_array_module(grad).where(positive, grad, grad * grad.dtype.type(ctx.slope))


class Sigmoid(Function):
    """y = 1 / (1 + e^-x), computed without overflow;  dy/dx = y (1 - y)."""
    @staticmethod
    def forward(ctx, x):
        xp = get_array_module(x)
        e = xp.exp(-xp.abs(x))  # in (0, 1]: never overflows
        y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y * (1 - y)


class Tanh(Function):
    """y = tanh x;  dy/dx = 1 - y^2."""
    @staticmethod
    def forward(ctx, x):
        y = get_array_module(x).tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * (1 - y * y)


class Softmax(Function):
    """y_i = e^(x_i - max x) / sum_j e^(x_j - max x);  dx = y * (dy - sum(dy * y))."""
    @staticmethod
    def forward(ctx, x, dim):
        xp = get_array_module(x)
        shifted = x - x.max(axis=dim, keepdims=True)  # the max shift keeps e^x finite
        e = xp.exp(shifted)
        y = e / e.sum(axis=dim, keepdims=True)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return y * (grad - (grad * y).sum(axis=ctx.dim, keepdims=True))


class LogSoftmax(Function):
    """y = x - max x - log sum e^(x - max x);  dx = dy - softmax(x) * sum(dy)."""
    @staticmethod
    def forward(ctx, x, dim):
        xp = get_array_module(x)
        shifted = x - x.max(axis=dim, keepdims=True)
        y = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        xp = get_array_module(y)
        return grad - xp.exp(y) * grad.sum(axis=ctx.dim, keepdims=True)


def relu(x): return ReLU.apply(x)
def leaky_relu(x, negative_slope=0.01): return LeakyReLU.apply(x, negative_slope)
def sigmoid(x): return Sigmoid.apply(x)
def tanh(x): return Tanh.apply(x)


def _softmax_dim(op, x, dim):
    """The axis a softmax normalises over, checked (a 0-d tensor takes dim 0 or -1)."""
    if dim is None:  # every element in one distribution
        return None
    ndim = max(x.ndim, 1)
    if not -ndim <= dim < ndim:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor of shape {tuple(x.shape)}")
    return dim % ndim if x.ndim > 0 else None


def softmax(x, dim=-1, *, axis=None):
    """Softmax along ``dim`` (stable for large logits)."""
    return Softmax.apply(x, _softmax_dim("softmax", x, axis if axis is not None else dim))


def log_softmax(x, dim=-1, *, axis=None):
    """log(softmax(x)) along ``dim``, without computing softmax first (stable)."""
    return LogSoftmax.apply(x, _softmax_dim("log_softmax", x, axis if axis is not None else dim))
