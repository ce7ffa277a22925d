"""``matmul(a, b)``: a 2-D matrix product, cut into column blocks on the thread pool.

Under ``minicnn.train.compute_threads(N)`` BLAS runs on one thread: OpenBLAS's own threads
spin after each call and took the core that minicnn's pool needed (a LeNet-5 step on two
threads: 7.5-8.0 ms with BLAS on two threads, 6.0-6.9 ms with BLAS on one and every
convolution on the pool). A large product still uses every thread: each computes a block
of columns of the result, ``out[:, cols] = a @ b[:, cols]`` (one BLAS call; a block of
columns, not of rows, so that each thread packs only its part of ``b``). Measured on two
cores: (512 x 1024) @ (1024 x 1024) 7.2-10.3 ms on one thread, 5.3-5.4 split, 5.4-5.6 with
OpenBLAS's two threads. Products under ``SPLIT_FROM_FLOPS`` stay one call: a
(128 x 512) @ (512 x 512) (67 MFLOP) ran no faster split (waking a thread costs 20-200 us).
"""
import numpy as np

from .threads import equal_pieces, get_num_threads, map_chunks

SPLIT_FROM_FLOPS = 256e6  # 2*M*K*N


def matmul(a, b):
    """a (M, K) @ b (K, N) -> (M, N), the same numbers as ``a @ b``; other ranks: ``a @ b``."""
    threads = get_num_threads()
    if threads == 1 or a.ndim != 2 or b.ndim != 2:
        return a @ b
    (rows, inner), columns = a.shape, b.shape[1]
    if 2.0 * rows * inner * columns < SPLIT_FROM_FLOPS or columns < threads:
        return a @ b
    out = np.empty((rows, columns), dtype=np.result_type(a, b))

    def block(piece):
        cols = slice(*piece)
        np.matmul(a, b[:, cols], out=out[:, cols])
    map_chunks(block, equal_pieces(columns, threads))
    return out
