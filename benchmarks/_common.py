"""Helpers shared by the benchmark scripts: timing, thread counts, BLAS speed, tables.

    from _common import best_time, best_times, blas_gflops, torch_or_none, print_table

* ``best_time(fn)``: the smallest wall time of several calls, in ms (the least disturbed
  run; the machine is shared, so the median is noisier than the minimum).
* ``best_times({name: fn})``: the same for several functions timed in turns (fair ratios).
* ``blas_gflops()``: NumPy's own float32 matmul speed measured now, the ceiling that any
  op built on NumPy GEMMs can reach on this machine with this BLAS.
* ``torch_or_none(threads)``: PyTorch when installed, set to the same thread count as ours.
* ``print_table(header, rows)``: a plain aligned text table.
"""
import os
import sys
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def best_time(function, repeat=7, min_total=0.2, warmup=1):
    """Smallest wall time of ``function()`` in milliseconds.

    Runs ``warmup`` untimed calls (compiles, caches, allocator), then at least ``repeat``
    timed calls, and more until ``min_total`` seconds were spent (short calls get more tries).
    """
    for _ in range(warmup):
        function()
    times = []
    while len(times) < repeat or (sum(times) < min_total and len(times) < 100):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def best_times(functions, repeat=7, min_total=0.5, warmup=1):
    """``{name: smallest wall time in ms}`` for a dict of functions, timed round-robin.

    Taking turns (a, b, c, a, b, c, ...) lets every function see the same machine: on a
    shared machine a burst of load slows them all, not only the one that ran during it.
    """
    for function in functions.values():
        for _ in range(warmup):
            function()
    times = {name: [] for name in functions}
    rounds = 0
    while rounds < repeat or (sum(map(sum, times.values())) < min_total and rounds < 100):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
        rounds += 1
    return {name: 1e3 * min(values) for name, values in times.items()}


def gflops(flop_count, milliseconds):
    """Floating-point operations per second, in GFLOP/s."""
    return flop_count / (milliseconds * 1e6)


def blas_gflops(size=1024, dtype=np.float32):
    """NumPy's ``a @ b`` speed for two (size x size) matrices: 2*size^3 flops per product."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size)).astype(dtype)
    b = rng.standard_normal((size, size)).astype(dtype)
    return gflops(2.0 * size ** 3, best_time(lambda: a @ b, repeat=10))


def blas_threads():
    """Threads NumPy's BLAS runs its GEMMs on now (threadpoolctl), else the core count."""
    try:
        from threadpoolctl import threadpool_info
        counts = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
        return max(counts) if counts else os.cpu_count() or 1
    except ImportError:
        return os.cpu_count() or 1


def kernel_threads():
    """Threads minicnn's Numba kernels run on (``kernels.cpu.get_num_threads()``, default 1)."""
    from kernels import cpu
    return cpu.get_num_threads()


def threads_line(torch_threads):
    """One line saying who runs on how many threads in this benchmark."""
    return (f"threads: PyTorch {torch_threads}; minicnn: NumPy's BLAS {blas_threads()}, "
            f"Numba kernels {kernel_threads()}")


def torch_or_none(threads):
    """``torch`` set to ``threads`` threads, or None when PyTorch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def blas_name():
    """A short description of NumPy's BLAS (name, version, CPU kernel), for the report."""
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        text = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy without mode="dicts": the name alone is not worth failing for
        return "unknown BLAS"
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    return text + (f" (OPENBLAS_CORETYPE={coretype})" if coretype else "")


def print_table(header, rows):
    """Print ``rows`` (lists of str/number) under ``header`` with aligned columns."""
    def cell(value):
        if isinstance(value, float):
            return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
        return "-" if value is None else str(value)
    table = [list(header)] + [[cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for index, row in enumerate(table):
        print("  ".join(text.ljust(width) if i == 0 else text.rjust(width)
                        for i, (text, width) in enumerate(zip(row, widths))))
        if index == 0:
            print("  ".join("-" * width for width in widths))
