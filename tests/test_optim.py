"""minicnn.optim: SGD, Adam, AdamW against hand-written update rules and torch.optim;
state_dict round trips, argument checks, gradient clipping against NumPy."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minicnn as mc
from minicnn.serialization import load as mc_load, save as mc_save
from minicnn.optim import SGD, Adam, AdamW, clip_grad_norm_, clip_grad_value_


def make_param(array):
    return mc.tensor(np.array(array, dtype=np.float64), requires_grad=True)


def run_optimizer(optimizer_class, w0, grads, **options):
    """Apply ``grads`` one step at a time to a parameter starting at ``w0``; final weights."""
    p = make_param(w0)
    opt = optimizer_class([p], **options)
    for g in grads:
        p.grad = mc.tensor(np.array(g, dtype=np.float64))
        opt.step()
    return p.data


# ----- independent references: the published update rules, written out ---------------------
def sgd_reference(w, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
                  nesterov=False, maximize=False):
    w = np.array(w, dtype=np.float64)
    velocity = None
    for g in grads:
        d = -np.asarray(g) if maximize else np.asarray(g, dtype=np.float64)
        d = d + weight_decay * w
        if momentum != 0:
            velocity = d.copy() if velocity is None else momentum * velocity + (1 - dampening) * d
            d = d + momentum * velocity if nesterov else velocity
        w = w - lr * d
    return w


def adam_reference(w, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                   amsgrad=False, decoupled=False, maximize=False):
    beta1, beta2 = betas
    w = np.array(w, dtype=np.float64)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    v_max = np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        g = -np.asarray(g) if maximize else np.asarray(g, dtype=np.float64)
        if decoupled:
            w = w - lr * weight_decay * w
        else:
            g = g + weight_decay * w
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g ** 2
        m_hat = m / (1 - beta1 ** t)
        if amsgrad:
            v_max = np.maximum(v_max, v)
            v_hat = v_max / (1 - beta2 ** t)
        else:
            v_hat = v / (1 - beta2 ** t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
    return w


# ----- small cases with the numbers worked out by hand -------------------------------------
def test_sgd_momentum_by_hand():
    # w0 = 1, g = 1 every step, lr = 0.1, momentum 0.9:
    # b: 1, 1.9, 2.71 ; w: 0.9, 0.71, 0.439
    w = run_optimizer(SGD, [1.0], [[1.0]] * 3, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(w, [0.439], rtol=1e-12)


def test_sgd_dampening_first_step_has_no_dampening():
    # dampening 0.5: b1 = g = 1 (undamped), b2 = 0.9 * 1 + 0.5 * 1 = 1.4 ; w = 1 - 0.1 - 0.14
    w = run_optimizer(SGD, [1.0], [[1.0]] * 2, lr=0.1, momentum=0.9, dampening=0.5)
    np.testing.assert_allclose(w, [0.76], rtol=1e-12)


def test_sgd_nesterov_by_hand():
    # step 1: b = 1, d = 1 + 0.9 * 1 = 1.9, w = 1 - 0.19 = 0.81
    # step 2: b = 1.9, d = 1 + 0.9 * 1.9 = 2.71, w = 0.81 - 0.271 = 0.539
    w = run_optimizer(SGD, [1.0], [[1.0]] * 2, lr=0.1, momentum=0.9, nesterov=True)
    np.testing.assert_allclose(w, [0.539], rtol=1e-12)


def test_sgd_weight_decay_and_maximize_by_hand():
    # g = 2, wd = 0.5, w = 1: maximize -> d = -2 + 0.5 * 1 = -1.5, w = 1 + 0.15 = 1.15
    w = run_optimizer(SGD, [1.0], [[2.0]], lr=0.1, weight_decay=0.5, maximize=True)
    np.testing.assert_allclose(w, [1.15], rtol=1e-12)


def test_adam_first_step_moves_each_weight_by_lr():
    # t = 1: m_hat = g, v_hat = g^2, so the step is lr * g / (|g| + eps) ~ lr * sign(g)
    w = run_optimizer(Adam, [0.0, 0.0, 0.0], [[1e-3, -5.0, 200.0]], lr=0.01)
    np.testing.assert_allclose(w, [-0.01, 0.01, -0.01], rtol=1e-4)


def test_adamw_decay_without_gradient_signal():
    # zero gradient: the Adam step is 0 and only the decoupled decay acts: w = 2 * (1 - 0.1 * 0.5)^3
    w = run_optimizer(AdamW, [2.0], [[0.0]] * 3, lr=0.1, weight_decay=0.5)
    np.testing.assert_allclose(w, [2.0 * 0.95 ** 3], rtol=1e-12)


# ----- several steps on random data against the written-out rules --------------------------
SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.8, dampening=0.3),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, momentum=0.9, weight_decay=0.01),
    dict(lr=0.05, momentum=0.5, weight_decay=0.1, nesterov=True, maximize=True),
]
ADAM_CASES = [
    dict(lr=0.01),
    dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, amsgrad=True),
    dict(lr=0.01, amsgrad=True, weight_decay=0.05, maximize=True),
]


def random_problem(seed, shape=(3, 4), steps=8):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape), [rng.standard_normal(shape) for _ in range(steps)]


@pytest.mark.parametrize("options", SGD_CASES)
def test_sgd_matches_reference(options):
    w0, grads = random_problem(1)
    np.testing.assert_allclose(run_optimizer(SGD, w0, grads, **options),
                               sgd_reference(w0, grads, **options), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("options", ADAM_CASES)
def test_adam_matches_reference(options):
    w0, grads = random_problem(2)
    np.testing.assert_allclose(run_optimizer(Adam, w0, grads, **options),
                               adam_reference(w0, grads, **options), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("options", ADAM_CASES)
def test_adamw_matches_reference(options):
    w0, grads = random_problem(3)
    options = {**options, "weight_decay": options.get("weight_decay", 0.02)}
    np.testing.assert_allclose(run_optimizer(AdamW, w0, grads, **options),
                               adam_reference(w0, grads, decoupled=True, **options), rtol=1e-10, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       lr=st.floats(1e-3, 0.5), momentum=st.floats(0.0, 0.99), weight_decay=st.floats(0.0, 0.1),
       nesterov=st.booleans(), seed=st.integers(0, 1000))
def test_sgd_property(shape, lr, momentum, weight_decay, nesterov, seed):
    nesterov = nesterov and momentum > 0
    w0, grads = random_problem(seed, tuple(shape), steps=4)
    options = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
    np.testing.assert_allclose(run_optimizer(SGD, w0, grads, **options),
                               sgd_reference(w0, grads, **options), rtol=1e-10, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       lr=st.floats(1e-4, 0.1), beta1=st.floats(0.0, 0.95), beta2=st.floats(0.5, 0.9999),
       amsgrad=st.booleans(), seed=st.integers(0, 1000))
def test_adam_property(shape, lr, beta1, beta2, amsgrad, seed):
    w0, grads = random_problem(seed, tuple(shape), steps=4)
    options = dict(lr=lr, betas=(beta1, beta2), amsgrad=amsgrad)
    np.testing.assert_allclose(run_optimizer(Adam, w0, grads, **options),
                               adam_reference(w0, grads, **options), rtol=1e-9, atol=1e-12)


# ----- against torch.optim -------------------------------------------------------------------
TORCH_CASES = ([("SGD", c) for c in SGD_CASES] + [("Adam", c) for c in ADAM_CASES]
               + [("AdamW", c) for c in ADAM_CASES])


@pytest.mark.torch
@pytest.mark.parametrize("name,options", TORCH_CASES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_matches_torch(name, options, dtype):
    """Two groups (the second with its own lr), 8 steps; one parameter misses a gradient
    on some steps (it must be skipped, as torch does)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    shapes = [(4, 3), (3,), (2, 2, 2)]
    starts = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ours = [mc.tensor(w.copy(), requires_grad=True) for w in starts]
    theirs = [torch.tensor(w.copy(), requires_grad=True) for w in starts]
    opt = getattr(mc.optim, name)([{"params": ours[:2]}, {"params": ours[2:], "lr": 0.003}], **options)
    topt = getattr(torch.optim, name)([{"params": theirs[:2]}, {"params": theirs[2:], "lr": 0.003}], **options)
    for step in range(8):
        for i, (p, tp) in enumerate(zip(ours, theirs)):
            if i == 1 and step % 3 == 1:
                p.grad, tp.grad = None, None
                continue
            g = rng.standard_normal(p.shape).astype(dtype)
            p.grad, tp.grad = mc.tensor(g), torch.tensor(g)
        opt.step()
        topt.step()
    tolerance = dict(rtol=1e-12, atol=1e-12) if dtype == "float64" else dict(rtol=1e-5, atol=1e-6)
    for p, tp in zip(ours, theirs):
        assert p.dtype == np.dtype(dtype)
        np.testing.assert_allclose(p.data, tp.detach().numpy(), **tolerance)


# ----- mechanics: in place, skipping, zero_grad, groups ---------------------------------------
def test_step_updates_in_place_and_leaves_grad_alone():
    p = make_param([1.0, 2.0])
    array = p.data
    grad = np.array([0.5, -0.5])
    p.grad = mc.tensor(grad.copy())
    SGD([p], lr=0.1, weight_decay=0.1, momentum=0.9).step()
    assert p.data is array
    np.testing.assert_array_equal(p.grad.data, grad)


def test_param_without_grad_is_skipped():
    a, b = make_param([1.0]), make_param([1.0])
    opt = Adam([a, b], lr=0.1)
    a.grad = mc.tensor(np.array([1.0]))
    opt.step()
    assert b.data[0] == 1.0 and a.data[0] != 1.0
    assert b not in opt.state


def test_zero_grad_modes():
    p = make_param([1.0, 2.0])
    opt = SGD([p], lr=0.1)
    p.grad = mc.tensor(np.array([3.0, 4.0]))
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.data, [0.0, 0.0])
    opt.zero_grad()
    assert p.grad is None


def test_step_with_backward_and_closure():
    w = mc.tensor(np.array([3.0]), requires_grad=True)
    opt = SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()  # d/dw w^2 = 2w = 6
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 9.0
    np.testing.assert_allclose(w.data, [3.0 - 0.25 * 6.0])


def test_param_groups_and_add_param_group():
    a, b = make_param([1.0]), make_param([1.0])
    opt = SGD([{"params": [a]}], lr=0.1, momentum=0.5)
    opt.add_param_group({"params": b, "lr": 1.0})
    assert opt.param_groups[1]["momentum"] == 0.5 and opt.param_groups[1]["lr"] == 1.0
    a.grad, b.grad = mc.tensor(np.array([1.0])), mc.tensor(np.array([1.0]))
    opt.step()
    np.testing.assert_allclose([a.data[0], b.data[0]], [0.9, 0.0])


@pytest.mark.parametrize("make, message", [
    (lambda p: SGD([p], lr=-0.1), "learning rate"),
    (lambda p: SGD([p], lr=0.1, momentum=-1), "momentum"),
    (lambda p: SGD([p], lr=0.1, weight_decay=-1), "weight_decay"),
    (lambda p: SGD([p], lr=0.1, nesterov=True), "Nesterov"),
    (lambda p: SGD([p], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    (lambda p: Adam([p], betas=(1.0, 0.999)), "beta"),
    (lambda p: Adam([p], betas=(0.9, -0.1)), "beta"),
    (lambda p: Adam([p], eps=-1e-8), "eps"),
    (lambda p: AdamW([p], lr=-1), "learning rate"),
    (lambda p: SGD([], lr=0.1), "empty"),
    (lambda p: SGD([p, p], lr=0.1), "twice"),
    (lambda p: SGD([{"params": [p]}, {"params": [p]}], lr=0.1), "more than one"),
    (lambda p: SGD([p * 2], lr=0.1), "non-leaf"),
])
def test_bad_arguments_are_refused(make, message):
    p = make_param([1.0])
    with pytest.raises(ValueError, match=message):
        make(p)


def test_single_tensor_and_non_tensor_params_are_type_errors():
    p = make_param([1.0])
    with pytest.raises(TypeError, match="single Tensor"):
        SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="Tensors"):
        SGD([np.zeros(2)], lr=0.1)


# ----- state_dict: structure and resuming -------------------------------------------------------
RESUME_CASES = [(SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
                (Adam, dict(lr=0.01, amsgrad=True)),
                (AdamW, dict(lr=0.01, weight_decay=0.1))]


@pytest.mark.parametrize("optimizer_class, options", RESUME_CASES)
def test_state_dict_resume_equals_uninterrupted_run(optimizer_class, options, tmp_path):
    rng = np.random.default_rng(11)
    starts = [rng.standard_normal((3, 2)), rng.standard_normal(4)]
    grads = [[rng.standard_normal(w.shape) for w in starts] for _ in range(6)]

    def train(params, opt, steps):
        for step_grads in steps:
            for p, g in zip(params, step_grads):
                p.grad = mc.tensor(g.copy())
            opt.step()

    straight = [make_param(w) for w in starts]
    train(straight, optimizer_class(straight, **options), grads)

    first = [make_param(w) for w in starts]
    opt = optimizer_class(first, **options)
    train(first, opt, grads[:3])
    mc_save({"optimizer": opt.state_dict(), "weights": [p.data for p in first]}, tmp_path / "ckpt.npz")

    checkpoint = mc_load(tmp_path / "ckpt.npz")
    resumed = [make_param(w) for w in checkpoint["weights"]]
    fresh = optimizer_class(resumed, lr=123.0)  # lr and options come back from the state dict
    fresh.load_state_dict(checkpoint["optimizer"])
    assert fresh.param_groups[0]["lr"] == options["lr"]
    train(resumed, fresh, grads[3:])
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a.data, b.data)


def test_state_dict_structure_and_copies():
    a, b = make_param([1.0, 2.0]), make_param([3.0])
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9)
    a.grad = mc.tensor(np.array([1.0, 1.0]))
    opt.step()
    state = opt.state_dict()
    assert [g["params"] for g in state["param_groups"]] == [[0], [1]]
    assert list(state["state"]) == [0]  # b has no gradient yet, hence no state
    assert isinstance(state["state"][0]["momentum_buffer"], np.ndarray)
    opt.step()  # training on must not change the saved dict
    np.testing.assert_array_equal(state["state"][0]["momentum_buffer"], [1.0, 1.0])


def test_load_state_dict_refuses_mismatches():
    a = make_param([1.0, 2.0])
    opt = SGD([a], lr=0.1, momentum=0.9)
    a.grad = mc.tensor(np.array([1.0, 1.0]))
    opt.step()
    saved = opt.state_dict()
    with pytest.raises(ValueError, match="parameter groups"):
        SGD([{"params": [make_param([1.0, 2.0])]}, {"params": [make_param([1.0])]}], lr=0.1).load_state_dict(saved)
    with pytest.raises(ValueError, match="shape"):
        SGD([make_param([1.0, 2.0, 3.0])], lr=0.1).load_state_dict(saved)
    with pytest.raises(ValueError, match="parameter group 0"):
        SGD([make_param([1.0, 2.0]), make_param([1.0])], lr=0.1).load_state_dict(saved)


def test_load_state_dict_casts_buffers_to_param_dtype():
    a = mc.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    opt = Adam([a], lr=0.1)
    saved = {"state": {0: {"step": 2, "exp_avg": np.ones(3), "exp_avg_sq": np.ones(3)}},
             "param_groups": [dict(opt.state_dict()["param_groups"][0])]}
    opt.load_state_dict(saved)
    assert opt.state[a]["exp_avg"].dtype == np.float32
    assert opt.state[a]["step"] == 2


# ----- gradient clipping ------------------------------------------------------------------------
def params_with_grads(grads):
    params = []
    for g in grads:
        p = make_param(np.zeros_like(g))
        p.grad = mc.tensor(np.array(g, dtype=np.float64))
        params.append(p)
    return params


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), max_norm=st.floats(0.01, 10.0),
       norm_type=st.sampled_from([1.0, 2.0, 3.0, math.inf]))
def test_clip_grad_norm_against_numpy(seed, max_norm, norm_type):
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal((3, 4)), rng.standard_normal(5) * 3]
    everything = np.concatenate([g.ravel() for g in grads])
    if math.isinf(norm_type):
        expected_norm = np.abs(everything).max()
    else:
        expected_norm = (np.abs(everything) ** norm_type).sum() ** (1 / norm_type)
    scale = min(1.0, max_norm / (expected_norm + 1e-6))
    params = params_with_grads(grads)
    total = clip_grad_norm_(params, max_norm, norm_type=norm_type)
    assert isinstance(total, mc.Tensor)
    np.testing.assert_allclose(total.item(), expected_norm, rtol=1e-10)
    for p, g in zip(params, grads):
        np.testing.assert_allclose(p.grad.data, g * scale, rtol=1e-10)


def test_clip_grad_norm_small_gradients_unchanged_and_nonfinite():
    params = params_with_grads([np.array([0.3, 0.4])])  # norm 0.5 < 1
    assert abs(clip_grad_norm_(params, 1.0).item() - 0.5) < 1e-12
    np.testing.assert_allclose(params[0].grad.data, [0.3, 0.4])
    bad = params_with_grads([np.array([np.inf, 1.0])])
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(bad, 1.0, error_if_nonfinite=True)
    assert clip_grad_norm_([make_param([1.0])], 1.0).item() == 0.0  # no gradients at all


def test_clip_grad_value_against_numpy():
    rng = np.random.default_rng(5)
    grads = [rng.standard_normal((4, 4)) * 2, rng.standard_normal(3)]
    params = params_with_grads(grads)
    clip_grad_value_(params, 0.7)
    for p, g in zip(params, grads):
        np.testing.assert_array_equal(p.grad.data, np.minimum(np.maximum(g, -0.7), 0.7))
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value_(params, -1.0)


@pytest.mark.torch
def test_clip_grad_norm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    grads = [rng.standard_normal((3, 3)).astype(np.float32), rng.standard_normal(7).astype(np.float32)]
    ours = params_with_grads([g.astype(np.float32) for g in grads])
    for p, g in zip(ours, grads):
        p.grad = mc.tensor(g.copy())
    theirs = [torch.zeros(g.shape, requires_grad=True) for g in grads]
    for p, g in zip(theirs, grads):
        p.grad = torch.tensor(g.copy())
    total = clip_grad_norm_(ours, 0.5)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, 0.5)
    np.testing.assert_allclose(total.item(), ttotal.item(), rtol=1e-6)
    for p, tp in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.torch
def test_training_a_small_model_matches_torch():
    """nn.Parameters from a real model, cross-entropy, 10 steps of SGD+Nesterov and of AdamW."""
    torch = pytest.importorskip("torch")
    import minicnn.functional as F
    import minicnn.nn as nn

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 4)), rng.integers(0, 3, 16)
    for name, options in [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)),
                          ("AdamW", dict(lr=0.01))]:
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        reference = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).double()
        for p, tp in zip(model.parameters(), reference.parameters()):
            p.data = p.data.astype(np.float64)
            with torch.no_grad():
                tp.copy_(torch.tensor(p.data))
        opt = getattr(mc.optim, name)(model.parameters(), **options)
        topt = getattr(torch.optim, name)(reference.parameters(), **options)
        for _ in range(10):
            opt.zero_grad()
            F.cross_entropy(model(mc.tensor(x)), mc.tensor(y)).backward()
            opt.step()
            topt.zero_grad()
            torch.nn.functional.cross_entropy(reference(torch.tensor(x)), torch.tensor(y)).backward()
            topt.step()
        for p, tp in zip(model.parameters(), reference.parameters()):
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-10, atol=1e-12)
