"""The readable NumPy kernels: the oracle for the compiled ones, and the textbook.

One file per family; each function's docstring gives the shapes and the index arithmetic.
"""
from .activation import relu_backward, relu_forward  # noqa: F401
from .conv import im2col, col2im  # noqa: F401
from .pool import (maxpool2d_forward, maxpool2d_backward, maxunpool2d,  # noqa: F401
                   maxunpool2d_backward, avgpool2d_forward, avgpool2d_backward)
from .norm import batchnorm_stats, batchnorm_forward, batchnorm_backward  # noqa: F401
from .winograd import winograd_input, winograd_output, winograd_output_adjoint  # noqa: F401
