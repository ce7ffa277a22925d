"""CUDA C kernels launched through CuPy: the GPU twin of ``kernels.reference``.

The functions below have the names, arguments and results of docs/kernels.md, on CuPy
arrays. The CUDA sources are ``kernels/cuda/*.cu`` (one per kernel family, float and
double instantiations named ``<kernel>_f32`` / ``<kernel>_f64``); ``launch.py`` compiles
each source once, on first use, with ``cupy.RawModule`` (NVRTC).

``import kernels.cuda`` works without CuPy or a GPU: CuPy is imported by the first kernel
call, which raises RuntimeError naming the function when CuPy is missing. Use
``is_available()`` to ask first, and ``compile_check()`` to compile every source without
a GPU (nvcc, or the NVRTC library). See docs/gpu.md.
"""
from .activation import relu_backward, relu_forward  # noqa: F401
from .compile import compile_check, source_paths  # noqa: F401
from .conv import col2im, im2col  # noqa: F401
from .launch import is_available  # noqa: F401
from .norm import batchnorm_backward, batchnorm_forward, batchnorm_stats  # noqa: F401
from .pool import (avgpool2d_backward, avgpool2d_forward, maxpool2d_backward,  # noqa: F401
                   maxpool2d_forward, maxunpool2d, maxunpool2d_backward)
