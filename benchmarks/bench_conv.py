"""Time minicnn's conv2d / conv_transpose2d against PyTorch's CPU convolutions.

    python benchmarks/bench_conv.py [--repeat 7] [--passes 3] [--no-reference] [--no-compile]

For each shape (float32, forward and forward+backward with all three gradients): our time
with the Numba kernels, PyTorch's time (when installed, same thread count as ours), their
ratio, our time with the readable reference kernels, our GFLOP/s, and NumPy's own float32
matmul GFLOP/s measured right before that row (the ceiling for an op made of NumPy GEMMs;
the machine may be shared, so it also shows how busy it was).
Last, the Numba compile cost of the conv family: the first call in a fresh process with an
empty cache (cold: compiles) and again in a second process (the cache is loaded).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass

import numpy as np

from _common import (ROOT, best_time, best_times, blas_gflops, blas_name, gflops, blas_threads, threads_line,
                     print_table, torch_or_none)

import minicnn as mc  # noqa: E402  (_common put the repository on sys.path)
import minicnn.functional as F  # noqa: E402


@dataclass
class Case:
    label: str
    transposed: bool
    n: int
    c_in: int
    c_out: int
    size: int       # H = W of the input
    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1

    def arrays(self, rng):
        """x, weight, bias (float32) in PyTorch's layouts."""
        x = rng.standard_normal((self.n, self.c_in, self.size, self.size)).astype(np.float32)
        w_shape = ((self.c_in, self.c_out) if self.transposed else (self.c_out, self.c_in))
        weight = (0.1 * rng.standard_normal(w_shape + (self.kernel, self.kernel))).astype(np.float32)
        bias = rng.standard_normal(self.c_out).astype(np.float32)
        return x, weight, bias

    def forward_flops(self, out_hw):
        """2 * multiply-adds of the GEMM: conv over its output pixels, transposed over its input's."""
        taps = self.kernel * self.kernel
        if self.transposed:
            return 2.0 * self.n * self.c_in * self.c_out * taps * self.size * self.size
        return 2.0 * self.n * self.c_out * self.c_in * taps * out_hw


CASES = [
    Case("N64 3->32 @32 k3 p1", False, 64, 3, 32, 32, 3, padding=1),
    Case("N64 64->64 @16 k3 p1", False, 64, 64, 64, 16, 3, padding=1),
    Case("N64 128->128 @8 k3 p1", False, 64, 128, 128, 8, 3, padding=1),
    Case("N64 1->6 @28 k5", False, 64, 1, 6, 28, 5),
    Case("N16 64->64 @32 k3 d2 p2", False, 16, 64, 64, 32, 3, padding=2, dilation=2),
    Case("N16 T 64->32 16->32 k4 s2 p1", True, 16, 64, 32, 16, 4, stride=2, padding=1),
]


def conv_call(lib, case):
    """``fn(x, w, b)`` running the case's op in ``lib`` (minicnn.functional or torch's F)."""
    if case.transposed:
        return lambda x, w, b: lib.conv_transpose2d(x, w, b, stride=case.stride, padding=case.padding,
                                                    dilation=case.dilation)
    return lambda x, w, b: lib.conv2d(x, w, b, stride=case.stride, padding=case.padding,
                                      dilation=case.dilation)


def minicnn_calls(case, x, weight, bias, grad):
    """(forward, forward+backward) closures running minicnn with the current kernel backend."""
    op = conv_call(F, case)
    tx, tw, tb = (mc.tensor(a, requires_grad=True) for a in (x, weight, bias))

    def forward():
        with mc.no_grad():
            op(tx, tw, tb)

    def forward_backward():
        tx.grad = tw.grad = tb.grad = None
        op(tx, tw, tb).backward(grad)

    return forward, forward_backward


def torch_calls(torch, case, x, weight, bias, grad):
    """(forward, forward+backward) closures running PyTorch on the same arrays."""
    op = conv_call(torch.nn.functional, case)
    tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, weight, bias))
    tgrad = torch.from_numpy(grad)

    def forward():
        with torch.no_grad():
            op(tx, tw, tb)

    def forward_backward():
        tx.grad = tw.grad = tb.grad = None
        op(tx, tw, tb).backward(tgrad)

    return forward, forward_backward


def case_calls(case, torch, rng):
    """The functions timed for one case (ours, NumPy's own GEMM, torch) and its GEMM flops."""
    x, weight, bias = case.arrays(rng)
    with mc.no_grad():
        out_shape = conv_call(F, case)(mc.tensor(x), mc.tensor(weight), mc.tensor(bias)).shape
    grad = rng.standard_normal(out_shape).astype(np.float32)
    a = rng.standard_normal((512, 512)).astype(np.float32)
    calls = dict(zip(("ours_f", "ours_fb"), minicnn_calls(case, x, weight, bias, grad)))
    calls["blas"] = lambda: a @ a  # NumPy's own GEMM, timed in the same turns
    if torch is not None:
        calls.update(zip(("torch_f", "torch_fb"), torch_calls(torch, case, x, weight, bias, grad)))
    reference_fb = minicnn_calls(case, x, weight, bias, grad)[1]  # run under set_backend("reference")
    flops = 3 * case.forward_flops(out_shape[2] * out_shape[3])  # forward + two backward GEMMs
    return calls, reference_fb, flops


def run_table(repeat, with_reference, passes):
    threads = blas_threads()  # PyTorch gets as many threads as our GEMMs have
    torch = torch_or_none(threads)
    print(f"float32, {threads_line(threads)} (their default); BLAS: {blas_name()}")
    print(f"NumPy matmul 1024x1024 float32: {blas_gflops():.1f} GFLOP/s"
          + ("" if torch is None else f"; torch {torch.__version__}"))
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work slows every column)")
    print(f"times in ms, the best over {passes} passes through the table (a shared machine has quiet "
          "moments); ratio = ours / torch; GF/s = our fwd+bwd GFLOP/s\n")
    rng = np.random.default_rng(0)
    prepared = [case_calls(case, torch, rng) for case in CASES]
    best = [{} for _ in CASES]
    for _ in range(passes):
        for (calls, reference_fb, _), times in zip(prepared, best):
            mc.set_backend("numba")
            for name, ms in best_times(calls, repeat).items():
                times[name] = min(ms, times.get(name, ms))
            if with_reference:
                mc.set_backend("reference")
                ms = best_time(reference_fb, max(3, repeat // 3))
                times["ref_fb"] = min(ms, times.get("ref_fb", ms))
                mc.set_backend("numba")
    rows = []
    for case, (_, _, flops), t in zip(CASES, prepared, best):
        rows.append([case.label, t["ours_f"], t.get("torch_f"), _ratio(t["ours_f"], t.get("torch_f")),
                     t["ours_fb"], t.get("torch_fb"), _ratio(t["ours_fb"], t.get("torch_fb")),
                     t.get("ref_fb"), gflops(flops, t["ours_fb"]), gflops(2.0 * 512 ** 3, t["blas"])])
    print_table(["shape", "fwd", "torch", "ratio", "fwd+bwd", "torch", "ratio", "ref f+b",
                 "GF/s", "BLAS GF/s"], rows)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


def _ratio(ours, theirs):
    return None if theirs is None else ours / theirs


# ----- Numba compile cost: a cold cache, then a warm one, each in a fresh process ----------------
CHILD = """
import time, json
start = time.perf_counter()
import numpy as np
import minicnn as mc, minicnn.functional as F
imported = time.perf_counter()
timings = {"import": imported - start}
for dtype in ("float32", "float64"):
    t0 = time.perf_counter()
    x = mc.tensor(np.ones((2, 3, 6, 6), dtype=dtype), requires_grad=True)
    w = mc.tensor(np.ones((4, 3, 3, 3), dtype=dtype), requires_grad=True)
    F.conv2d(x, w, padding=1).sum().backward()
    x16 = mc.tensor(np.ones((2, 8, 16, 16), dtype=dtype), requires_grad=True)  # takes Winograd:
    w16 = mc.tensor(np.ones((16, 8, 3, 3), dtype=dtype), requires_grad=True)   # 16x16, 8->16
    F.conv2d(x16, w16, padding=1).sum().backward()
    wt = mc.tensor(np.ones((3, 4, 3, 3), dtype=dtype), requires_grad=True)
    F.conv_transpose2d(x, wt, stride=2).sum().backward()
    timings[dtype] = time.perf_counter() - t0
print(json.dumps(timings))
"""


def compile_times():
    """Run CHILD twice with a fresh NUMBA_CACHE_DIR: cold (compile) then warm (cache load)."""
    results = []
    with tempfile.TemporaryDirectory() as cache_dir:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, MINICNN_BACKEND="numba",
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        for _ in range(2):
            done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                                  text=True, check=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print("\nNumba compile cost of the conv family (im2col, col2im and the Winograd transforms), "
          "first conv2d (3->4 at 6x6, 8->16 at 16x16: Winograd) + conv_transpose2d forward+backward per dtype, in a "
          "fresh process:")
    rows = [[name] + [1e3 * r[key] for key in ("import", "float32", "float64")]
            for name, r in zip(("cold (empty cache)", "cached (2nd process)"), results)]
    print_table(["", "import ms", "float32 ms", "float64 ms"], rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="rounds per pass")
    parser.add_argument("--passes", type=int, default=3, help="passes through the whole table")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference-kernel column")
    parser.add_argument("--no-compile", action="store_true", help="skip the compile-time measurement")
    args = parser.parse_args()
    run_table(args.repeat, not args.no_reference, args.passes)
    if not args.no_compile:
        compile_times()


if __name__ == "__main__":
    main()
