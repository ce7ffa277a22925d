"""Time the pooling and batch-norm kernels: NumPy reference, Numba, and PyTorch's CPU ops.

    python benchmarks/bench_kernels_pool_norm.py [--dtype float32|float64] [--repeat 20] [--threads T]

Shapes: x (64, 32, 32, 32). Max-pool 2x2 stride 2 with indices, its backward, max-unpool
and the unpool backward (a gather); max-pool 3x3 stride 2 padding 1 (the general loop);
avg-pool 2x2 stride 2 and its backward; batch-norm training forward (statistics + normalise)
and backward; ReLU forward and backward, and the backward loop with its output starting 16
bytes after the end of ``y`` (where glibc puts an array allocated right after another of a
whole number of pages: the layout that made a signed-index loop 10x slower, see
``kernels/cpu/indexing.py``). PyTorch, when installed, runs the same ATen operators (no autograd overhead)
on ``--threads`` threads (default 1); our kernels are serial loops (see
``kernels/cpu/threads.py``). Times are the best of ``repeat`` calls in milliseconds, Numba
and PyTorch taking turns (the best, because other processes may share the cores).
``nb/torch`` below 1 means Numba is faster. The first Numba calls (compile, or load from
Numba's cache) are timed separately.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kernels.reference import activation as ref_act, norm as ref_norm, pool as ref_pool  # noqa: E402
from kernels.cpu import activation as nb_act, norm as nb_norm, pool as nb_pool  # noqa: E402

EPS = 1e-5


def best_times(functions, repeat):
    """Smallest wall time of ``repeat`` calls of each function, in milliseconds.

    The functions take turns (after one warm-up call each), so a burst of load from other
    processes slows all of them alike instead of one of them.
    """
    for function in functions:
        function()
    best = [float("inf")] * len(functions)
    for _ in range(repeat):
        for k, function in enumerate(functions):
            start = time.perf_counter()
            function()
            best[k] = min(best[k], time.perf_counter() - start)
    return [1e3 * seconds for seconds in best]


def warm_up(dtype):
    """Call every Numba kernel once on tiny arrays; return the seconds it took."""
    start = time.perf_counter()
    x = np.random.default_rng(0).standard_normal((2, 2, 6, 6)).astype(dtype)
    for geometry in (((2, 2), (2, 2), (0, 0), (1, 1)), ((3, 3), (2, 2), (1, 1), (1, 1))):
        out, idx = nb_pool.maxpool2d_forward(x, *geometry, False)
        nb_pool.maxpool2d_backward(out, idx, x.shape)
    nb_pool.maxunpool2d(out, idx, x.shape[2:])
    nb_pool.maxunpool2d_backward(x, idx)
    avg = nb_pool.avgpool2d_forward(x, (2, 2), (2, 2), (0, 0), False, True, None)
    nb_pool.avgpool2d_backward(avg, x.shape, (2, 2), (2, 2), (0, 0), False, True, None)
    x3 = x.reshape(2, 2, -1)
    mean, var = nb_norm.batchnorm_stats(x3)
    ones = np.ones(2, dtype=dtype)
    nb_norm.batchnorm_forward(x3, mean, ones, ones, ones)
    nb_norm.batchnorm_backward(x3, x3, mean, ones, ones)
    nb_act.relu_backward(x, nb_act.relu_forward(x))
    return time.perf_counter() - start


def pool_rows(x, rng, torch):
    """(label, reference call, numba call, torch call or None) for the pooling kernels."""
    k2 = ((2, 2), (2, 2), (0, 0), (1, 1))
    k3 = ((3, 3), (2, 2), (1, 1), (1, 1))
    out, idx = nb_pool.maxpool2d_forward(x, *k2, False)
    grad_out = rng.standard_normal(out.shape).astype(x.dtype)
    grad_in = rng.standard_normal(x.shape).astype(x.dtype)
    avg_args = ((2, 2), (2, 2), (0, 0), False, True, None)
    rows = [
        ("maxpool 2x2 s2 fwd+idx", lambda m: m.maxpool2d_forward(x, *k2, False)),
        ("maxpool 2x2 s2 bwd", lambda m: m.maxpool2d_backward(grad_out, idx, x.shape)),
        ("maxunpool 2x2", lambda m: m.maxunpool2d(out, idx, x.shape[2:])),
        ("maxunpool bwd (gather)", lambda m: m.maxunpool2d_backward(grad_in, idx)),
        ("maxpool 3x3 s2 p1 fwd+idx", lambda m: m.maxpool2d_forward(x, *k3, False)),
        ("avgpool 2x2 s2 fwd", lambda m: m.avgpool2d_forward(x, *avg_args)),
        ("avgpool 2x2 s2 bwd", lambda m: m.avgpool2d_backward(grad_out, x.shape, *avg_args)),
    ]
    torch_calls = [None] * len(rows)
    if torch is not None:
        aten = torch.ops.aten
        x_t, g_t, gi_t = (torch.from_numpy(a) for a in (x, grad_out, grad_in))
        out_t, idx_t = aten.max_pool2d_with_indices(x_t, [2, 2], [2, 2], [0, 0], [1, 1], False)
        planes = idx_t.flatten(2)
        torch_calls = [
            lambda: aten.max_pool2d_with_indices(x_t, [2, 2], [2, 2], [0, 0], [1, 1], False),
            lambda: aten.max_pool2d_with_indices_backward(g_t, x_t, [2, 2], [2, 2], [0, 0],
                                                          [1, 1], False, idx_t),
            lambda: aten.max_unpool2d(out_t, idx_t, list(x.shape[2:])),
            lambda: torch.gather(gi_t.flatten(2), 2, planes),
            lambda: aten.max_pool2d_with_indices(x_t, [3, 3], [2, 2], [1, 1], [1, 1], False),
            lambda: aten.avg_pool2d(x_t, [2, 2], [2, 2], [0, 0], False, True, None),
            lambda: aten.avg_pool2d_backward(g_t, x_t, [2, 2], [2, 2], [0, 0], False, True, None),
        ]
    return [(label, lambda c=call: c(ref_pool), lambda c=call: c(nb_pool), t)
            for (label, call), t in zip(rows, torch_calls)]


def norm_rows(x, rng, torch):
    """Batch-norm rows: training forward (stats + normalise), backward, and both together."""
    n, c = x.shape[:2]
    x3 = x.reshape(n, c, -1)
    weight = rng.uniform(0.5, 2.0, c).astype(x.dtype)
    bias = rng.standard_normal(c).astype(x.dtype)
    grad_y = rng.standard_normal(x3.shape).astype(x.dtype)
    mean, var = nb_norm.batchnorm_stats(x3)
    invstd = (1.0 / np.sqrt(var + EPS)).astype(x.dtype)

    def forward(module):
        m, v = module.batchnorm_stats(x3)
        return module.batchnorm_forward(x3, m, (1.0 / np.sqrt(v + EPS)).astype(x.dtype),
                                        weight, bias)

    def backward(module):
        return module.batchnorm_backward(grad_y, x3, mean, invstd, weight)

    def both(module):
        return forward(module), backward(module)

    rows = [("batchnorm train fwd", forward), ("batchnorm bwd", backward),
            ("batchnorm train fwd+bwd", both)]
    torch_calls = [None] * 3
    if torch is not None:
        aten = torch.ops.aten
        x_t, w_t, b_t, g_t = (torch.from_numpy(a) for a in (x, weight, bias, grad_y.reshape(x.shape)))
        running_mean, running_var = torch.zeros(c, dtype=x_t.dtype), torch.ones(c, dtype=x_t.dtype)
        _, save_mean, save_invstd = aten.native_batch_norm(x_t, w_t, b_t, running_mean,
                                                           running_var, True, 0.1, EPS)

        def torch_forward():
            return aten.native_batch_norm(x_t, w_t, b_t, running_mean, running_var, True, 0.1, EPS)

        def torch_backward():
            return aten.native_batch_norm_backward(g_t, x_t, w_t, running_mean, running_var,
                                                   save_mean, save_invstd, True, EPS,
                                                   [True, True, True])

        torch_calls = [torch_forward, torch_backward, lambda: (torch_forward(), torch_backward())]
    return [(label, lambda c=call: c(ref_norm), lambda c=call: c(nb_norm), t)
            for (label, call), t in zip(rows, torch_calls)]


def relu_rows(x, rng, torch):
    """ReLU forward, backward, and the backward with its output right after y in memory."""
    y = nb_act.relu_forward(x)
    grad = rng.standard_normal(x.shape).astype(x.dtype)
    # y and the output side by side in one buffer, 16 bytes apart (glibc's chunk header)
    gap = 16 // x.itemsize
    side_by_side = np.empty(2 * x.size + gap, dtype=x.dtype)
    y_first, out_after = side_by_side[:x.size], side_by_side[x.size + gap:]
    y_first[:] = y.reshape(-1)
    flat_grad = grad.reshape(-1)

    def adjacent(module):
        if module is ref_act:  # the reference has no inner loop: its NumPy expression
            return module.relu_backward(flat_grad, y_first)
        return nb_act._relu_backward_flat(flat_grad, y_first, out_after, 0, x.size)

    rows = [("relu fwd", lambda m: m.relu_forward(x)),
            ("relu bwd", lambda m: m.relu_backward(grad, y)),
            ("relu bwd, out after y", adjacent)]
    torch_calls = [None] * 3
    if torch is not None:
        aten = torch.ops.aten
        x_t, y_t, g_t = (torch.from_numpy(a) for a in (x, y, grad))
        backward = lambda: aten.threshold_backward(g_t, y_t, 0)  # noqa: E731
        torch_calls = [lambda: aten.relu(x_t), backward, backward]
    return [(label, lambda c=call: c(ref_act), lambda c=call: c(nb_act), t)
            for (label, call), t in zip(rows, torch_calls)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for PyTorch (default 1; our kernels are serial)")
    args = parser.parse_args()
    dtype = np.dtype(args.dtype)
    threads = args.threads
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        torch = None

    print(f"first call of every Numba kernel ({args.dtype}, compile or cache load): "
          f"{warm_up(dtype):.2f} s")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 32, 32, 32)).astype(dtype)
    print(f"x {x.shape} {args.dtype}; best of {args.repeat}, ms; PyTorch on {threads} thread(s), ours on 1")
    header = f"{'kernel':26s} {'reference':>9s} {'numba':>8s} {'ref/nb':>7s}"
    if torch is not None:
        header += f" {'torch':>8s} {'nb/torch':>8s}"
    print(header)
    rows = pool_rows(x, rng, torch) + norm_rows(x, rng, torch) + relu_rows(x, rng, torch)
    for label, reference_call, numba_call, torch_call in rows:
        (ref_ms,) = best_times([reference_call], max(1, args.repeat // 5))   # slow: fewer runs
        if torch_call is None:
            (nb_ms,) = best_times([numba_call], args.repeat)
        else:
            nb_ms, torch_ms = best_times([numba_call, torch_call], args.repeat)
        row = f"{label:26s} {ref_ms:9.2f} {nb_ms:8.2f} {ref_ms / nb_ms:7.1f}"
        if torch_call is not None:
            row += f" {torch_ms:8.2f} {nb_ms / torch_ms:8.2f}"
        print(row)


if __name__ == "__main__":
    main()
