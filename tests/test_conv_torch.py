"""conv2d / conv_transpose2d and the conv modules against PyTorch (skipped without torch).

Forward and all three gradients on hypothesis-drawn configurations (groups, "same",
dilation, output_padding), float64 tight and float32 loose; module repr strings.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn
from conftest import assert_close

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.torch,
              pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")]  # torch's own note


@st.composite
def configs(draw, transposed):
    """Arguments for one (transposed) convolution, with separate h/w values for every pair."""
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in, c_out = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    if transposed:
        padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
        output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
        size = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
        sizes = [(n - 1) * s - 2 * p + d * (k - 1) + o + 1
                 for n, s, p, d, k, o in zip(size, stride, padding, dilation, kernel, output_padding)]
        if min(sizes) < 1:
            padding = (0, 0)
        extra = dict(output_padding=output_padding)
    else:
        same = stride == (1, 1) and draw(st.booleans())
        padding = "same" if same else (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
        pads = (0, 0) if same else padding
        size = tuple(draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 12))
                     for k, d, p in zip(kernel, dilation, pads))
        extra = {}
    n = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    w_shape = (c_in, c_out // groups) if transposed else (c_out, c_in // groups)
    arrays = dict(x=rng.standard_normal((n, c_in) + size), w=rng.standard_normal(w_shape + kernel),
                  b=rng.standard_normal(c_out) if draw(st.booleans()) else None)
    return arrays, dict(stride=stride, padding=padding, dilation=dilation, groups=groups, **extra)


def _compare(name, arrays, kwargs, dtype, tol):
    """Run minicnn's and torch's op on the same arrays; compare output and every gradient."""
    ours = {k: None if a is None else mc.tensor(a.astype(dtype), requires_grad=True)
            for k, a in arrays.items()}
    theirs = {k: None if a is None else torch.tensor(a.astype(dtype), requires_grad=True)
              for k, a in arrays.items()}
    out = getattr(F, name)(ours["x"], ours["w"], ours["b"], **kwargs)
    expected = getattr(torch.nn.functional, name)(theirs["x"], theirs["w"], theirs["b"], **kwargs)
    assert_close(out, expected.detach().numpy(), what="forward", **tol)
    grad = np.random.default_rng(7).standard_normal(out.shape).astype(dtype)
    out.backward(grad)
    expected.backward(torch.tensor(grad))
    for key in ours:
        if ours[key] is not None:
            assert_close(ours[key].grad, theirs[key].grad.numpy(), what=f"grad {key}", **tol)


@settings(max_examples=60, deadline=None)
@given(configs(transposed=False))
def test_conv2d_matches_torch(drawn):
    arrays, kwargs = drawn
    _compare("conv2d", arrays, kwargs, np.float64, dict(rtol=1e-9, atol=1e-9))


@settings(max_examples=60, deadline=None)
@given(configs(transposed=True))
def test_conv_transpose2d_matches_torch(drawn):
    arrays, kwargs = drawn
    _compare("conv_transpose2d", arrays, kwargs, np.float64, dict(rtol=1e-9, atol=1e-9))


@settings(max_examples=10, deadline=None)
@given(configs(transposed=False), configs(transposed=True))
def test_float32_matches_torch(conv, transposed):
    tol = dict(rtol=1e-4, atol=1e-4)
    _compare("conv2d", *conv, np.float32, tol)
    _compare("conv_transpose2d", *transposed, np.float32, tol)


def test_benchmark_sized_float32_layers_match_torch():
    """Large reductions (K = 576) in float32: the GEMMs sum in a different order than torch.
    Run on two minicnn threads, so the threaded batch chunks are compared too."""
    import minicnn.functional.conv as conv_module
    from kernels import cpu
    cpu.set_num_threads(2)
    saved, conv_module.POOL_FROM_CHUNKS = conv_module.POOL_FROM_CHUNKS, 2
    try:
        _benchmark_sized_layers()
    finally:
        cpu.set_num_threads(1)
        conv_module.POOL_FROM_CHUNKS = saved


def _benchmark_sized_layers():
    rng = np.random.default_rng(8)
    arrays = dict(x=rng.standard_normal((4, 64, 16, 16)), w=0.05 * rng.standard_normal((64, 64, 3, 3)),
                  b=rng.standard_normal(64))
    _compare("conv2d", arrays, dict(padding=1), np.float32, dict(rtol=1e-3, atol=1e-3))
    arrays["w"] = 0.05 * rng.standard_normal((64, 32, 4, 4))
    arrays["b"] = rng.standard_normal(32)
    _compare("conv_transpose2d", arrays, dict(stride=2, padding=1), np.float32,
             dict(rtol=1e-3, atol=1e-3))


@pytest.mark.parametrize("args, kwargs", [
    ((3, 8, 3), {}),
    ((3, 8, 3), dict(padding="same")),
    ((3, 8, 3), dict(padding="valid")),
    ((4, 8, (3, 5)), dict(stride=2, padding=1, dilation=2, groups=2, bias=False)),
    ((4, 8, 3), dict(padding=(1, 2), padding_mode="reflect")),
])
def test_conv2d_module_repr_and_forward_match_torch(args, kwargs):
    ours, theirs = nn.Conv2d(*args, **kwargs), torch.nn.Conv2d(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert ours.weight.shape == tuple(theirs.weight.shape)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.data))
        if ours.bias is not None:
            theirs.bias.copy_(torch.from_numpy(ours.bias.data))
    x = np.random.default_rng(9).standard_normal((2, args[0], 9, 10)).astype(np.float32)
    assert_close(ours(mc.tensor(x)), theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("args, kwargs", [
    ((4, 8, 3), {}),
    ((4, 8, 4), dict(stride=2, padding=1)),
    ((4, 6, (3, 2)), dict(stride=(2, 3), padding=1, output_padding=(1, 2), groups=2, bias=False)),
    ((4, 6, 3), dict(dilation=3, output_padding=2)),
])
def test_conv_transpose2d_module_repr_and_forward_match_torch(args, kwargs):
    ours, theirs = nn.ConvTranspose2d(*args, **kwargs), torch.nn.ConvTranspose2d(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert ours.weight.shape == tuple(theirs.weight.shape)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.data))
        if ours.bias is not None:
            theirs.bias.copy_(torch.from_numpy(ours.bias.data))
    x = np.random.default_rng(10).standard_normal((2, 4, 5, 6)).astype(np.float32)
    assert_close(ours(mc.tensor(x)), theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_initialisation_statistics_match_torch():
    """Same distribution (not the same numbers): bounds and standard deviation of U(+-b)."""
    ours, theirs = nn.Conv2d(32, 64, 3), torch.nn.Conv2d(32, 64, 3)
    for a, b in ((ours.weight.data, theirs.weight.detach().numpy()),
                 (ours.bias.data, theirs.bias.detach().numpy())):
        bound = 1 / np.sqrt(32 * 9)
        assert np.abs(a).max() <= bound and np.abs(b).max() <= bound
    assert abs(ours.weight.data.std() - theirs.weight.detach().numpy().std()) < 0.05 * bound
