"""The ReLU kernels in readable NumPy: y = max(x, 0) and its backward.

The backward reads the forward's output y, not x: y > 0 exactly where x > 0, and y is kept
anyway by the next layer, so no mask need be stored (as PyTorch's ``threshold_backward``).
Both take any shape; x, y and grad are float32 or float64.
"""
import numpy as np

from kernels.reference.pool import check_float_array, check_same_shape


def check_relu_args(op, **arrays):
    """Every array float32/float64, all of one shape (any shape)."""
    (first_name, first), *others = arrays.items()
    check_float_array(op, first_name, first, getattr(first, "ndim", 0))
    for name, array in others:
        check_float_array(op, name, array, getattr(array, "ndim", 0))
        check_same_shape(op, name, array, first.shape)


def relu_forward(x):
    """y = max(x, 0) elementwise, any shape; NaN stays NaN (as PyTorch), -0.0 becomes 0."""
    check_relu_args("relu_forward", x=x)
    return np.maximum(x, 0, out=np.empty_like(x))  # out=: a 0-d x gives a 0-d array


def relu_backward(grad, y):
    """grad_x = grad where y > 0, else 0 (the gradient at x = 0 is taken as 0, as PyTorch).

    grad, y: the same shape; y is relu_forward's output.
    """
    check_relu_args("relu_backward", y=y, grad=grad)
    return np.multiply(grad, y > 0, out=np.empty_like(grad))
