"""Numba (@njit, cache=True) versions of the reference kernels, the CPU default.

Each function names the reference function it matches; tests compare them. The loops are
serial and release the GIL; ``conv2d`` runs its batch chunks on ``get_num_threads()``
threads through ``map_chunks`` (see ``threads.py``). Their large outputs are made in
reused memory (``memory.empty``, see ``memory.py``).
"""
from .activation import relu_backward, relu_forward  # noqa: F401
from .conv import col2im, im2col  # noqa: F401
from .linalg import matmul  # noqa: F401
from .norm import batchnorm_backward, batchnorm_forward, batchnorm_stats  # noqa: F401
from .pool import (avgpool2d_backward, avgpool2d_forward, maxpool2d_backward,  # noqa: F401
                   maxpool2d_forward, maxunpool2d, maxunpool2d_backward)
from .threads import get_num_threads, map_chunks, set_num_threads  # noqa: F401
from .winograd import winograd_input, winograd_output, winograd_output_adjoint  # noqa: F401
