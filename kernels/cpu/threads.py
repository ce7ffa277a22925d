"""How many threads minicnn's CPU work uses, and the pool that runs it.

One thread unless asked (``MINICNN_NUM_THREADS``, ``kernels.cpu.set_num_threads``, or the
command's ``--threads``). With more, ``conv2d`` and ``conv_transpose2d`` hand their batch
chunks to ``map_chunks``, which shares them between the calling thread and a small pool of
Python threads: each chunk is an im2col/col2im (compiled ``@njit(nogil=True)``: they
release the GIL) and a few NumPy matrix products (which release it too). While the pool
runs, NumPy's BLAS is held to one thread (threadpoolctl, restored on return), so the pool's
threads are all there are.

Every convolution of two chunks or more goes to the pool (``conv.POOL_FROM_CHUNKS``), and
``minicnn.train.compute_threads`` holds BLAS to one thread for the whole block: a BLAS call
on two threads outside the pool leaves OpenBLAS's helper thread spinning for a while
(about 0.1 s) waiting for more work -- on the core the pool's threads need. In a ResNet-20
step (batch 128, 2 cores) one convolution run inline with BLAS on two threads made the step
10-15% slower (OPENBLAS_THREAD_TIMEOUT=4, which makes the helper sleep at once, gave the
same speed-up); in a LeNet-5 step (batch 64), whose convolutions have 3-4 chunks, the
fully connected layers' BLAS calls did the same: 7.5-8.0 ms with BLAS on two threads and
those convolutions inline, 6.0-6.9 ms with BLAS on one and the convolutions on the pool.
Large matrix products are split on the pool instead (``linalg.py``). Measured on 2 cores:
a ResNet-20 training step 440-500 ms on two threads, 660-750 on one.

What was tried and dropped, measured on the same 2 cores:
* Numba's ``parallel=True`` (OpenMP) loops: their workers and OpenBLAS's threads spin-wait
  against each other. An im2col of one image followed by a small GEMM took 7.9 ms with the
  loop compiled ``parallel=True`` (even run on one thread) and 0.33 ms compiled serially.

The batch-norm and ReLU kernels split their channels or elements in ``split_range`` pieces,
one per thread: memory-bound as they are, one thread does not use all the bandwidth (an
8 MB add ran 1.6x faster on two threads, batch norm's backward 1.5-1.7x). An earlier
version that handed the pieces out as strided views (a slower Numba specialisation) and
whose calling thread only waited was no faster; the pooling kernels still run serially.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

_state = {"threads": max(1, int(os.environ.get("MINICNN_NUM_THREADS", "1")))}
_local = threading.local()  # .in_worker: True on the pool's threads, and on a caller inside a map
# Handing work to the pool costs ~50 us: a memory-bound kernel moving less than this runs on
# one thread. Measured: LeNet-5's ReLUs (batch 64, 2.4 MB) ran no faster split, ResNet-20's
# batch norms and ReLUs (batch 128, 4-24 MB) did.
SPLIT_FROM_BYTES = 4 << 20
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
    for handing it out), or when called from inside such a map, this is that plain loop.
    Otherwise the calling thread and ``threads - 1`` threads of the pool take the parts one
    at a time, each the next one not yet taken, until none is left (NumPy's BLAS on one
    thread meanwhile). Results come back in the order of ``parts``, so sums over them do not
    depend on the thread count.
    """
    threads = _state["threads"]
    if threads == 1 or len(parts) < max(2, min_parts) or getattr(_local, "in_worker", False):
        return [function(part) for part in parts]
    results = [None] * len(parts)
    queue = {"next": 0, "failed": False}
    lock = threading.Lock()

    def take_parts():
        """Run the next part not yet taken, until none is left (or one has failed)."""
        while True:
            with lock:
                index = queue["next"]
                if index >= len(parts) or queue["failed"]:
                    return
                queue["next"] = index + 1
            try:
                results[index] = function(parts[index])
            except BaseException:
                queue["failed"] = True  # the others stop after their current part
                raise

    with _blas_limited_to_one_thread():
        helpers = [_executor(threads - 1).submit(take_parts) for _ in range(threads - 1)]
        _local.in_worker = True  # a map inside a part runs inline, as on the pool's threads
        try:
            take_parts()
        finally:
            _local.in_worker = False
            for helper in helpers:  # every part has finished before anything returns or raises
                helper.exception()
        for helper in helpers:
            helper.result()  # a helper's error, raised here
    return results


def split_range(count, work_bytes):
    """``range(count)`` as ``get_num_threads()`` pieces ``(start, stop)`` of (nearly) equal
    length, for a memory-bound kernel to run with ``map_chunks`` -- or one piece when there
    is one thread or the work (``work_bytes`` read and written) is below SPLIT_FROM_BYTES."""
    split = work_bytes >= SPLIT_FROM_BYTES
    return equal_pieces(count, min(_state["threads"], count) if split else 1)


def equal_pieces(count, pieces):
    """``range(count)`` as ``pieces`` pieces ``(start, stop)`` of (nearly) equal length, in
    order (some empty when ``pieces > count``)."""
    bounds = [count * piece // max(1, pieces) for piece in range(pieces + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def _mark_worker():
    _local.in_worker = True


def _executor(threads):
    """The pool of ``threads`` helper threads, made again when the count changes or in a
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

