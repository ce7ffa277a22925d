"""Time im2col / col2im: the readable NumPy reference against the Numba kernels.

    python benchmarks/bench_kernels_conv.py [--dtype float32|float64] [--repeat 5] [--threads T]

For each convolution shape the table gives the best-of-``repeat`` time in milliseconds of
reference and Numba ``im2col`` and ``col2im``, and the Numba kernels' effective bandwidth
(bytes of ``cols`` written or read plus bytes of ``x``, per second). When PyTorch is
installed it adds, for context, PyTorch's CPU ``conv2d`` forward+backward and the same
convolution done the minicnn way (im2col, three GEMMs through NumPy's BLAS, col2im).
The first call of each Numba kernel (compile or cache load) is timed separately.
"""
import argparse
import os
import sys
import time

import numba
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kernels.reference import conv as reference  # noqa: E402
from kernels.cpu import conv as compiled  # noqa: E402

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
    """Smallest wall time of ``repeat`` calls, in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def minicnn_style_conv(x, weight, grad_out, geometry):
    """conv2d forward + backward through im2col, NumPy GEMMs and col2im (what the op does)."""
    n, c_out = x.shape[0], weight.shape[0]
    weight_2d = weight.reshape(c_out, -1)                  # (C_out, C*kh*kw)
    cols = compiled.im2col(x, *geometry)                    # (N, K, L)
    out = np.matmul(weight_2d, cols)                        # (N, C_out, L)
    grad_2d = grad_out.reshape(n, c_out, -1)                # (N, C_out, L)
    grad_weight = np.matmul(grad_2d, cols.transpose(0, 2, 1)).sum(axis=0)  # (C_out, K)
    grad_cols = np.matmul(weight_2d.T, grad_2d)             # (N, K, L)
    grad_x = compiled.col2im(grad_cols, x.shape, *geometry)
    return out, grad_weight, grad_x


def torch_conv(torch, x, weight, grad_out, stride, padding, dilation):
    """PyTorch's CPU conv2d forward + backward (input and weight gradients)."""
    x_t = torch.from_numpy(x).requires_grad_()
    w_t = torch.from_numpy(weight).requires_grad_()
    out = torch.nn.functional.conv2d(x_t, w_t, stride=stride, padding=padding, dilation=dilation)
    out.backward(torch.from_numpy(grad_out))
    return out, x_t.grad, w_t.grad


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="threads for Numba and PyTorch (default: all cores)")
    args = parser.parse_args()
    dtype = np.dtype(args.dtype)
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None

    rng = np.random.default_rng(0)
    start = time.perf_counter()
    small = rng.standard_normal((1, 1, 4, 4)).astype(dtype)
    compiled.col2im(compiled.im2col(small, (3, 3), (1, 1), (1, 1), (1, 1)), small.shape,
                    (3, 3), (1, 1), (1, 1), (1, 1))
    print(f"first Numba im2col+col2im call ({args.dtype}, compile or cache load): "
          f"{time.perf_counter() - start:.2f} s")
    numba.set_num_threads(args.threads)

    header = (f"{'shape':26s} {'ref i2c':>8s} {'nb i2c':>8s} {'GB/s':>5s} "
              f"{'ref c2i':>8s} {'nb c2i':>8s} {'GB/s':>5s}")
    if torch is not None:
        header += f" {'ours f+b':>9s} {'torch f+b':>9s} {'ratio':>5s}"
    print(f"times in ms, best of {args.repeat}, {args.dtype}, {args.threads} threads "
          f"on {os.cpu_count()} cores")
    print(header)
    for label, n, c_in, c_out, size, k, s, p, d in SHAPES:
        geometry = ((k, k), (s, s), (p, p), (d, d))
        x = rng.standard_normal((n, c_in, size, size)).astype(dtype)
        cols = compiled.im2col(x, *geometry)
        grad_cols = rng.standard_normal(cols.shape).astype(dtype)
        moved = (cols.nbytes + x.nbytes) / 1e6  # MB through memory, in kB per ms = GB/s
        ref_i2c = best_time(lambda: reference.im2col(x, *geometry), args.repeat)
        nb_i2c = best_time(lambda: compiled.im2col(x, *geometry), args.repeat)
        ref_c2i = best_time(lambda: reference.col2im(grad_cols, x.shape, *geometry), args.repeat)
        nb_c2i = best_time(lambda: compiled.col2im(grad_cols, x.shape, *geometry), args.repeat)
        row = (f"{label:26s} {ref_i2c:8.2f} {nb_i2c:8.2f} {moved / nb_i2c:5.1f} "
               f"{ref_c2i:8.2f} {nb_c2i:8.2f} {moved / nb_c2i:5.1f}")
        if torch is not None:
            weight = rng.standard_normal((c_out, c_in, k, k)).astype(dtype)
            out_size = (size + 2 * p - d * (k - 1) - 1) // s + 1
            grad_out = rng.standard_normal((n, c_out, out_size, out_size)).astype(dtype)
            ours = best_time(lambda: minicnn_style_conv(x, weight, grad_out, geometry), args.repeat)
            theirs = best_time(lambda: torch_conv(torch, x, weight, grad_out, s, p, d), args.repeat)
            row += f" {ours:9.2f} {theirs:9.2f} {ours / theirs:5.2f}"
        print(row)


if __name__ == "__main__":
    main()
