"""Pooling, unpooling, batch norm, dropout and interpolate against PyTorch (skipped
without torch).

Random configurations of every op: forward values, max-pool indices, input (and weight,
bias) gradients, running statistics after several training steps; module reprs and
state-dict keys. float64 compares tightly, float32 loosely.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn
from conftest import assert_close

torch = pytest.importorskip("torch")
TF = torch.nn.functional
FEW = settings(max_examples=25, deadline=None)
DTYPES = st.sampled_from([np.float64, np.float32])


def tolerance(dtype):
    return dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)


def distinct(rng, shape, dtype):
    """Values without ties (a scaled permutation), so both pick the same maximum."""
    size = int(np.prod(shape))
    return ((rng.permutation(size) - size / 2) / 7.0).reshape(shape).astype(dtype)


def both(x, requires_grad=True):
    """The same array as a minicnn and a torch leaf."""
    return mc.tensor(x, requires_grad=requires_grad), torch.tensor(x, requires_grad=requires_grad)


def check_backward(ours, theirs, out, expected, rng, dtype, what):
    """Backpropagate one random gradient through both and compare the input gradients."""
    grad = rng.standard_normal(expected.shape).astype(dtype)
    out.backward(mc.tensor(grad))
    expected.backward(torch.tensor(grad))
    assert_close(ours.grad, theirs.grad.numpy(), what=what + " grad", **tolerance(dtype))


@st.composite
def window_cases(draw, dilation=True):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    dil = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if dilation else (1, 1)
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)),
             draw(st.integers(1, 11)), draw(st.integers(1, 11)))
    return shape, kernel, stride, padding, dil, draw(st.booleans())


def torch_or_reject(call, ours):
    """PyTorch's result; when PyTorch refuses the configuration, ours must refuse it too
    (with a ValueError) and the example is rejected."""
    try:
        return call()
    except RuntimeError:
        with pytest.raises(ValueError):
            ours()
        assume(False)


# ----------------------------------------------------------------------------- pooling

@FEW
@given(window_cases(), DTYPES, st.integers(0, 2**32 - 1))
def test_max_pool_and_unpool_match_torch(case, dtype, seed):
    shape, kernel, stride, padding, dilation, ceil_mode = case
    rng = np.random.default_rng(seed)
    x = distinct(rng, shape, dtype)
    ours, theirs = both(x)
    expected, expected_indices = torch_or_reject(
        lambda: TF.max_pool2d(theirs, kernel, stride, padding, dilation, ceil_mode, True),
        lambda: F.max_pool2d(ours, kernel, stride, padding, dilation, ceil_mode))
    assume(torch.isfinite(expected).all())         # no window made of padding only
    out, indices = F.max_pool2d(ours, kernel, stride, padding, dilation, ceil_mode,
                                return_indices=True)
    assert_close(out, expected.detach().numpy(), what="max_pool2d", **tolerance(dtype))
    np.testing.assert_array_equal(indices.numpy(), expected_indices.numpy())
    if dilation == (1, 1):                          # unpool what was pooled, back to x's size
        expected = TF.max_unpool2d(expected, expected_indices, kernel, stride, padding,
                                   output_size=shape[2:])
        out = F.max_unpool2d(out, indices, kernel, stride, padding, output_size=shape[2:])
        assert_close(out, expected.detach().numpy(), what="max_unpool2d", **tolerance(dtype))
    check_backward(ours, theirs, out, expected, rng, dtype, "max_pool2d/unpool")


@FEW
@given(window_cases(dilation=False), st.booleans(), st.sampled_from([None, 1, 2, 5]), DTYPES,
       st.integers(0, 2**32 - 1))
def test_avg_pool_matches_torch(case, count_include_pad, divisor_override, dtype, seed):
    shape, kernel, stride, padding, _, ceil_mode = case
    rng = np.random.default_rng(seed)
    ours, theirs = both(rng.standard_normal(shape).astype(dtype))
    args = (kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    expected = torch_or_reject(lambda: TF.avg_pool2d(theirs, *args),
                               lambda: F.avg_pool2d(ours, *args))
    out = F.avg_pool2d(ours, *args)
    assert_close(out, expected.detach().numpy(), what="avg_pool2d", **tolerance(dtype))
    check_backward(ours, theirs, out, expected, rng, dtype, "avg_pool2d")


@FEW
@given(st.integers(1, 12), st.integers(1, 12), st.sampled_from([1, 2, 3, 5, 7, None]),
       st.integers(1, 6), DTYPES, st.integers(0, 2**32 - 1))
def test_adaptive_pools_match_torch(height, width, out_h, out_w, dtype, seed):
    rng = np.random.default_rng(seed)
    x = distinct(rng, (2, 3, height, width), dtype)
    for name in ("adaptive_avg_pool2d", "adaptive_max_pool2d"):
        ours, theirs = both(x)
        expected = getattr(TF, name)(theirs, (out_h, out_w))
        out = getattr(F, name)(ours, (out_h, out_w))
        assert_close(out, expected.detach().numpy(), what=name, **tolerance(dtype))
        check_backward(ours, theirs, out, expected, rng, dtype, name)
    _, indices = F.adaptive_max_pool2d(mc.tensor(x), (out_h, out_w), return_indices=True)
    _, expected_indices = TF.adaptive_max_pool2d(torch.tensor(x), (out_h, out_w), True)
    np.testing.assert_array_equal(indices.numpy(), expected_indices.numpy())


# ----------------------------------------------------------------------------- batch norm

@FEW
@given(st.sampled_from([(6, 4), (3, 4, 5), (2, 4, 3, 5), (1, 4, 1, 2)]), st.booleans(),
       st.floats(0.0, 1.0), DTYPES, st.integers(0, 2**32 - 1))
def test_batch_norm_matches_torch(shape, training, momentum, dtype, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    channels = shape[1]
    weight, bias = rng.standard_normal(channels).astype(dtype), rng.standard_normal(channels).astype(dtype)
    mean, var = rng.standard_normal(channels).astype(dtype), (rng.random(channels) + 0.5).astype(dtype)
    ours, theirs = both(x)
    w, tw = both(weight)
    b, tb = both(bias)
    running, torch_running = (mc.tensor(mean), mc.tensor(var)), (torch.tensor(mean), torch.tensor(var))
    expected = TF.batch_norm(theirs, *torch_running, tw, tb, training, momentum, 1e-3)
    out = F.batch_norm(ours, *running, w, b, training, momentum, 1e-3)
    loose = dict(rtol=1e-9, atol=1e-10) if dtype == np.float64 else dict(rtol=1e-3, atol=1e-4)
    assert_close(out, expected.detach().numpy(), what="batch_norm", **loose)
    for mine, reference, name in zip(running, torch_running, ("running_mean", "running_var")):
        assert_close(mine, reference.numpy(), what=name, **loose)
    grad = rng.standard_normal(shape).astype(dtype)
    out.backward(mc.tensor(grad))
    expected.backward(torch.tensor(grad))
    for mine, reference, name in ((ours, theirs, "x"), (w, tw, "weight"), (b, tb, "bias")):
        assert_close(mine.grad, reference.grad.numpy(), what=f"grad {name}", **loose)


@pytest.mark.parametrize("layer, shape", [("BatchNorm1d", (8, 3)), ("BatchNorm1d", (4, 3, 5)),
                                          ("BatchNorm2d", (4, 3, 5, 5))])
@pytest.mark.parametrize("kwargs", [{}, {"momentum": None}, {"affine": False},
                                    {"track_running_stats": False}, {"momentum": 0.3, "eps": 0.01}])
def test_batchnorm_modules_follow_torch_through_train_and_eval(layer, shape, kwargs):
    rng = np.random.default_rng(0)
    ours, theirs = getattr(nn, layer)(3, **kwargs).double(), getattr(torch.nn, layer)(3, **kwargs).double()
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    if ours.weight is not None:                       # start both from the same random affine
        with torch.no_grad():
            theirs.weight.uniform_(0.5, 1.5)
            theirs.bias.uniform_(-1, 1)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    for step in range(4):
        if step == 3:
            ours.eval()
            theirs.eval()
        x = rng.standard_normal(shape) * 2 + step
        assert_close(ours(mc.tensor(x)), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-9, atol=1e-10)
    for key, value in theirs.state_dict().items():
        assert_close(ours.state_dict()[key], value.numpy(), what=key, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- interpolate

@st.composite
def resize_cases(draw):
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)),
             draw(st.integers(1, 40)), draw(st.integers(1, 40)))
    mode = draw(st.sampled_from(["nearest", "bilinear"]))
    kwargs = {"mode": mode}
    if mode == "bilinear":
        kwargs["align_corners"] = draw(st.booleans())
    if draw(st.booleans()):
        kwargs["size"] = (draw(st.integers(1, 70)), draw(st.integers(1, 70)))
    else:
        factors = st.sampled_from([0.3, 0.5, 0.75, 1.0, 1.3, 1.5, 2.0, 2.5, 3.0, 4.0])
        kwargs["scale_factor"] = (draw(factors), draw(factors))
        assume(min(int(shape[2] * kwargs["scale_factor"][0]),
                   int(shape[3] * kwargs["scale_factor"][1])) >= 1)
    return shape, kwargs


@settings(max_examples=60, deadline=None)
@given(resize_cases(), DTYPES, st.integers(0, 2**32 - 1))
def test_interpolate_matches_torch(case, dtype, seed):
    shape, kwargs = case
    rng = np.random.default_rng(seed)
    ours, theirs = both(rng.standard_normal(shape).astype(dtype))
    expected = TF.interpolate(theirs, **kwargs)
    out = F.interpolate(ours, **kwargs)
    assert_close(out, expected.detach().numpy(), what=f"interpolate {kwargs}", **tolerance(dtype))
    check_backward(ours, theirs, out, expected, rng, dtype, f"interpolate {kwargs}")


def test_nearest_picks_the_same_rows_as_torch_for_every_size_up_to_64():
    # PyTorch computes floor(dst * in/out) in float32; exact arithmetic differs for a few
    # pairs (e.g. 14 -> 46), so this sweeps all of them.
    for in_size in range(1, 65):
        x = np.arange(in_size, dtype=np.float64).reshape(1, 1, in_size, 1)
        for out_size in range(1, 65):
            ours = F.interpolate(mc.tensor(x), size=(out_size, 1)).numpy()
            theirs = TF.interpolate(torch.tensor(x), size=(out_size, 1)).numpy()
            np.testing.assert_array_equal(ours, theirs, err_msg=f"{in_size} -> {out_size}")


# ----------------------------------------------------------------------------- modules

@pytest.mark.parametrize("name, args, kwargs", [
    ("MaxPool2d", (3,), {"stride": 2, "padding": 1, "ceil_mode": True}),
    ("MaxPool2d", ((2, 3),), {"dilation": 2}),
    ("MaxUnpool2d", (3,), {"stride": 2, "padding": 1}),
    ("AvgPool2d", (3,), {"stride": 1, "padding": 1, "count_include_pad": False}),
    ("AdaptiveAvgPool2d", ((None, 3),), {}),
    ("AdaptiveMaxPool2d", (2,), {"return_indices": True}),
    ("Dropout", (0.2,), {}),
    ("Dropout2d", (), {}),
    ("Upsample", (), {"scale_factor": 2, "mode": "bilinear", "align_corners": False}),
    ("Upsample", (), {"size": (3, 5)}),
    ("UpsamplingNearest2d", (), {"scale_factor": 3}),
    ("UpsamplingBilinear2d", (), {"size": 4}),
    ("BatchNorm2d", (16,), {"momentum": None, "bias": False}),
])
def test_module_reprs_match_torch(name, args, kwargs):
    assert repr(getattr(nn, name)(*args, **kwargs)) == repr(getattr(torch.nn, name)(*args, **kwargs))


def test_dropout_keeps_torch_semantics():
    x = np.random.default_rng(1).standard_normal((4, 5, 3, 3)) + 10
    for op in ("dropout", "dropout2d"):
        ours = getattr(F, op)(mc.tensor(x), 0.25).numpy()
        theirs = getattr(TF, op)(torch.tensor(x), 0.25).numpy()
        # the masks differ (different generators) but survivors are scaled alike
        np.testing.assert_allclose(ours[ours != 0], x[ours != 0] / 0.75, rtol=1e-12)
        np.testing.assert_allclose(theirs[theirs != 0], x[theirs != 0] / 0.75, rtol=1e-12)
        assert np.array_equal(getattr(F, op)(mc.tensor(x), 0.25, training=False).numpy(),
                              getattr(TF, op)(torch.tensor(x), 0.25, training=False).numpy())
