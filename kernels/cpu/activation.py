"""ReLU kernels compiled with Numba: the functions of kernels/reference/activation.py.

One pass over flat arrays (NumPy's ``grad * (y > 0)`` makes two, and a bool temporary),
split between the threads for large arrays (``threads.split_range``): a memory-bound loop
that two threads ran 1.5-2x faster on the 2 cores measured. The indices are unsigned
(``_u``): with signed ones the loops ran 2-3x slower, and 10x slower when the heap placed
the output right after an input (``indexing.py`` tells why).
"""
import numpy as np
from numba import njit

from kernels.reference.activation import check_relu_args

from . import memory
from .indexing import _u
from .threads import map_chunks, split_range


@njit(cache=True, nogil=True)
def _relu_forward_flat(x, y, first, stop):
    """y[i] = max(x[i], 0) for i in [first, stop): 0 where x <= 0 (-0.0 too, as NumPy's
    maximum), x elsewhere (NaN stays NaN: it is not <= 0)."""
    for i in range(first, stop):
        k = _u(i)
        value = x[k]
        y[k] = 0 if value <= 0 else value


@njit(cache=True, nogil=True)
def _relu_backward_flat(grad, y, grad_x, first, stop):
    """grad_x[i] = grad[i] if y[i] > 0 else 0, for i in [first, stop)."""
    for i in range(first, stop):
        k = _u(i)
        grad_x[k] = grad[k] if y[k] > 0 else 0


def _contiguous(array):
    """``array`` as a C-contiguous array of the same shape (np.ascontiguousarray makes a
    0-d array 1-d)."""
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


def relu_forward(x):
    """y = max(x, 0), any shape; see reference.relu_forward."""
    check_relu_args("relu_forward", x=x)
    x = _contiguous(x)
    y = memory.empty_like(x)
    flat_x, flat_y = x.reshape(-1), y.reshape(-1)
    map_chunks(lambda part: _relu_forward_flat(flat_x, flat_y, *part),
               split_range(x.size, 2 * x.nbytes))
    return y


def relu_backward(grad, y):
    """grad_x = grad where y > 0, else 0; see reference.relu_backward."""
    check_relu_args("relu_backward", y=y, grad=grad)
    grad, y = _contiguous(grad), _contiguous(y)
    grad_x = memory.empty_like(grad)
    flat_grad, flat_y, flat_out = grad.reshape(-1), y.reshape(-1), grad_x.reshape(-1)
    map_chunks(lambda part: _relu_backward_flat(flat_grad, flat_y, flat_out, *part),
               split_range(y.size, 3 * y.nbytes))
    return grad_x
