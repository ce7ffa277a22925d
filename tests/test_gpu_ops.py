"""GPU backend end to end: every op's forward and backward on CuPy equals the CPU result,
float64 gradcheck of the conv family on the GPU, ResNet-20 steps with the CPU's losses.

Skipped cleanly where CuPy or a GPU is missing (CI has none): see docs/gpu.md for what these
checks cover and how to run them.
"""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not mc.cuda.is_available(), reason="needs CuPy and a CUDA GPU")]

TOLERANCE = {"float32": dict(rtol=1e-4, atol=1e-5), "float64": dict(rtol=1e-10, atol=1e-12)}


def _distinct(shape, dtype, seed=0):
    """Values without ties (pooling) and away from 0 (relu), as a float array."""
    rng = np.random.default_rng(seed)
    values = (rng.permutation(int(np.prod(shape))) + 1.0) / np.prod(shape)
    return (values * rng.choice([-1.0, 1.0], size=values.size)).reshape(shape).astype(dtype)


# name -> (function of tensors, input shapes); every function returns a Tensor
OPS = {
    "add_mul_broadcast": (lambda a, b: a * b + b, [(4, 5), (5,)]),
    "div_pow_exp_log": (lambda a: ((a * a + 1).log() / (a.exp() + 1)) ** 2, [(3, 7)]),
    "softmax_logsumexp": (lambda a: a.softmax(1) + F.log_softmax(a, 0), [(6, 5)]),
    "reductions": (lambda a: a.sum(0) + a.mean(0) + a.var(0) + a.max(axis=0), [(5, 4)]),
    "matmul_batched": (lambda a, b: a @ b, [(2, 3, 4), (4, 5)]),
    "indexing": (lambda a: a[[0, 2, 2], 1:4], [(4, 6)]),
    "linear": (lambda x, w, b: F.linear(x, w, b), [(5, 4), (3, 4), (3,)]),
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, dilation=1), [(2, 4, 9, 9), (6, 4, 3, 3), (6,)]),
    "conv2d_groups_dilation": (lambda x, w: F.conv2d(x, w, padding=2, dilation=2, groups=2), [(2, 4, 8, 8), (6, 2, 3, 3)]),
    "conv_transpose2d": (lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1), [(2, 4, 5, 5), (4, 3, 3, 3)]),
    "max_pool_unpool": (lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2), [(2, 3, 8, 8)]),
    "max_pool_3x3": (lambda x: F.max_pool2d(x, 3, stride=2, padding=1), [(2, 3, 9, 9)]),
    "avg_pool": (lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False), [(2, 3, 9, 9)]),
    "adaptive_avg_pool": (lambda x: F.adaptive_avg_pool2d(x, (3, 2)), [(2, 3, 7, 5)]),
    "interpolate_bilinear": (lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False), [(2, 3, 4, 5)]),
    "interpolate_nearest": (lambda x: F.interpolate(x, size=(7, 9), mode="nearest"), [(2, 3, 4, 5)]),
    "relu_sigmoid_tanh": (lambda x: x.relu() + x.sigmoid() * x.tanh(), [(4, 6)]),
    "mse_l1_smooth_l1": (lambda a, b: F.mse_loss(a, b) + F.l1_loss(a, b) + F.smooth_l1_loss(a, b), [(4, 5), (4, 5)]),
}


def _run(fn, arrays, device, dtype):
    """Forward + backward of sum(fn * v) on ``device``; the output and every input gradient."""
    tensors = [mc.tensor(a.astype(dtype)).to(device).requires_grad_() for a in arrays]
    out = fn(*tensors)
    weights = mc.tensor(_distinct(out.shape, dtype, seed=7)).to(device)
    (out * weights).sum().backward()
    to_host = lambda t: mc.tensor(t).cpu().numpy() if t is not None else None  # noqa: E731
    return to_host(out.detach()), [to_host(t.grad.detach()) for t in tensors]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(OPS))
def test_op_on_gpu_matches_cpu(name, dtype):
    fn, shapes = OPS[name]
    arrays = [_distinct(s, "float64", seed=i) for i, s in enumerate(shapes)]
    cpu_out, cpu_grads = _run(fn, arrays, "cpu", dtype)
    gpu_out, gpu_grads = _run(fn, arrays, "cuda", dtype)
    np.testing.assert_allclose(gpu_out, cpu_out, **TOLERANCE[dtype])
    for cpu_grad, gpu_grad in zip(cpu_grads, gpu_grads):
        np.testing.assert_allclose(gpu_grad, cpu_grad, **TOLERANCE[dtype])


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_on_gpu_matches_cpu(training):
    x = _distinct((4, 3, 5, 5), "float32")
    results = []
    for device in ("cpu", "cuda"):
        bn = mc.nn.BatchNorm2d(3).to(device)
        bn.train(training)
        t = mc.tensor(x).to(device).requires_grad_()
        out = bn(t)
        (out * out).sum().backward()
        results.append([out.detach().cpu().numpy(), t.grad.cpu().numpy(),
                        bn.weight.grad.cpu().numpy(), bn.running_var.cpu().numpy()])
    for cpu_value, gpu_value in zip(*results):
        np.testing.assert_allclose(gpu_value, cpu_value, rtol=1e-4, atol=1e-5)


def test_cross_entropy_on_gpu_matches_cpu():
    logits = _distinct((6, 4, 3, 3), "float32")
    target = np.random.default_rng(0).integers(0, 4, (6, 3, 3))
    values = []
    for device in ("cpu", "cuda"):
        x = mc.tensor(logits).to(device).requires_grad_()
        loss = F.cross_entropy(x, mc.tensor(target).to(device), label_smoothing=0.1, ignore_index=2)
        loss.backward()
        values.append((loss.item(), x.grad.cpu().numpy()))
    assert abs(values[0][0] - values[1][0]) < 1e-5
    np.testing.assert_allclose(values[1][1], values[0][1], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("case", ["conv2d", "conv_transpose2d", "max_pool_3x3", "avg_pool"])
def test_float64_gradcheck_on_gpu(case):
    fn, shapes = OPS[case]
    inputs = [mc.tensor(_distinct(s, "float64", seed=i)).to("cuda").requires_grad_()
              for i, s in enumerate(shapes)]
    assert mc.gradcheck(fn, inputs)


def test_mixing_devices_names_both():
    with pytest.raises(RuntimeError, match="cpu and cuda:0"):
        mc.ones(3) + mc.ones(3, device="cuda")


def test_resnet20_trains_on_gpu_with_the_cpu_losses():
    losses = {}
    for device in ("cpu", "cuda"):
        mc.manual_seed(0)
        model = mc.models.resnet20().to(device)
        opt = mc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        x = mc.tensor(_distinct((16, 3, 32, 32), "float32")).to(device)
        y = mc.tensor(np.arange(16) % 10).to(device)
        losses[device] = []
        for _ in range(3):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            losses[device].append(loss.item())
    np.testing.assert_allclose(losses["cuda"], losses["cpu"], rtol=2e-3)


def test_checkpoint_of_a_gpu_model_is_saved_as_host_arrays(tmp_path):
    model = mc.nn.Linear(3, 2).to("cuda")
    mc.save(model.state_dict(), tmp_path / "gpu.npz")
    restored = mc.load(tmp_path / "gpu.npz", map_location="cpu")
    assert all(value.device == "cpu" for value in restored.values())


def test_dataloader_moves_batches_to_the_gpu():
    data = mc.data.TensorDataset(np.zeros((10, 3), "float32"), np.arange(10))
    xb, yb = next(iter(mc.data.DataLoader(data, batch_size=4, device="cuda")))
    assert xb.device == "cuda:0" and yb.device == "cuda:0"
