"""GPU rows: the conv shapes of bench_conv.py at N=128 and a ResNet-20 training step at
batch 256, minicnn (CuPy + our CUDA kernels) vs PyTorch on the same GPU, as a ratio.

Run on a machine with an NVIDIA GPU and CuPy (``pip install -e ".[gpu]"``):
``python benchmarks/bench_gpu.py``. PyTorch's column appears when a CUDA build of torch is
importable. Exits with a message (and status 0) where no GPU is usable.
"""
import sys
import time

import numpy as np

from _common import print_table

CONV_SHAPES = [  # (label, C_in, C_out, H, kernel, stride, padding, dilation, transposed)
    ("3->32 @32 k3 p1", 3, 32, 32, 3, 1, 1, 1, False),
    ("64->64 @16 k3 p1", 64, 64, 16, 3, 1, 1, 1, False),
    ("128->128 @8 k3 p1", 128, 128, 8, 3, 1, 1, 1, False),
    ("1->6 @28 k5", 1, 6, 28, 5, 1, 0, 1, False),
    ("64->64 @32 k3 d2 p2", 64, 64, 32, 3, 1, 2, 2, False),
    ("T 64->32 16->32 k4 s2 p1", 64, 32, 16, 4, 2, 1, 1, True),
]


def gpu_time(fn, synchronize, repeat=20):
    """Median milliseconds of ``fn`` with the device synchronised around each call."""
    fn()
    synchronize()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        synchronize()
        times.append(time.perf_counter() - start)
    return 1e3 * sorted(times)[len(times) // 2]


def ours_conv(mc, F, shape, batch):
    _, cin, cout, size, k, s, p, d, transposed = shape
    x = mc.randn(batch, cin, size, size, device="cuda", requires_grad=True)
    w = (mc.randn(cin, cout, k, k) if transposed else mc.randn(cout, cin, k, k)).to("cuda").requires_grad_()

    def step():
        out = (F.conv_transpose2d(x, w, stride=s, padding=p) if transposed
               else F.conv2d(x, w, stride=s, padding=p, dilation=d))
        out.sum().backward()
    return step


def torch_conv(torch, shape, batch):
    _, cin, cout, size, k, s, p, d, transposed = shape
    x = torch.randn(batch, cin, size, size, device="cuda", requires_grad=True)
    w = torch.randn(*((cin, cout) if transposed else (cout, cin)), k, k, device="cuda", requires_grad=True)
    conv = torch.nn.functional

    def step():
        out = (conv.conv_transpose2d(x, w, stride=s, padding=p) if transposed
               else conv.conv2d(x, w, stride=s, padding=p, dilation=d))
        out.sum().backward()
    return step


def ours_resnet(mc, F, batch):
    model = mc.models.resnet20().to("cuda")
    opt = mc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = mc.randn(batch, 3, 32, 32, device="cuda")
    y = mc.tensor(np.arange(batch) % 10).to("cuda")

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return step


def torch_resnet(torch, batch):
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from bench_train import _torch_model
    model = _torch_model(torch, "resnet20").cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, 32, 32, device="cuda")
    y = torch.arange(batch, device="cuda") % 10

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return step


def main():
    import minicnn as mc
    import minicnn.functional as F
    if not mc.cuda.is_available():
        print("bench_gpu: no usable GPU (CuPy missing or no device); nothing to measure")
        return
    import cupy
    sync = cupy.cuda.Device().synchronize
    try:
        import torch
        torch = torch if torch.cuda.is_available() else None
    except ImportError:
        torch = None
    rows = []
    for shape in CONV_SHAPES:
        ours = gpu_time(ours_conv(mc, F, shape, 128), sync)
        theirs = torch and gpu_time(torch_conv(torch, shape, 128), torch.cuda.synchronize)
        rows.append([f"conv N128 {shape[0]} fwd+bwd", ours, theirs, theirs and ours / theirs])
    ours = gpu_time(ours_resnet(mc, F, 256), sync, repeat=10)
    theirs = torch and gpu_time(torch_resnet(torch, 256), torch.cuda.synchronize, repeat=10)
    rows.append(["ResNet-20 training step, batch 256", ours, theirs, theirs and ours / theirs])
    print(f"GPU: {cupy.cuda.runtime.getDeviceProperties(0)['name'].decode()}")
    print_table(["GPU row", "ours ms", "torch ms", "ratio"], rows)


if __name__ == "__main__":
    main()
