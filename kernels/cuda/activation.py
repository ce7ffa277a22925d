"""ReLU on the GPU: the functions of kernels/reference/activation.py on CuPy arrays.

One elementwise expression each, which CuPy compiles into its own CUDA kernel (a .cu file
would say the same in more lines); the checks are those of the other CUDA launchers.
"""
from . import checks
from .launch import require_cupy


def relu_forward(x):
    """y = max(x, 0), any shape; NaN stays NaN."""
    cupy = require_cupy("relu_forward")
    checks.check_float_array(cupy, "relu_forward", "x", x, getattr(x, "ndim", 0))
    return cupy.maximum(x, x.dtype.type(0))


def relu_backward(grad, y):
    """grad_x = grad where y > 0, else 0; grad and y of one shape."""
    op = "relu_backward"
    cupy = require_cupy(op)
    checks.check_float_array(cupy, op, "y", y, getattr(y, "ndim", 0))
    checks.check_float_array(cupy, op, "grad", grad, getattr(grad, "ndim", 0))
    checks.check_shape(op, "grad", grad, y.shape)
    return grad * (y > 0)
