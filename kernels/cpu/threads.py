"""How many threads minicnn's CPU work uses, and how it is split across them.

One thread unless asked (``MINICNN_NUM_THREADS`` or ``kernels.cpu.set_num_threads``). With
more, the work is cut into independent parts (image planes, channels, chunks of the batch)
and ``map_chunks`` runs the parts on a small pool of Python threads. The compiled loops are
plain serial ``@njit(nogil=True)`` functions: they release the GIL, so the pool's threads
run them side by side, and NumPy's matrix products release it too.

Why not Numba's ``parallel=True`` (OpenMP): the kernels run between BLAS calls, and OpenMP's
workers and OpenBLAS's threads both spin-wait after their work. Measured on 2 cores, an
im2col of one image followed by a small GEMM took 0.33 ms with a serial loop and 7.9 ms with
the same loop compiled ``parallel=True`` (even when run on one thread), and a ResNet-20
training step at two threads took 640 ms with OpenMP loops beside the thread pool and 550 ms
with this design. While the pool runs, NumPy's BLAS is held to one thread (threadpoolctl,
restored on return), so the pool's threads are all the threads there are. Numba's and
BLAS's own settings are never changed otherwise.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

_state = {"threads": max(1, int(os.environ.get("MINICNN_NUM_THREADS", "1")))}
_local = threading.local()  # .in_worker is True on the threads of the pool
_pool = {"executor": None, "size": 0, "blas": None}


def set_num_threads(count):
    """Threads for minicnn's CPU kernels and convolutions (1, the default, runs everything inline)."""
    count = int(count)
    if count < 1:
        raise ValueError(f"set_num_threads: expected a positive thread count, got {count}")
    _state["threads"] = count


def get_num_threads():
    return _state["threads"]


def split(count):
    """``range(count)`` cut into at most ``get_num_threads()`` contiguous slices."""
    parts = max(1, min(_state["threads"], count))
    bounds = [count * part // parts for part in range(parts + 1)]
    return [slice(bounds[i], bounds[i + 1]) for i in range(parts)]


def map_chunks(function, parts):
    """``[function(part) for part in parts]``, on ``get_num_threads()`` threads.

    At one thread (the default), for a single part, or when called from the pool itself,
    this is that plain loop. Otherwise the parts go to the pool (NumPy's BLAS on one thread
    meanwhile). Results come back in the order of ``parts``, so sums over them do not
    depend on the thread count.
    """
    threads = _state["threads"]
    if threads == 1 or len(parts) < 2 or getattr(_local, "in_worker", False):
        return [function(part) for part in parts]
    with _blas_limited_to_one_thread():
        return list(_executor(threads).map(function, parts))


def _mark_worker():
    _local.in_worker = True


def _executor(threads):
    """The pool of ``threads`` worker threads (made again when the count changes)."""
    if _pool["size"] != threads:
        if _pool["executor"] is not None:
            _pool["executor"].shutdown(wait=True)
        _pool["executor"] = ThreadPoolExecutor(threads, thread_name_prefix="minicnn",
                                               initializer=_mark_worker)
        _pool["size"] = threads
    return _pool["executor"]


def _blas_limited_to_one_thread():
    """A context manager holding the BLAS libraries NumPy loaded to one thread."""
    if _pool["blas"] is None:
        from threadpoolctl import ThreadpoolController
        _pool["blas"] = ThreadpoolController()  # finds the loaded libraries once
    return _pool["blas"].limit(limits=1, user_api="blas")


def run_in_parts(count, function):
    """``function(part)`` for the slices of ``split(count)``, on the pool (see map_chunks)."""
    map_chunks(function, split(count))
