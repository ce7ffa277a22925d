"""The backward engine: accumulation, shared subgraphs, retain_graph, no_grad, detach,
requires_grad propagation, dtypes end to end, deep graphs, in-place checks, hooks, user
Functions and device checks. Expected gradients are worked out by hand in each test."""
import importlib

import numpy as np
import pytest

import minicnn as mc
from conftest import assert_close, leaf


# ----- accumulation and graph shapes ------------------------------------------------------------
def test_gradients_accumulate_over_two_backward_calls():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    assert_close(x.grad, [3.0 + 2.0, 3.0 + 4.0])  # 3 + 2x
    x.grad = None
    (x * 3).sum().backward()
    assert_close(x.grad, [3.0, 3.0])


def test_diamond_graph_sums_both_paths():
    """y = a * b with a = 2x, b = x + 1 (x used twice): dy/dx = 2(x + 1) + 2x = 4x + 2."""
    x = leaf([1.0, -2.0, 0.5])
    a = x * 2
    b = x + 1
    (a * b).sum().backward()
    assert_close(x.grad, 4 * np.array([1.0, -2.0, 0.5]) + 2)


def test_same_tensor_twice_in_one_op():
    x = leaf([3.0])
    (x * x).backward(mc.tensor(np.ones(1)))  # d x^2 = 2x
    assert_close(x.grad, [6.0])
    y = leaf([2.0])
    z = y + y + y
    z.sum().backward()
    assert_close(y.grad, [3.0])


def test_intermediate_used_by_many_consumers():
    """h = x^2 feeds three branches; dL/dx = (1 + 2 + 3 h'...) written out: L = h + 2h + h*h."""
    x = leaf([1.5])
    h = x * x
    loss = h + 2 * h + h * h          # L = 3 x^2 + x^4, dL/dx = 6x + 4x^3
    loss.sum().backward()
    assert_close(x.grad, [6 * 1.5 + 4 * 1.5 ** 3])


def test_backward_with_an_explicit_gradient():
    x = leaf([1.0, 2.0, 3.0])
    y = x * x
    y.backward(gradient=mc.tensor(np.array([1.0, 0.0, -1.0])))  # the vector-Jacobian product
    assert_close(x.grad, [2.0, 0.0, -6.0])


def test_backward_errors():
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match=r"scalar output.*\(2,\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"gradient shape \(3,\).*\(2,\)"):
        y.backward(gradient=np.ones(3))
    with pytest.raises(RuntimeError, match="does not require grad"):
        mc.ones(2).sum().backward()


# ----- retain_graph -----------------------------------------------------------------------------
def test_retain_graph_allows_a_second_backward():
    x = leaf([2.0])
    y = (x * x * x).sum()      # dy/dx = 3 x^2 = 12
    y.backward(retain_graph=True)
    y.backward()
    assert_close(x.grad, [24.0])


def test_second_backward_without_retain_graph_is_a_clear_error():
    x = leaf([2.0])
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


# ----- no_grad, detach, requires_grad -----------------------------------------------------------
def test_no_grad_context_records_nothing():
    x = leaf([1.0, 2.0])
    with mc.no_grad():
        y = x * 2 + 1
        z = y.exp().sum()
        with mc.enable_grad():
            w = x * 3
    assert not y.requires_grad and y.grad_fn is None and z.grad_fn is None
    assert w.requires_grad and w.grad_fn is not None
    assert (x * 2).requires_grad  # recording is back on after the block


def test_no_grad_as_a_decorator():
    @mc.no_grad()
    def step(t):
        return t * 2

    x = leaf([1.0])
    out = step(x)
    assert not out.requires_grad and out.grad_fn is None
    assert (x * 2).requires_grad


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with mc.no_grad():
            1 / 0
    assert (leaf([1.0]) * 2).requires_grad


def test_detach_cuts_the_graph_and_shares_memory():
    x = leaf([1.0, 2.0])
    y = x * 3
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert np.shares_memory(d.data, y.data)
    (d * x).sum().backward()  # only the direct path to x: d/dx (d * x) = d
    assert_close(x.grad, [3.0, 6.0])


def test_requires_grad_propagation():
    a = leaf([1.0])
    b = mc.tensor([2.0])
    assert (a * b).requires_grad and not (b * b).requires_grad
    assert a.is_leaf and not (a * b).is_leaf
    assert (a * b).grad_fn is not None and (b * b).grad_fn is None
    with pytest.raises(RuntimeError, match="leaf"):
        (a * b).requires_grad = False
    b.requires_grad_()
    assert (b * 2).requires_grad


def test_casting_to_an_integer_type_leaves_the_graph():
    x = mc.tensor([1.5, 2.5], requires_grad=True)
    assert not x.long().requires_grad and x.long().grad_fn is None


def test_non_leaf_grad_is_none_without_retain_grad():
    x = leaf([1.0])
    h = x * 2
    (h * h).sum().backward()
    assert h.grad is None and x.grad is not None


# ----- dtypes end to end -------------------------------------------------------------------------
def _small_network(x, w):
    return ((x @ w).relu() + 1).log().softmax(dim=-1).max(dim=0).values.sum()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_end_to_end(dtype):
    rng = np.random.default_rng(0)
    x = mc.tensor(rng.standard_normal((3, 4)).astype(dtype), requires_grad=True)
    w = mc.tensor(rng.standard_normal((4, 2)).astype(dtype), requires_grad=True)
    out = _small_network(x * 2.0 - 1, w / 3)
    out.backward()
    assert out.dtype == dtype
    assert x.grad.dtype == dtype and w.grad.dtype == dtype


def test_float32_is_the_default():
    assert mc.tensor([1.0]).dtype == np.float32
    assert mc.randn(2).dtype == np.float32
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    assert x.grad.dtype == np.float32


def test_mixed_dtypes_give_each_leaf_a_gradient_of_its_own_dtype():
    a = mc.tensor([1.0, 2.0], requires_grad=True)                       # float32
    b = mc.tensor(np.array([3.0, 4.0]), requires_grad=True)             # float64
    out = (a * b).sum()
    assert out.dtype == np.float64  # promotes as NumPy and PyTorch do
    out.backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    assert_close(a.grad, [3.0, 4.0])


# ----- deep graphs -------------------------------------------------------------------------------
def test_deep_chain_of_10000_ops_backpropagates():
    """y = x * c^n over n = 10,000 ops: dy/dx = c^n, no RecursionError on the way."""
    x = leaf(1.0)
    c, n = 1.0001, 10_000
    y = x
    for _ in range(n):
        y = y * c
    y.backward()
    assert_close(y, c ** n, rtol=1e-9)
    assert_close(x.grad, c ** n, rtol=1e-9)
    del y  # freeing the chain must not recurse either


# ----- in-place checks --------------------------------------------------------------------------
def test_in_place_change_of_a_saved_tensor_fails_at_backward():
    x = leaf([1.0, 2.0])
    w = mc.tensor(np.array([3.0, 4.0]))  # no grad: in-place is allowed on it ...
    y = (x * w).sum()                     # ... but Mul saved it for backward
    w += 1
    with pytest.raises(RuntimeError, match=r"Mul\.backward.*modified in place.*version 0 -> 1"):
        y.backward()


def test_in_place_change_of_a_saved_output_fails_at_backward():
    x = leaf([1.0, 2.0])
    y = x.exp()  # Exp saves its output
    with mc.no_grad():
        y.mul_(2)
    with pytest.raises(RuntimeError, match=r"Exp\.backward.*modified in place"):
        y.sum().backward()


def test_in_place_change_through_detach_is_caught_too():
    x = leaf([1.0, 2.0])
    y = x.exp()
    y.detach().zero_()  # same memory as y
    with pytest.raises(RuntimeError, match="modified in place"):
        y.sum().backward()


@pytest.mark.parametrize("make_view", [lambda t: t[0:1], lambda t: t.reshape(2, 1), lambda t: t.T],
                         ids=["slice", "reshape", "T"])
def test_in_place_change_through_a_view_is_caught_too(make_view):
    x = leaf([1.0, 2.0])
    y = x.exp()
    with mc.no_grad():
        view = make_view(y)
        assert np.shares_memory(view.data, y.data)
        view.zero_()
    with pytest.raises(RuntimeError, match=r"Exp\.backward.*modified in place"):
        y.sum().backward()


def test_a_new_result_does_not_share_the_version_of_its_input():
    a = mc.tensor([3.0, 4.0])
    b = a * 2
    b.add_(1)
    assert a._version == 0 and b._version == 1


def test_in_place_on_a_leaf_that_requires_grad_is_refused():
    x = leaf([1.0, 2.0])
    for change in (lambda: x.add_(1), lambda: x.mul_(2), lambda: x.zero_(), lambda: x.fill_(3.0),
                   lambda: x.__setitem__(0, 5.0)):
        with pytest.raises(RuntimeError, match="in-place operation on a leaf tensor that requires grad"):
            change()
    with pytest.raises(RuntimeError, match="in-place"):
        x += 1
    with mc.no_grad():  # the way an optimizer updates parameters
        x -= 0.5
    assert_close(x, [0.5, 1.5])


def test_in_place_on_a_tensor_in_the_graph_is_refused():
    h = leaf([1.0]) * 2
    with pytest.raises(RuntimeError, match="part of a graph"):
        h.add_(1)


def test_in_place_bumps_the_version():
    t = mc.zeros(3)
    v = t._version
    t.add_(1)
    t[0] = 5.0
    assert t._version == v + 2
    assert_close(t, [5.0, 1.0, 1.0])


def test_in_place_works_on_a_full_reduction_result():
    s = mc.ones(3).sum()
    s.add_(1)
    assert s.item() == 4.0


# ----- hooks -----------------------------------------------------------------------------------
def test_hook_on_a_leaf_sees_and_replaces_its_gradient():
    x = leaf([1.0, 2.0])
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    x.register_hook(lambda g: g * 10)
    (x * 3).sum().backward()
    assert_close(seen[0], [3.0, 3.0])
    assert_close(x.grad, [30.0, 30.0])


def test_hook_on_an_intermediate_changes_what_flows_back():
    x = leaf([1.0, 2.0])
    h = x * 2
    h.register_hook(lambda g: g * 0.5)
    (h * h).sum().backward()  # dL/dh = 2h = 4x, halved = 2x, times dh/dx = 2 -> 4x
    assert_close(x.grad, [4.0, 8.0])


def test_retain_grad_keeps_an_intermediate_gradient():
    x = leaf([1.0, 2.0])
    h = x * 2
    h.retain_grad()
    out = (h * h).sum()
    out.retain_grad()
    out.backward()
    assert_close(h.grad, [4.0, 8.0])  # 2h
    assert_close(out.grad, 1.0)


def test_leaf_hook_runs_once_on_the_total_of_all_paths():
    """x feeds two branches: the hook sees dL/dx = 2 + 3 once (as in PyTorch), so a
    non-linear hook such as clipping acts on the total, not on each part."""
    x = leaf([1.0, 2.0])
    calls = []
    x.register_hook(lambda g: calls.append(g.numpy().copy()))
    x.register_hook(lambda g: g.clip(-4.0, 4.0))
    (x * 2 + x * 3).sum().backward()
    assert len(calls) == 1
    assert_close(calls[0], [5.0, 5.0])
    assert_close(x.grad, [4.0, 4.0])


def test_retained_gradients_accumulate_like_leaf_gradients():
    x = leaf([1.0, 2.0])
    h = x * 2
    h.retain_grad()
    loss = (h * h).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    assert_close(h.grad, [8.0, 16.0])  # 2h, twice


def test_hook_needs_a_tensor_that_requires_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mc.ones(2).register_hook(lambda g: g)


# ----- user-written Functions -------------------------------------------------------------------
class Cube(mc.Function):
    """y = x^3; dy/dx = 3 x^2."""
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x ** 2


def test_user_function_forward_and_backward():
    x = leaf([1.0, -2.0])
    y = Cube.apply(x)
    assert repr(y.grad_fn) == "<CubeBackward>"
    y.sum().backward()
    assert_close(x.grad, [3.0, 12.0])


def test_user_function_with_python_number_arguments():
    class Scale(mc.Function):
        @staticmethod
        def forward(ctx, x, factor):
            ctx.factor = factor
            return x * factor

        @staticmethod
        def backward(ctx, grad):
            return grad * ctx.factor, None

    x = leaf([1.0, 2.0])
    Scale.apply(x, 4.0).sum().backward()
    assert_close(x.grad, [4.0, 4.0])


def test_a_backward_with_the_wrong_gradient_layout_is_named():
    class Transposed(mc.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return (grad * 2).T  # same size, wrong layout

    with pytest.raises(RuntimeError, match=r"Transposed\.backward returned a gradient of shape \(3, 2\) "
                                           r"for an input of shape \(2, 3\)"):
        Transposed.apply(leaf(np.ones((2, 3)))).sum().backward()


def test_a_backward_with_too_many_gradients_is_named():
    class TooMany(mc.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            return grad, grad

    with pytest.raises(RuntimeError, match="TooMany.backward returned 2 gradients for 1 inputs"):
        TooMany.apply(leaf([1.0])).sum().backward()


# ----- devices -----------------------------------------------------------------------------------
class _FakeGpuArray(np.ndarray):
    """A NumPy array that claims to live on a GPU (the test patches device_of)."""


def test_mixing_devices_is_refused(monkeypatch):
    tensor_module = importlib.import_module("minicnn.autograd.tensor")  # mc.autograd.tensor is the factory
    real_device_of = tensor_module.device_of
    monkeypatch.setattr(tensor_module, "device_of",
                        lambda a: "cuda:0" if isinstance(a, _FakeGpuArray) else real_device_of(a))
    on_gpu = mc.Tensor(np.ones(3).view(_FakeGpuArray))
    on_cpu = mc.ones(3)
    assert on_gpu.device == "cuda:0" and on_cpu.device == "cpu"
    with pytest.raises(RuntimeError, match=r"Add: expected all tensors on the same device, got cpu and cuda:0"):
        on_cpu + on_gpu
    with pytest.raises(RuntimeError, match="MatMul.*same device"):
        on_gpu @ on_cpu


@pytest.mark.gpu
def test_real_gpu_tensors_when_available():
    if not mc.cuda.is_available():
        pytest.skip("no CUDA GPU / CuPy here")
    x = mc.tensor([1.0, 2.0], device="cuda", requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.device.startswith("cuda")
    assert_close(x.grad.cpu().numpy(), [2.0, 4.0])


def test_no_grad_works_as_a_bare_decorator_too():
    import minicnn as mc

    @mc.no_grad
    def bare(x):
        return x * 2

    @mc.no_grad()
    def called(x):
        return x * 2

    x = mc.randn(3, requires_grad=True)
    assert not bare(x).requires_grad and not called(x).requires_grad
    assert (x * 2).requires_grad  # recording is back on afterwards


@pytest.mark.parametrize("run_backward", [True, False])
def test_a_dropped_graph_is_freed_at_once_not_by_the_garbage_collector(run_backward):
    """Ops that save their output (relu, exp, sigmoid) must not make a reference cycle
    output -> node -> output: a ResNet-20 step's whole graph (325 MB) stayed alive until
    the cyclic garbage collector ran."""
    import gc
    import weakref
    import minicnn.functional as F
    x = mc.tensor(np.random.default_rng(0).standard_normal((4, 5)), requires_grad=True)
    gc.disable()
    try:
        hidden = F.relu(x.exp() - 1.5)
        out = F.sigmoid(hidden).sum()
        alive = [weakref.ref(t) for t in (hidden, out)] + [weakref.ref(hidden.data)]
        if run_backward:
            out.backward()
        del hidden, out
        assert [ref() is None for ref in alive] == [True] * len(alive)
    finally:
        gc.enable()
    if run_backward:
        assert x.grad is not None
