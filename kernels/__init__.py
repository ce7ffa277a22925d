"""minicnn's compiled core: plain functions on raw arrays, no autograd, no Tensor.

Three implementations share one interface (see docs/kernels.md):

* ``kernels.reference`` -- readable NumPy, the oracle and the textbook;
* ``kernels.cpu``       -- Numba ``@njit`` versions, the CPU default;
* ``kernels.cuda``      -- CUDA C launched through CuPy, for CuPy arrays.

``kernels.backend.for_array(x)`` picks the implementation for an array.
This package imports nothing from ``minicnn``.
"""
from .backend import for_array, get_array_module, set_backend, get_backend  # noqa: F401
from .shapes import conv_output_size, pool_output_size, pair  # noqa: F401
