"""The thin CuPy layer: import CuPy lazily, compile each ``.cu`` source once, launch kernels.

Nothing here runs at ``import kernels.cuda``: CuPy is imported by the first kernel call,
and each source file is compiled (by CuPy, with NVRTC) the first time one of its kernels
is needed; CuPy also caches the binary on disk (``~/.cupy/kernel_cache``).

Every kernel in ``*.cu`` is a grid-stride loop, so any grid size is correct; ``grid_for``
only picks one that keeps the GPU busy without launching millions of idle blocks.
"""
import importlib
import os

import numpy as np

SOURCE_DIR = os.path.dirname(os.path.abspath(__file__))
THREADS = 256            # threads per block for the element-wise (grid-stride) kernels
MAX_BLOCKS = 65535       # enough blocks for any GPU; the grid-stride loop does the rest
_modules = {}            # (id(cupy), source file name) -> compiled cupy.RawModule
_device_checked = {}     # id(cupy module) -> True once a device was seen


def require_cupy(op):
    """Import and return CuPy, or raise RuntimeError naming ``op`` (no CuPy, or no GPU)."""
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as error:
        raise RuntimeError(
            f"{op}: the CUDA kernels need CuPy and an NVIDIA GPU; CuPy is not importable "
            f"({error}). Install it with `pip install -e \".[gpu]\"`, or use NumPy arrays "
            f"for the CPU kernels.") from error
    if not _device_checked.get(id(cupy)):
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as error:      # CUDARuntimeError: no driver, no device
            raise RuntimeError(f"{op}: CuPy is installed but no CUDA device is usable "
                               f"({error})") from error
        if count < 1:
            raise RuntimeError(f"{op}: CuPy is installed but it sees no CUDA device")
        _device_checked[id(cupy)] = True
    return cupy


def is_available():
    """True when CuPy imports and at least one CUDA device is usable."""
    try:
        cupy = importlib.import_module("cupy")
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:        # ImportError, CUDARuntimeError (no driver), ...
        return False


def get_module(source_name, op):
    """The compiled ``cupy.RawModule`` of ``kernels/cuda/<source_name>``, built on first use."""
    cupy = require_cupy(op)
    key = (id(cupy), source_name)       # one compiled module per CuPy (tests swap in a fake)
    module = _modules.get(key)
    if module is None:
        with open(os.path.join(SOURCE_DIR, source_name), encoding="utf-8") as handle:
            code = handle.read()
        module = cupy.RawModule(code=code)     # NVRTC, default options
        _modules[key] = module
    return module


def dtype_suffix(op, dtype):
    """``"f32"`` or ``"f64"``: the suffix of the kernel instantiated for ``dtype``."""
    if dtype == np.float32:
        return "f32"
    if dtype == np.float64:
        return "f64"
    raise TypeError(f"{op}: expected float32 or float64, got {dtype}")


def get_kernel(source_name, kernel_name, dtype, op):
    """The kernel ``<kernel_name>_f32`` or ``_f64`` from ``source_name``, for ``dtype``."""
    module = get_module(source_name, op)
    return module.get_function(f"{kernel_name}_{dtype_suffix(op, dtype)}")


def grid_for(total):
    """Blocks for ``total`` work items at THREADS per block: ceil(total / THREADS), capped."""
    return max(1, min((total + THREADS - 1) // THREADS, MAX_BLOCKS))


def ints(*values):
    """Python ints -> numpy.int64 scalars, the C ``long long`` every kernel takes."""
    return tuple(np.int64(value) for value in values)


def launch(kernel, total, *args):
    """Launch a grid-stride kernel over ``total`` items; no launch when ``total == 0``."""
    if total == 0:
        return
    kernel((grid_for(total),), (THREADS,), args)


def launch_per_channel(kernel, channels, threads, *args):
    """Launch a reduction kernel with one block of ``threads`` threads per channel."""
    if channels == 0:
        return
    kernel((channels,), (threads,), args)
