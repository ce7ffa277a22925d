"""Time im2col / col2im: the readable NumPy reference against the Numba kernels.

    python benchmarks/bench_kernels_conv.py [--dtype float32|float64] [--repeat 5] [--threads T]

For each convolution shape the table gives the best-of-``repeat`` time in milliseconds of
reference and Numba ``im2col`` and ``col2im`` and the Numba speed-up, twice: on one chunk
of the batch, the size ``conv2d`` hands the kernels (see ``CHUNK_BYTES`` in
``minicnn/functional/conv.py``; the columns stay in cache), and on the whole batch at once
(the columns go through main memory). The GB/s columns are the Numba kernels' effective
bandwidth on the chunk (bytes of ``cols`` plus bytes of ``x``). The convolution itself, ours
against PyTorch, is timed by ``bench_conv.py``. The first call of each Numba kernel (compile
or cache load) is timed separately.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import kernels.cpu as compiled  # noqa: E402
from kernels.reference import conv as reference  # noqa: E402
from minicnn.functional.conv import batch_chunks  # noqa: E402

# (label, N, C_in, C_out, H=W, kernel, stride, padding, dilation)
SHAPES = [
    ("N64 3->32 @32 k3 p1", 64, 3, 32, 32, 3, 1, 1, 1),
    ("N64 64->64 @16 k3 p1", 64, 64, 64, 16, 3, 1, 1, 1),
    ("N64 128->128 @8 k3 p1", 64, 128, 128, 8, 3, 1, 1, 1),
    ("N64 1->6 @28 k5", 64, 1, 6, 28, 5, 1, 0, 1),
    ("N16 64->64 @32 k3 d2 p2", 16, 64, 64, 32, 3, 1, 2, 2),
    ("N64 64->128 @16 k3 s2 p1", 64, 64, 128, 16, 3, 2, 1, 1),
]


def best_time(function, repeat):
    """Smallest wall time of ``repeat`` calls (after one warm-up call), in milliseconds."""
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def kernel_times(x, geometry, repeat):
    """(ref im2col, numba im2col, ref col2im, numba col2im) in ms, and the MB each moves."""
    cols = compiled.im2col(x, *geometry)
    grad_cols = np.random.default_rng(1).standard_normal(cols.shape).astype(x.dtype)
    times = (best_time(lambda: reference.im2col(x, *geometry), repeat),
             best_time(lambda: compiled.im2col(x, *geometry), repeat),
             best_time(lambda: reference.col2im(grad_cols, x.shape, *geometry), repeat),
             best_time(lambda: compiled.col2im(grad_cols, x.shape, *geometry), repeat))
    return times, (cols.nbytes + x.nbytes) / 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for the Numba kernels (default 1, as minicnn runs them)")
    args = parser.parse_args()
    dtype = np.dtype(args.dtype)
    compiled.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    start = time.perf_counter()
    small = rng.standard_normal((1, 1, 4, 4)).astype(dtype)
    compiled.col2im(compiled.im2col(small, (3, 3), (1, 1), (1, 1), (1, 1)), small.shape,
                    (3, 3), (1, 1), (1, 1), (1, 1))
    print(f"first Numba im2col+col2im call ({args.dtype}, compile or cache load): "
          f"{time.perf_counter() - start:.2f} s")
    print(f"times in ms, best of {args.repeat}, {args.dtype}, Numba kernels on "
          f"{compiled.get_num_threads()} thread(s); x = Numba speed-up over the reference\n")
    header = (f"{'shape':26s} {'chunk':>5s} {'ref i2c':>8s} {'nb i2c':>7s} {'x':>5s} {'GB/s':>5s} "
              f"{'ref c2i':>8s} {'nb c2i':>7s} {'x':>5s} {'GB/s':>5s} | whole batch: "
              f"{'i2c x':>5s} {'c2i x':>5s}")
    print(header)
    for label, n, c_in, _c_out, size, k, s, p, d in SHAPES:
        geometry = ((k, k), (s, s), (p, p), (d, d))
        x = rng.standard_normal((n, c_in, size, size)).astype(dtype)
        out_size = (size + 2 * p - d * (k - 1) - 1) // s + 1
        chunk = batch_chunks(np, n, c_in * k * k * out_size ** 2 * dtype.itemsize)[0].stop
        (ri, ni, rc, nc), moved = kernel_times(x[:chunk], geometry, args.repeat)
        (wri, wni, wrc, wnc), _ = kernel_times(x, geometry, max(2, args.repeat // 2))
        print(f"{label:26s} {chunk:5d} {ri:8.3f} {ni:7.3f} {ri / ni:5.1f} {moved / ni:5.1f} "
              f"{rc:8.3f} {nc:7.3f} {rc / nc:5.1f} {moved / nc:5.1f} | {'':12s} "
              f"{wri / wni:5.1f} {wrc / wnc:5.1f}")


if __name__ == "__main__":
    main()
