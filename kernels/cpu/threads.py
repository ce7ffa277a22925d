"""How many threads the Numba kernels use: 1 unless asked (``MINICNN_NUM_THREADS`` or
``kernels.cpu.set_num_threads``).

Why not all cores: the kernels run between BLAS calls, and on a small machine Numba's
OpenMP workers and OpenBLAS's threads spin-wait for each other. Measured on 2 cores, a
ResNet-20 training step took 2-40 s with both pools at 2 threads and a steady 1.5 s with the
kernels on one thread (BLAS keeps all its threads for the GEMMs, where they pay). The count
is set around each kernel call and restored afterwards, so Numba code of the user's own and
their BLAS settings are untouched.
"""
import functools
import os

import numba

_state = {"threads": max(1, int(os.environ.get("MINICNN_NUM_THREADS", "1")))}


def set_num_threads(count):
    """Threads for minicnn's Numba kernels (at most Numba's NUMBA_NUM_THREADS)."""
    count = int(count)
    if count < 1:
        raise ValueError(f"set_num_threads: expected a positive thread count, got {count}")
    _state["threads"] = min(count, numba.config.NUMBA_NUM_THREADS)


def get_num_threads():
    return _state["threads"]


def with_kernel_threads(kernel):
    """Wrap a kernel so it runs on ``get_num_threads()`` Numba threads."""
    @functools.wraps(kernel)
    def run(*args, **kwargs):
        previous = numba.get_num_threads()
        numba.set_num_threads(_state["threads"])
        try:
            return kernel(*args, **kwargs)
        finally:
            numba.set_num_threads(previous)
    return run
