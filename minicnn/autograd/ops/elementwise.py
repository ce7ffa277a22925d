"""Elementwise arithmetic with NumPy broadcasting; backward sums gradients back to each
input's shape (``unbroadcast``)."""
import numpy as np

from kernels.backend import get_array_module
from kernels.cpu import memory

from ..device import move_array
from ..dtypes import default_float
from ..function import Function, unbroadcast


def _shape(x):
    return getattr(x, "shape", ())


def _python_scalar(x):
    """A NumPy scalar (np.float64(2.0)) acts like the Python number it holds, as in PyTorch:
    ``float32_tensor * np.float64(2)`` stays float32."""
    return x.item() if isinstance(x, np.generic) else x


def _default_float(out, *inputs):
    """NumPy turns ints and Python floats into float64; PyTorch's default is float32.
    The result stays float64 only when an input array was float64."""
    if out.dtype == np.float64 and not any(getattr(x, "dtype", None) == np.float64 for x in inputs):
        return out.astype(default_float)
    return out


def _check_broadcast(op, a, b):
    """Refuse shapes NumPy cannot broadcast, with both shapes in the message."""
    sa, sb = _shape(a), _shape(b)
    for da, db in zip(reversed(sa), reversed(sb)):
        if da != db and da != 1 and db != 1:
            raise ValueError(f"{op}: shapes {tuple(sa)} and {tuple(sb)} cannot be broadcast together")


class Add(Function):
    """z = a + b;  dz/da = 1, dz/db = 1."""
    @staticmethod
    def forward(ctx, a, b):
        _check_broadcast("add", a, b)
        ctx.shapes = (_shape(a), _shape(b))
        return _default_float(memory.binary(np.add, a, b), a, b)

    @staticmethod
    def backward(ctx, grad):
        return unbroadcast(grad, ctx.shapes[0]), unbroadcast(grad, ctx.shapes[1])


class Sub(Function):
    """z = a - b;  dz/da = 1, dz/db = -1."""
    @staticmethod
    def forward(ctx, a, b):
        _check_broadcast("sub", a, b)
        ctx.shapes = (_shape(a), _shape(b))
        return _default_float(memory.binary(np.subtract, a, b), a, b)

    @staticmethod
    def backward(ctx, grad):
        return unbroadcast(grad, ctx.shapes[0]), unbroadcast(-grad, ctx.shapes[1])


class Mul(Function):
    """z = a * b;  dz/da = b, dz/db = a."""
    @staticmethod
    def forward(ctx, a, b):
        _check_broadcast("mul", a, b)
        ctx.save_for_backward(a, b)
        return _default_float(memory.binary(np.multiply, a, b), a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        grad_a = unbroadcast(grad * b, _shape(a)) if ctx.needs_input_grad[0] else None
        grad_b = unbroadcast(grad * a, _shape(b)) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Div(Function):
    """z = a / b;  dz/da = 1/b, dz/db = -a/b^2."""
    @staticmethod
    def forward(ctx, a, b):
        _check_broadcast("div", a, b)
        ctx.save_for_backward(a, b)
        return _default_float(a / b, a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        grad_a = unbroadcast(grad / b, _shape(a)) if ctx.needs_input_grad[0] else None
        grad_b = unbroadcast(-grad * a / (b * b), _shape(b)) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Neg(Function):
    """z = -a."""
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Pow(Function):
    """z = a ** b;  dz/da = b a^(b-1), dz/db = a^b log(a)."""
    @staticmethod
    def forward(ctx, a, b):
        _check_broadcast("pow", a, b)
        out = _default_float(a ** b, a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        xp = get_array_module(grad)
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = unbroadcast(grad * b * a ** (b - 1), _shape(a))
        if ctx.needs_input_grad[1]:
            with xp.errstate(divide="ignore", invalid="ignore"):
                log_a = xp.where(a > 0, xp.log(xp.where(a > 0, a, 1)), 0)
            grad_b = unbroadcast(grad * out * log_a, _shape(b))
        return grad_a, grad_b


class Exp(Function):
    """z = e^a;  dz/da = z."""
    @staticmethod
    def forward(ctx, a):
        out = get_array_module(a).exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


class Log(Function):
    """z = ln a;  dz/da = 1/a."""
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return get_array_module(a).log(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / a


class Sqrt(Function):
    """z = sqrt(a);  dz/da = 1 / (2 z)."""
    @staticmethod
    def forward(ctx, a):
        out = get_array_module(a).sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad / (2 * out)


class Abs(Function):
    """z = |a|;  dz/da = sign(a) (0 at 0, as PyTorch)."""
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return get_array_module(a).abs(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * get_array_module(a).sign(a)


class Where(Function):
    """z = cond ? a : b;  the gradient flows to whichever input was picked."""
    @staticmethod
    def forward(ctx, cond, a, b):
        xp = get_array_module(cond)
        cond = xp.asarray(cond, dtype=bool)
        ctx.save_for_backward(cond)
        ctx.shapes = (_shape(a), _shape(b))
        return _default_float(xp.where(cond, a, b), a, b)

    @staticmethod
    def backward(ctx, grad):
        (cond,) = ctx.saved_tensors
        zero = grad.dtype.type(0)
        grad_a = unbroadcast(get_array_module(grad).where(cond, grad, zero), ctx.shapes[0])
        grad_b = unbroadcast(get_array_module(grad).where(cond, zero, grad), ctx.shapes[1])
        return None, grad_a, grad_b


class Clip(Function):
    """z = min(max(a, lo), hi);  dz/da = 1 inside [lo, hi], 0 where clipped."""
    @staticmethod
    def forward(ctx, a, low, high):
        xp = get_array_module(a)
        inside = xp.ones(a.shape, dtype=bool)
        if low is not None:
            inside &= a >= low
        if high is not None:
            inside &= a <= high
        ctx.save_for_backward(inside)
        return xp.clip(a, low, high)

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        return grad * inside


class AsType(Function):
    """Cast to another dtype; the gradient is cast back."""
    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad.astype(ctx.dtype)


class ToDevice(Function):
    """Copy between CPU and GPU; the gradient is copied back."""
    @staticmethod
    def forward(ctx, a, device):
        from ..device import device_of
        ctx.source = device_of(a)
        return move_array(a, device)

    @staticmethod
    def backward(ctx, grad):
        return move_array(grad, ctx.source)


def add(a, b): return Add.apply(_python_scalar(a), _python_scalar(b))
def sub(a, b): return Sub.apply(_python_scalar(a), _python_scalar(b))
def mul(a, b): return Mul.apply(_python_scalar(a), _python_scalar(b))
def div(a, b): return Div.apply(_python_scalar(a), _python_scalar(b))
def neg(a): return Neg.apply(a)
def pow(a, b): return Pow.apply(_python_scalar(a), _python_scalar(b))
def exp(a): return Exp.apply(a)
def log(a): return Log.apply(a)
def sqrt(a): return Sqrt.apply(a)
def abs(a): return Abs.apply(a)
def clip(a, min=None, max=None): return Clip.apply(a, min, max)
def astype(a, dtype): return AsType.apply(a, dtype)
def to_device(a, device): return ToDevice.apply(a, device)


def where(condition, a, b):
    """``a`` where ``condition`` is true, else ``b`` (broadcasting all three)."""
    return Where.apply(condition, _python_scalar(a), _python_scalar(b))


class Extremum(Function):
    """z = max(a, b) (or min); NaN if either is NaN, as in PyTorch.

    PyTorch's gradient rule: the larger (smaller) input gets the gradient, a tie splits it
    in halves, and where a NaN makes the comparison false both inputs get it::

        dz/da = 0 where a loses, 1/2 where a == b, else 1    (the same for b)
    """
    @staticmethod
    def forward(ctx, a, b, largest):
        _check_broadcast("maximum" if largest else "minimum", a, b)
        xp = get_array_module(b if isinstance(a, (bool, int, float)) else a)
        ctx.save_for_backward(a, b)
        ctx.shapes, ctx.largest = (_shape(a), _shape(b)), largest
        return _default_float((xp.maximum if largest else xp.minimum)(a, b), a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        xp = get_array_module(grad)
        half = xp.where(xp.asarray(a == b), grad.dtype.type(0.5), grad.dtype.type(1))
        a_loses, b_loses = (a < b, a > b) if ctx.largest else (a > b, a < b)
        zero = grad.dtype.type(0)
        grad_a = unbroadcast(xp.where(a_loses, zero, grad * half), ctx.shapes[0])
        grad_b = unbroadcast(xp.where(b_loses, zero, grad * half), ctx.shapes[1])
        return grad_a, grad_b


def maximum(a, b):
    """Elementwise max; a tie splits the gradient between a and b (PyTorch's rule)."""
    return Extremum.apply(_python_scalar(a), _python_scalar(b), largest=True)


def minimum(a, b):
    """Elementwise min; a tie splits the gradient between a and b (PyTorch's rule)."""
    return Extremum.apply(_python_scalar(a), _python_scalar(b), largest=False)


def _raw(x):
    return getattr(x, "data", x)


_COMPARISONS = {"eq": "__eq__", "ne": "__ne__", "lt": "__lt__", "le": "__le__", "gt": "__gt__",
                "ge": "__ge__"}


def compare(a, b, how):
    """Elementwise comparison: a boolean Tensor outside the graph (not differentiable)."""
    from ..tensor import Tensor
    left, right = _raw(a), _raw(b)
    return Tensor(getattr(left, _COMPARISONS[how])(right))
