"""conv2d / conv_transpose2d and nn.Conv2d / nn.ConvTranspose2d.

The references are independent of minicnn's code: a direct loop over output pixels (conv2d)
and over input pixels (conv_transpose2d, a scatter), written here from the definitions;
float64 finite differences (mc.gradcheck); and the adjoint identity
<conv2d(x, w), y> = <x, conv_transpose2d(y, w)>.
"""
import importlib
import math
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn
from conftest import assert_close, leaf

conv_module = importlib.import_module("minicnn.functional.conv")
LAYOUTS = ["one_image_chunks", "whole_batch"]


@contextmanager
def gemm_layout(name):
    """Force how functional/conv.py splits the batch (see its CHUNK_BYTES): one image per
    chunk (the chunks' gradients are summed), or the whole batch at once (as on a GPU)."""
    saved = conv_module.CHUNK_BYTES
    conv_module.CHUNK_BYTES = 1 if name == "one_image_chunks" else 10 ** 12
    try:
        yield
    finally:
        conv_module.CHUNK_BYTES = saved


# ----- independent references ----------------------------------------------------------------
def same_padding(kernel, dilation):
    """PyTorch's "same": total d*(k-1) zeros per axis, the odd one at the end."""
    total = dilation * (kernel - 1)
    return total // 2, total - total // 2


def direct_conv2d(x, w, b, stride, padding, dilation, groups):
    """out[n, o, i, j] = b[o] + sum_{c,u,v} w[o, c, u, v] * xpad[n, gc + c, i*s + u*d, j*s + v*d]."""
    n, c_in, h, wd = x.shape
    c_out, c_group, kh, kw = w.shape
    if padding == "same":
        (top, bottom), (left, right) = same_padding(kh, dilation), same_padding(kw, dilation)
    else:
        top = bottom = left = right = padding
    xpad = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    out_h = (h + top + bottom - dilation * (kh - 1) - 1) // stride + 1
    out_w = (wd + left + right - dilation * (kw - 1) - 1) // stride + 1
    out = np.zeros((n, c_out, out_h, out_w))
    o_group = c_out // groups
    for o in range(c_out):
        first = (o // o_group) * c_group  # the first input channel of o's group
        for i in range(out_h):
            for j in range(out_w):
                rows = slice(i * stride, i * stride + dilation * (kh - 1) + 1, dilation)
                cols = slice(j * stride, j * stride + dilation * (kw - 1) + 1, dilation)
                window = xpad[:, first:first + c_group, rows, cols]    # (N, C/G, kh, kw)
                out[:, o, i, j] = (window * w[o]).sum(axis=(1, 2, 3))
        if b is not None:
            out[:, o] += b[o]
    return out


def direct_conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation):
    """Every x[n, c, i, j] adds x * w[c, o, u, v] at (i*s + u*d, j*s + v*d) of a canvas; the
    output is the canvas cropped by ``padding`` and extended by ``output_padding``."""
    n, c_in, h, wd = x.shape
    _, o_group, kh, kw = w.shape
    c_out = o_group * groups
    out_h = (h - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1
    out_w = (wd - 1) * stride - 2 * padding + dilation * (kw - 1) + output_padding + 1
    canvas = np.zeros((n, c_out, out_h + 2 * padding + stride * dilation * max(kh, kw),
                       out_w + 2 * padding + stride * dilation * max(kh, kw)))
    c_group = c_in // groups
    for c in range(c_in):
        first = (c // c_group) * o_group  # the first output channel of c's group
        for i in range(h):
            for j in range(wd):
                for u in range(kh):
                    for v in range(kw):
                        canvas[:, first:first + o_group, i * stride + u * dilation,
                               j * stride + v * dilation] += x[:, c, i, j, None] * w[c, :, u, v]
    out = canvas[:, :, padding:padding + out_h, padding:padding + out_w]
    return out if b is None else out + b[None, :, None, None]


# ----- hypothesis: small convolution configurations --------------------------------------------
@st.composite
def conv_configs(draw, transposed=False, max_side=6):
    """A dict of arrays and arguments for one (transposed) convolution, all small."""
    groups = draw(st.integers(1, 2))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride, dilation = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    if transposed:
        padding = draw(st.integers(0, 1))
        output_padding = draw(st.integers(0, max(stride, dilation) - 1))
        h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        for k in (kh, kw):  # keep the output non-empty
            if (min(h, w) - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1 < 1:
                padding = 0
    else:
        padding = draw(st.sampled_from([0, 1, 2] + (["same"] if stride == 1 else [])))
        pad = 1 if padding == "same" else padding
        h = draw(st.integers(max(1, dilation * (kh - 1) + 1 - 2 * pad), max_side))
        w = draw(st.integers(max(1, dilation * (kw - 1) + 1 - 2 * pad), max_side))
        output_padding = None
    n = draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    w_shape = (c_in, c_out // groups, kh, kw) if transposed else (c_out, c_in // groups, kh, kw)
    return dict(x=rng.standard_normal((n, c_in, h, w)), weight=rng.standard_normal(w_shape),
                bias=rng.standard_normal(c_out) if draw(st.booleans()) else None,
                stride=stride, padding=padding, dilation=dilation, groups=groups,
                output_padding=output_padding)


def run_conv2d(cfg, x, weight, bias):
    return F.conv2d(x, weight, bias, stride=cfg["stride"], padding=cfg["padding"],
                    dilation=cfg["dilation"], groups=cfg["groups"])


def run_conv_t(cfg, x, weight, bias):
    return F.conv_transpose2d(x, weight, bias, stride=cfg["stride"], padding=cfg["padding"],
                              output_padding=cfg["output_padding"], groups=cfg["groups"],
                              dilation=cfg["dilation"])


# ----- forward against the direct loops --------------------------------------------------------
@pytest.mark.parametrize("layout", LAYOUTS)
@settings(max_examples=25, deadline=None)
@given(conv_configs())
def test_conv2d_forward_matches_direct_loop(layout, cfg):
    with gemm_layout(layout):
        out = run_conv2d(cfg, mc.tensor(cfg["x"]), mc.tensor(cfg["weight"]),
                         None if cfg["bias"] is None else mc.tensor(cfg["bias"]))
    expected = direct_conv2d(cfg["x"], cfg["weight"], cfg["bias"], cfg["stride"], cfg["padding"],
                             cfg["dilation"], cfg["groups"])
    assert_close(out, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("layout", LAYOUTS)
@settings(max_examples=25, deadline=None)
@given(conv_configs(transposed=True))
def test_conv_transpose2d_forward_matches_direct_scatter(layout, cfg):
    with gemm_layout(layout):
        out = run_conv_t(cfg, mc.tensor(cfg["x"]), mc.tensor(cfg["weight"]),
                         None if cfg["bias"] is None else mc.tensor(cfg["bias"]))
    expected = direct_conv_transpose2d(cfg["x"], cfg["weight"], cfg["bias"], cfg["stride"],
                                       cfg["padding"], cfg["output_padding"], cfg["groups"],
                                       cfg["dilation"])
    assert_close(out, expected, rtol=1e-10, atol=1e-10)


# ----- gradients: float64 finite differences ---------------------------------------------------
def _leaves(cfg):
    bias = None if cfg["bias"] is None else leaf(cfg["bias"])
    return [leaf(cfg["x"]), leaf(cfg["weight"]), bias]


@pytest.mark.parametrize("layout", LAYOUTS)
@settings(max_examples=20, deadline=None)
@given(conv_configs())
def test_conv2d_gradcheck(layout, cfg):
    inputs = _leaves(cfg)
    with gemm_layout(layout):
        assert mc.gradcheck(lambda x, w, b: run_conv2d(cfg, x, w, b), inputs, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("layout", LAYOUTS)
@settings(max_examples=20, deadline=None)
@given(conv_configs(transposed=True))
def test_conv_transpose2d_gradcheck(layout, cfg):
    inputs = _leaves(cfg)
    with gemm_layout(layout):
        assert mc.gradcheck(lambda x, w, b: run_conv_t(cfg, x, w, b), inputs, atol=1e-6, rtol=1e-5)


@settings(max_examples=20, deadline=None)
@given(conv_configs())
def test_transposed_conv_is_the_adjoint_of_conv(cfg):
    """<conv2d(x, w), y> == <x, conv_transpose2d(y, w)>, output_padding recovering x's size."""
    if cfg["padding"] == "same":
        return  # "same" may be asymmetric; conv_transpose2d takes symmetric padding only
    x, weight = cfg["x"], cfg["weight"]
    s, p, d = cfg["stride"], cfg["padding"], cfg["dilation"]
    out = run_conv2d(cfg, mc.tensor(x), mc.tensor(weight), None).data
    y = np.random.default_rng(0).standard_normal(out.shape)
    extra = tuple((size + 2 * p - d * (k - 1) - 1) % s  # rows conv2d's last window left out
                  for size, k in zip(x.shape[2:], weight.shape[2:]))
    back = F.conv_transpose2d(mc.tensor(y), mc.tensor(weight), None, s, p, extra, cfg["groups"], d).data
    assert back.shape == x.shape
    assert math.isclose(np.vdot(out, y), np.vdot(x, back), rel_tol=1e-10, abs_tol=1e-10)


def test_only_requested_gradients_are_computed_and_float32_stays_float32():
    rng = np.random.default_rng(1)
    x = mc.tensor(rng.standard_normal((2, 3, 6, 6)).astype(np.float32))  # no grad (first layer)
    w = leaf(rng.standard_normal((4, 3, 3, 3)), dtype=np.float32)
    b = leaf(rng.standard_normal(4), dtype=np.float32)
    out = F.conv2d(x, w, b, padding=1)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad is None and w.grad.dtype == np.float32 and b.grad.dtype == np.float32
    # d sum(out) / d w[o, c, u, v] = sum of the input pixels tap (u, v) reads
    xpad = np.pad(x.data.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    expected = np.array([[[xpad[:, c, u:u + 6, v:v + 6].sum() for v in range(3)] for u in range(3)]
                         for c in range(3)])
    assert_close(w.grad.data, np.broadcast_to(expected, (4, 3, 3, 3)), rtol=1e-4, atol=1e-3)
    assert_close(b.grad.data, np.full(4, 2 * 36.0), rtol=1e-6)
    with mc.no_grad():
        assert not F.conv2d(x, w, b).requires_grad


def test_unbatched_input_gives_unbatched_output_and_gradients():
    rng = np.random.default_rng(2)
    x, w = leaf(rng.standard_normal((3, 5, 5))), leaf(rng.standard_normal((2, 3, 3, 3)))
    out = F.conv2d(x, w, padding=1)
    assert out.shape == (2, 5, 5)
    assert_close(out, direct_conv2d(x.data[None], w.data, None, 1, 1, 1, 1)[0], rtol=1e-10)
    assert mc.gradcheck(lambda a, b: F.conv2d(a, b, padding=1), [x, w])
    wt = leaf(rng.standard_normal((3, 2, 3, 3)))
    assert F.conv_transpose2d(x, wt, stride=2).shape == (2, 11, 11)
    assert mc.gradcheck(lambda a, b: F.conv_transpose2d(a, b, stride=2), [x, wt])


# ----- the two CPU backends agree --------------------------------------------------------------
@pytest.fixture
def restore_backend():
    before = mc.get_backend()
    yield
    mc.set_backend(before)


def _forward_backward(fn, arrays, grad_seed=3):
    tensors = [mc.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    grad = np.random.default_rng(grad_seed).standard_normal(out.shape).astype(out.dtype)
    out.backward(grad)
    return [out.data] + [t.grad.data for t in tensors]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reference_and_numba_backends_agree(restore_backend, dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 9, 8)).astype(dtype)
    cases = [
        (lambda a, b, c: F.conv2d(a, b, c, stride=2, padding=1, dilation=2, groups=2),
         [x, rng.standard_normal((6, 2, 3, 3)).astype(dtype), rng.standard_normal(6).astype(dtype)]),
        (lambda a, b, c: F.conv2d(a, b, c, padding="same"),
         [x, rng.standard_normal((3, 4, 4, 2)).astype(dtype), rng.standard_normal(3).astype(dtype)]),
        (lambda a, b, c: F.conv_transpose2d(a, b, c, stride=2, padding=1, output_padding=1, groups=2),
         [x, rng.standard_normal((4, 3, 4, 4)).astype(dtype), rng.standard_normal(6).astype(dtype)]),
    ]
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for fn, arrays in cases:
        mc.set_backend("reference")
        expected = _forward_backward(fn, arrays)
        mc.set_backend("numba")
        got = _forward_backward(fn, arrays)
        for name, a, e in zip(("out", "grad x", "grad w", "grad b"), got, expected):
            assert a.dtype == dtype
            assert_close(a, e, what=name, **tol)


# ----- errors ------------------------------------------------------------------------------------
def _t(*shape, dtype=np.float32):
    return mc.tensor(np.zeros(shape, dtype=dtype))


@pytest.mark.parametrize("call, error, words", [
    (lambda: F.conv2d(_t(8, 8), _t(2, 1, 3, 3)), ValueError, ["conv2d", "(N, C, H, W)", "(8, 8)"]),
    (lambda: F.conv2d(_t(1, 4, 8, 8), _t(2, 3, 3, 3)), ValueError,
     ["conv2d", "(1, 4, 8, 8)", "(2, 3, 3, 3)", "4 channels"]),
    (lambda: F.conv2d(_t(1, 3, 8, 8), _t(2, 1, 3, 3), groups=2), ValueError,
     ["conv2d", "divisible by groups", "3"]),
    (lambda: F.conv2d(_t(1, 3, 4, 4), _t(2, 3, 5, 5)), ValueError,
     ["conv2d", "floor((size + 2*padding - dilation*(kernel-1) - 1) / stride) + 1",
      "floor((4 + 2*0 - 1*(5-1) - 1) / 1) + 1 = 0"]),
    (lambda: F.conv2d(_t(1, 3, 8, 8, dtype=np.float64), _t(2, 3, 3, 3)), TypeError,
     ["conv2d", "float64", "float32"]),
    (lambda: F.conv2d(_t(1, 3, 8, 8), _t(2, 3, 3, 3), _t(3)), ValueError, ["conv2d", "bias", "(2,)"]),
    (lambda: F.conv2d(_t(1, 3, 8, 8, dtype=np.int64), _t(2, 3, 3, 3, dtype=np.int64)), TypeError,
     ["conv2d", "float32 or float64", "int64"]),
    (lambda: F.conv2d(_t(1, 3, 8, 8), _t(2, 3, 3, 3), stride=2, padding="same"), ValueError,
     ["conv2d", "same", "strided"]),
    (lambda: F.conv2d(_t(1, 3, 8, 8), _t(2, 3, 3, 3), padding="full"), ValueError, ["conv2d", "'full'"]),
    (lambda: F.conv_transpose2d(_t(1, 3, 8, 8), _t(2, 3, 3, 3)), ValueError,
     ["conv_transpose2d", "(1, 3, 8, 8)", "(2, 3, 3, 3)", "(C_in, C_out/groups, kH, kW)"]),
    (lambda: F.conv_transpose2d(_t(1, 3, 8, 8), _t(3, 2, 3, 3), stride=2, output_padding=2),
     ValueError, ["conv_transpose2d", "output_padding", "stride or dilation"]),
    (lambda: F.conv_transpose2d(_t(1, 3, 1, 1), _t(3, 2, 1, 1), padding=1), ValueError,
     ["conv_transpose2d", "output height", "< 1"]),
])
def test_bad_arguments_are_refused_with_a_clear_message(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value), f"{word!r} not in: {info.value}"


class _FakeGpuArray:
    """Looks like a cupy.ndarray to minicnn's device check (no GPU needed)."""
    __module__ = "cupy._fake"

    def __init__(self, shape):
        self.shape, self.ndim, self.dtype = shape, len(shape), np.dtype(np.float32)
        self.device = type("Device", (), {"id": 0})()


def test_input_and_weight_on_different_devices_are_refused():
    with pytest.raises(RuntimeError, match=r"conv2d: input is on cuda:0 but weight is on cpu"):
        F.conv2d(_FakeGpuArray((1, 3, 8, 8)), np.zeros((2, 3, 3, 3), np.float32))


# ----- modules -----------------------------------------------------------------------------------
def test_conv2d_module_parameters_init_and_repr():
    mc.manual_seed(0)
    conv = nn.Conv2d(16, 32, 3, padding=1)
    assert conv.weight.shape == (32, 16, 3, 3) and conv.bias.shape == (32,)
    assert list(conv.state_dict()) == ["weight", "bias"]
    bound = 1 / math.sqrt(16 * 9)  # kaiming_uniform_(a=sqrt(5)) and the bias: U(+-1/sqrt(fan_in))
    for p in (conv.weight.data, conv.bias.data):
        assert p.dtype == np.float32 and np.abs(p).max() <= bound
    assert np.abs(conv.weight.data).max() > 0.9 * bound  # spread over the whole interval
    assert abs(conv.weight.data.std() - bound / math.sqrt(3)) < 0.05 * bound
    assert repr(conv) == "Conv2d(16, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"
    grouped = nn.Conv2d(4, 8, (3, 5), stride=2, dilation=2, groups=2, bias=False, dtype="float64")
    assert grouped.weight.shape == (8, 2, 3, 5) and grouped.bias is None
    assert list(grouped.state_dict()) == ["weight"]
    assert repr(grouped) == ("Conv2d(4, 8, kernel_size=(3, 5), stride=(2, 2), dilation=(2, 2), "
                             "groups=2, bias=False)")
    assert repr(nn.Conv2d(3, 8, 3, padding="same")) == \
        "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=same)"
    x = mc.tensor(np.random.default_rng(0).standard_normal((2, 4, 9, 9)))
    assert_close(grouped(x), direct_conv2d(x.data, grouped.weight.data, None, 2, 0, 2, 2), rtol=1e-10)


@pytest.mark.parametrize("mode, numpy_mode", [("reflect", "reflect"), ("replicate", "edge"),
                                              ("circular", "wrap")])
def test_conv2d_padding_modes_copy_edge_pixels(mode, numpy_mode):
    conv = nn.Conv2d(2, 3, (3, 4), padding=(2, 1), padding_mode=mode, dtype="float64")
    x = leaf(np.random.default_rng(5).standard_normal((2, 2, 6, 7)))
    padded = np.pad(x.data, ((0, 0), (0, 0), (2, 2), (1, 1)), mode=numpy_mode)
    assert_close(conv(x), direct_conv2d(padded, conv.weight.data, conv.bias.data, 1, 0, 1, 1), rtol=1e-10)
    assert mc.gradcheck(lambda a: conv(a), [x])
    assert repr(conv).endswith(f"padding_mode={mode})")


def test_conv_transpose2d_module_shapes_output_size_and_repr():
    up = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2, dtype="float64")
    assert up.weight.shape == (4, 3, 3, 3) and up.bias.shape == (6,)
    assert list(up.state_dict()) == ["weight", "bias"]
    bound = 1 / math.sqrt(3 * 9)  # fan_in = weight.shape[1] * kH * kW, as PyTorch computes it
    assert np.abs(up.weight.data).max() <= bound and np.abs(up.bias.data).max() <= bound
    assert repr(up) == "ConvTranspose2d(4, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), groups=2)"
    x = mc.tensor(np.random.default_rng(6).standard_normal((1, 4, 5, 5)))
    assert up(x).shape == (1, 6, 9, 9)
    out = up(x, output_size=(10, 10))  # picks output_padding = 1
    assert out.shape == (1, 6, 10, 10)
    expected = direct_conv_transpose2d(x.data, up.weight.data, up.bias.data, 2, 1, 1, 2, 1)
    assert_close(out, expected, rtol=1e-10)
    assert up(x, output_size=[1, 6, 10, 10]).shape == (1, 6, 10, 10)
    with pytest.raises(ValueError, match=r"valid sizes range from \(9, 9\) to \(10, 10\)"):
        up(x, output_size=(11, 10))


def test_module_argument_errors():
    with pytest.raises(ValueError, match="in_channels=3 must be divisible by groups=2"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="zeros"):
        nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect")
