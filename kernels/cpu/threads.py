"""How many threads minicnn's CPU work uses, and the pool that runs it.

One thread unless asked (``MINICNN_NUM_THREADS``, ``kernels.cpu.set_num_threads``, or the
command's ``--threads``). With more, ``conv2d`` and ``conv_transpose2d`` hand their batch
chunks to ``map_chunks``, which runs them on a small pool of Python threads: each chunk is
an im2col/col2im (compiled ``@njit(nogil=True)``: they release the GIL) and a few NumPy
matrix products (which release it too). While the pool runs, NumPy's BLAS is held to one
thread (threadpoolctl, restored on return), so the pool's threads are all there are.
Measured on 2 cores: a ResNet layer's convolution forward+backward 1.6-1.7x faster on two
threads, a ResNet-20 training step about 1.2x.

What was tried and dropped, measured on the same 2 cores:
* Numba's ``parallel=True`` (OpenMP) loops: their workers and OpenBLAS's threads spin-wait
  against each other. An im2col of one image followed by a small GEMM took 7.9 ms with the
  loop compiled ``parallel=True`` (even run on one thread) and 0.33 ms compiled serially.
* Splitting the pooling and batch-norm kernels between the pool's threads: they are
  memory-bound, and were no faster (batch norm slower) on two threads. They run serially.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

_state = {"threads": max(1, int(os.environ.get("MINICNN_NUM_THREADS", "1")))}
_local = threading.local()  # .in_worker is True on the threads of the pool
_pool = {"executor": None, "size": 0, "pid": None, "blas": None}


def set_num_threads(count):
    """Threads for minicnn's convolutions (1, the default, runs everything inline)."""
    count = int(count)
    if count < 1:
        raise ValueError(f"set_num_threads: expected a positive thread count, got {count}")
    _state["threads"] = count


def get_num_threads():
    return _state["threads"]


def map_chunks(function, parts, min_parts=2):
    """``[function(part) for part in parts]``, on ``get_num_threads()`` threads.

    At one thread (the default), for fewer than ``min_parts`` parts (too little work to pay
    for handing it out), or when called from the pool itself, this is that plain loop.
    Otherwise the parts go to the pool (NumPy's BLAS on one thread meanwhile). Results come
    back in the order of ``parts``, so sums over them do not depend on the thread count.
    """
    threads = _state["threads"]
    if threads == 1 or len(parts) < max(2, min_parts) or getattr(_local, "in_worker", False):
        return [function(part) for part in parts]
    with _blas_limited_to_one_thread():
        return list(_executor(threads).map(function, parts))


def _mark_worker():
    _local.in_worker = True


def _executor(threads):
    """The pool of ``threads`` worker threads, made again when the count changes or in a
    forked child process (which inherits the pool object but not its threads)."""
    if _pool["size"] != threads or _pool.get("pid") != os.getpid():
        if _pool["executor"] is not None and _pool.get("pid") == os.getpid():
            _pool["executor"].shutdown(wait=True)
        _pool["executor"] = ThreadPoolExecutor(threads, thread_name_prefix="minicnn",
                                               initializer=_mark_worker)
        _pool["size"], _pool["pid"] = threads, os.getpid()
    return _pool["executor"]


def _blas_limited_to_one_thread():
    """A context manager holding the BLAS libraries NumPy loaded to one thread."""
    if _pool["blas"] is None:
        from threadpoolctl import ThreadpoolController
        _pool["blas"] = ThreadpoolController()  # finds the loaded libraries once
    return _pool["blas"].limit(limits=1, user_api="blas")

