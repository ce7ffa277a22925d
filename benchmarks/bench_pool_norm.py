"""Time minicnn's max-pool / max-unpool / batch-norm ops (through autograd) against PyTorch.

    python benchmarks/bench_pool_norm.py [--repeat 7] [--no-reference] [--dtype float32] [--threads T]

Shape x (N, C, H, W) = (64, 32, 32, 32). For each op, forward alone and forward+backward:
our time with the Numba kernels, with the readable reference kernels, PyTorch's time
(when installed, ``torch.set_num_threads`` = our thread count), and ours / PyTorch.
Ops: max_pool2d 2x2 with indices, max_unpool2d 2x2 of its output, the two chained (the
SegNet encoder/decoder step), batch_norm in training mode (batch statistics, running-stat
update, normalise; backward through the statistics). Times are the best of several calls
in ms (the machine may be shared: the minimum is the least disturbed run).
Targets: pooling and unpooling faster than PyTorch (ratio < 1), batch norm at most 1.5x.
"""
import argparse

import numpy as np

from _common import best_time, kernel_threads, print_table, threads_line, torch_or_none

import kernels  # noqa: E402  (_common put the repository on sys.path)
import kernels.cpu  # noqa: E402
import minicnn as mc  # noqa: E402
import minicnn.functional as F  # noqa: E402

SHAPE = (64, 32, 32, 32)


# ----------------------------------------------------------------------------- our ops

def ours(x, grad_pooled, grad_full, running):
    """name -> callable running one of our ops (forward, or forward + backward)."""
    def leaf():
        return mc.tensor(x, requires_grad=True)

    pooled, indices = F.max_pool2d(mc.tensor(x), 2, return_indices=True)   # unpool's input
    pooled = pooled.data

    def pool(backward):
        out, _ = F.max_pool2d(leaf(), 2, return_indices=True)
        if backward:
            out.backward(grad_pooled)

    def unpool(backward):
        source = mc.tensor(pooled, requires_grad=True)
        out = F.max_unpool2d(source, indices, 2)
        if backward:
            out.backward(grad_full)

    def pool_unpool(backward):
        out, where = F.max_pool2d(leaf(), 2, return_indices=True)
        restored = F.max_unpool2d(out, where, 2)
        if backward:
            restored.backward(grad_full)

    def batch_norm(backward):
        out = F.batch_norm(leaf(), *running, weight, bias, training=True)
        if backward:
            out.backward(grad_full)

    channels = x.shape[1]
    weight = mc.tensor(np.ones(channels, x.dtype), requires_grad=True)
    bias = mc.tensor(np.zeros(channels, x.dtype), requires_grad=True)
    return {"pool": pool, "unpool": unpool, "pool_unpool": pool_unpool, "batch_norm": batch_norm}


# ----------------------------------------------------------------------------- PyTorch's

def theirs(torch, x, grad_pooled, grad_full):
    TF = torch.nn.functional
    x_t = torch.from_numpy(x)
    grad_pooled, grad_full = torch.from_numpy(grad_pooled), torch.from_numpy(grad_full)
    pooled, indices = TF.max_pool2d(x_t, 2, return_indices=True)
    channels = x.shape[1]
    running = (torch.zeros(channels, dtype=x_t.dtype), torch.ones(channels, dtype=x_t.dtype))
    weight = torch.ones(channels, dtype=x_t.dtype, requires_grad=True)
    bias = torch.zeros(channels, dtype=x_t.dtype, requires_grad=True)

    def leaf():
        return x_t.clone().requires_grad_()

    def pool(backward):
        out, _ = TF.max_pool2d(leaf(), 2, return_indices=True)
        if backward:
            out.backward(grad_pooled)

    def unpool(backward):
        out = TF.max_unpool2d(pooled.clone().requires_grad_(), indices, 2)
        if backward:
            out.backward(grad_full)

    def pool_unpool(backward):
        out, where = TF.max_pool2d(leaf(), 2, return_indices=True)
        restored = TF.max_unpool2d(out, where, 2)
        if backward:
            restored.backward(grad_full)

    def batch_norm(backward):
        out = TF.batch_norm(leaf(), *running, weight, bias, training=True)
        if backward:
            out.backward(grad_full)

    return {"pool": pool, "unpool": unpool, "pool_unpool": pool_unpool, "batch_norm": batch_norm}


ROWS = [("max_pool2d 2x2 + indices", "pool", "< 1"),
        ("max_unpool2d 2x2", "unpool", "< 1"),
        ("max_pool2d + max_unpool2d", "pool_unpool", "< 1"),
        ("batch_norm (training)", "batch_norm", "<= 1.5")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--no-reference", action="store_true", help="skip the NumPy kernels")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for minicnn's Numba kernels and for PyTorch "
                             "(default: the kernels' default, one)")
    args = parser.parse_args()
    if args.threads:
        kernels.cpu.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE).astype(args.dtype)
    pooled_shape = SHAPE[:2] + (SHAPE[2] // 2, SHAPE[3] // 2)
    grad_pooled = rng.standard_normal(pooled_shape).astype(args.dtype)
    grad_full = rng.standard_normal(SHAPE).astype(args.dtype)
    running = (mc.zeros(SHAPE[1], dtype=args.dtype), mc.ones(SHAPE[1], dtype=args.dtype))

    threads = kernel_threads()
    torch = torch_or_none(threads)
    print(f"x {SHAPE} {args.dtype}, {threads_line(threads)}; "
          f"best of >= {args.repeat} calls, ms")

    def time_all(backend):
        kernels.set_backend(backend)
        ops = ours(x, grad_pooled, grad_full, running)
        return {(key, bwd): best_time(lambda: ops[key](bwd), repeat=args.repeat)
                for _, key, _ in ROWS for bwd in (False, True)}

    previous = kernels.get_backend()
    try:
        numba_ms = time_all("numba")
        reference_ms = None if args.no_reference else time_all("reference")
    finally:
        kernels.set_backend(previous)
    torch_ms = None
    if torch is not None:
        ops = theirs(torch, x, grad_pooled, grad_full)
        torch_ms = {(key, bwd): best_time(lambda: ops[key](bwd), repeat=args.repeat)
                    for _, key, _ in ROWS for bwd in (False, True)}

    rows = []
    for label, key, target in ROWS:
        for backward in (False, True):
            ours_ms = numba_ms[(key, backward)]
            torch_time = torch_ms[(key, backward)] if torch_ms else None
            rows.append([label + (" fwd+bwd" if backward else " fwd"), ours_ms,
                         reference_ms[(key, backward)] if reference_ms else None,
                         torch_time, ours_ms / torch_time if torch_time else None, target])
    print_table(["op", "ours (numba)", "reference", "PyTorch", "ours/PyTorch", "target"], rows)


if __name__ == "__main__":
    main()
