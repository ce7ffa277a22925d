"""How many threads the Numba kernels use: 1 unless asked (``MINICNN_NUM_THREADS`` or
``kernels.cpu.set_num_threads``), and the decorator that compiles each loop for both cases.

Why one thread by default, and why then *no* OpenMP at all: the kernels run between BLAS
calls, and Numba's OpenMP workers and OpenBLAS's threads both spin-wait after their work.
Measured on 2 cores, an im2col of one image followed by a small GEMM took 0.33 ms with a
serially compiled loop and 7.9 ms with the same loop compiled ``parallel=True`` - even when
that parallel region ran on one thread. So every loop is compiled twice (``threaded_loop``):
a serial version, used at one thread, that never wakes the OpenMP pool, and a
``parallel=True`` version (``prange`` split across threads), used when more threads are
asked for. The count is set around each parallel call and restored afterwards, so Numba
code of the user's own and their BLAS settings are untouched.
"""
import functools
import os
import types

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


def _renamed_copy(function, suffix):
    """The same code as a new function object whose ``__qualname__`` ends in ``suffix``.

    Numba names its cache files after the qualified name (and the line number), not after
    the compile options; the copy keeps the serial and parallel builds in separate files.
    """
    copy = types.FunctionType(function.__code__, function.__globals__, function.__name__ + suffix,
                              function.__defaults__, function.__closure__)
    copy.__qualname__ = function.__qualname__ + suffix
    copy.__doc__ = function.__doc__
    return copy


def threaded_loop(**options):
    """Decorator: ``njit(cache=True, **options)`` twice, serial and ``parallel=True``.

    The returned function calls the serial build at one kernel thread and the parallel
    build otherwise (``prange`` is a plain ``range`` in the serial one). Both compile lazily,
    on first use, so a process that stays on one thread never compiles the parallel one.
    """
    def build(loop):
        serial = numba.njit(cache=True, **options)(_renamed_copy(loop, "_serial"))
        parallel = numba.njit(cache=True, parallel=True, **options)(loop)

        @functools.wraps(loop)
        def run(*args):
            return (parallel if _state["threads"] > 1 else serial)(*args)
        run.serial, run.parallel = serial, parallel
        return run
    return build


def with_kernel_threads(kernel):
    """Wrap a kernel so its parallel loops run on ``get_num_threads()`` Numba threads.

    At one thread the loops are the serial builds and Numba's setting is not touched.
    """
    @functools.wraps(kernel)
    def run(*args, **kwargs):
        threads = _state["threads"]
        if threads == 1:
            return kernel(*args, **kwargs)
        previous = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            return kernel(*args, **kwargs)
        finally:
            numba.set_num_threads(previous)
    return run
